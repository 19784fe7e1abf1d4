"""The API's experiment tests: search's model with a second version to split between."""

from __future__ import annotations

MODEL = "search/query_understanding"  # owned by search_experience
SEARCH_16 = """\
name: query_understanding
version: "1.6"
model_type: classification
framework: onnx
domain: search
owner_team: search_experience
"""
