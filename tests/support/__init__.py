"""Helpers and fakes shared by tests (rather than one test module importing another); fakes
sit only behind seams modelyard owns."""
