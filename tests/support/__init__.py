"""Helpers and fakes shared by tests: fakes sit only behind seams modelyard owns."""
