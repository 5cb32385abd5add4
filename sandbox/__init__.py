"""Isolated execution of untrusted code for acceptance runs."""
