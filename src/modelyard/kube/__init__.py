"""Kubernetes objects for a placed fleet: `manifests.py` renders (pure), `files.py` writes."""
