"""Celery workers that run acceptance jobs (see issue 4)."""
