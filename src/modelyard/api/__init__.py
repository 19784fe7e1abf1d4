"""The REST API and dashboard (`modelyard server`); needs the `api` extra (FastAPI)."""

from modelyard.api.app import create_app

__all__ = ["create_app"]
