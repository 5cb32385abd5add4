"""The acceptance checks: each turns sandbox output into a verdict with evidence."""
