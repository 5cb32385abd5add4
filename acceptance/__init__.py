"""Acceptance engine: checks delivered code against a contract's acceptance spec."""

__version__ = "0.1.0"
