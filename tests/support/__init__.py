"""Helpers shared by test packages (rather than importing one test module from another)."""
