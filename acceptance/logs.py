"""Structured logs: one event per line, as `key=value` text or as a JSON object, with the run id.

Code logs events with stdlib logging and `extra=`, e.g.
``log.warning("run_requeued", extra={"run": run_id})``. Inside a run (a Celery
task, or a ``run_context`` block) every line also carries ``run``, whichever
module logged it, so one run's lines can be found across worker hosts.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any, TextIO

#: the run the current thread of work belongs to
RUN_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("acceptance_run", default=None)

FORMATS = ("text", "json")
RUN_TASK = "acceptance.run"

# Attributes every LogRecord has; anything else came from `extra=`.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime", "taskName"}
)
_TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"


def extras(record: logging.LogRecord) -> dict[str, Any]:
    """The key/value pairs a record carries besides the standard ones."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class RunContextFilter(logging.Filter):
    """Adds the current run id to every record that does not name one itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        run = RUN_ID.get()
        if run is not None and not hasattr(record, "run"):
            record.run = run
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, event, then the record's extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in extras(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class KeyValueFormatter(logging.Formatter):
    """The plain format people read, with the extras appended as `key=value`."""

    def __init__(self) -> None:
        super().__init__(_TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        pairs = extras(record)
        if not pairs:
            return line
        head, sep, tail = line.partition("\n")  # keep a traceback below the pairs
        rendered = " ".join(f"{key}={_text_value(value)}" for key, value in pairs.items())
        return f"{head} {rendered}{sep}{tail}"


def _text_value(value: object) -> str:
    text = str(value)
    if not text or any(c.isspace() or c in '"=' for c in text):
        return json.dumps(text, ensure_ascii=False)
    return text


def formatter(fmt: str) -> logging.Formatter:
    """The formatter for `fmt` (`text` or `json`)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}: use text or json")
    return JsonFormatter() if fmt == "json" else KeyValueFormatter()


def configure_logging(
    fmt: str = "text",
    level: str | int = "WARNING",
    stream: TextIO | None = None,
    *,
    force: bool = False,
) -> None:
    """Send every log record to `stream` (stderr) in `fmt`, with the run id when there is one.

    Like `logging.basicConfig`, it leaves a root logger that someone else set up
    (a test runner, an embedding application) alone unless `force` is given.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(fmt))
    handler.addFilter(RunContextFilter())
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "_acceptance", False)]
    if not force and len(ours) < len(root.handlers):
        return
    for old in ours:
        root.removeHandler(old)
    handler._acceptance = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)


@contextlib.contextmanager
def run_context(run_id: str) -> Iterator[None]:
    """Every line logged inside the block carries `run=<run_id>`."""
    token = RUN_ID.set(run_id)
    try:
        yield
    finally:
        RUN_ID.reset(token)


def bind_celery_logging(fmt: str = "text") -> None:
    """In a Celery worker: tag lines with the run id of the task running, and format Celery's own
    task logger like the rest (it has a handler of its own that does not propagate)."""
    from celery import signals

    tokens: dict[str, contextvars.Token[str | None]] = {}

    def _prerun(task_id: str | None = None, task: Any = None, args: Any = None, **_: Any) -> None:
        if getattr(task, "name", None) == RUN_TASK and args and task_id:
            tokens[task_id] = RUN_ID.set(str(args[0]))

    def _postrun(task_id: str | None = None, **_: Any) -> None:
        token = tokens.pop(task_id or "", None)
        if token is not None:
            RUN_ID.reset(token)

    def _task_logger(logger: logging.Logger | None = None, **_: Any) -> None:
        for handler in getattr(logger, "handlers", []):
            handler.setFormatter(formatter(fmt))
            handler.addFilter(RunContextFilter())

    signals.task_prerun.connect(_prerun, weak=False)
    signals.task_postrun.connect(_postrun, weak=False)
    signals.after_setup_task_logger.connect(_task_logger, weak=False)
