"""Mutation testing's kill test (a package, so its conftest does not shadow tests/conftest.py)."""
