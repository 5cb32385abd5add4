"""The Flask dashboard and API (see issues 4 and 5)."""
