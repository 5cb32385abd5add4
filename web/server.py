"""`acceptance web`: the Flask app under gunicorn, configured in code."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from acceptance.settings import Settings


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any], settings: Settings) -> None:
        self.options = options
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from web.app import create_app

        return create_app(self.settings)


def serve(settings: Settings, *, host: str, port: int, workers: int) -> None:
    options = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": max(1, workers),
        "worker_class": "gthread",
        "threads": 8,
        "timeout": 60,
        "accesslog": "-",
        "limit_request_line": 8190,
        # each worker builds its own app (database pool, celery producer) after the fork
        "preload_app": False,
    }
    _Gunicorn(options, settings).run()
