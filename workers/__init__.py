"""Celery workers: acceptance runs off the queue, and the reconciler that keeps none lost."""
