"""Helpers shared by more than one test module: example paths, catalog backends, a CLI
runner, model builders, Hypothesis strategies and concurrency scenarios.

Test modules import from here (`from tests.support.netflix import NETFLIX_MODELS`), never
from each other or from a conftest.py; conftest.py files hold the fixtures, built on these.
"""
