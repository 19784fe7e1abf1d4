"""Clients of other MLOps systems (the MLflow Model Registry): edges that speak their
protocols and return plain records; the use cases that map them live in ops/."""
