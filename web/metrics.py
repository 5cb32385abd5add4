"""/metrics: Prometheus metrics for the whole deployment, read from the database and the broker.

Workers on many hosts record everything about a run in its database row, so
the web app can expose the service's metrics without each worker running an
exporter: queue depth from the broker, run counts, verdicts, reasons and
sandbox failures from the rows, and duration histograms (per stage, whole
run, time queued) accumulated from finished runs, each read once per process.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, current_app, request
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from acceptance.service.accounts import user_for_token
from acceptance.service.models import Role, Run, RunStatus, utcnow

log = logging.getLogger(__name__)

metrics = Blueprint("metrics", __name__)

#: seconds; sandbox stages range from under a second (listing) to the spec's timeout
DURATION_BUCKETS: tuple[float, ...] = (1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600)
#: reason codes that mean the sandbox, not the tests, stopped the run
SANDBOX_FAILURES = frozenset(
    {"PLATFORM_ERROR", "SANDBOX_GONE", "TIMEOUT", "MEMORY_LIMIT", "PROCESS_LIMIT",
     "OUTPUT_LIMIT", "DISK_LIMIT"}
)  # fmt: skip
#: a run whose row committed this long after its finished_at would be missed; far above reality
SETTLE_SECONDS = 120.0
_STATE_KEY = "acceptance_metrics"


@dataclass
class Histogram:
    """Cumulative bucket counts and the sum, as Prometheus wants them."""

    buckets: Sequence[float] = DURATION_BUCKETS
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def observe(self, value: float) -> None:
        if not self.counts:
            self.counts = [0] * len(self.buckets)
        for index, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[index] += 1
        self.total += value
        self.count += 1

    def exposition(self) -> list[tuple[str, float]]:
        counts = self.counts or [0] * len(self.buckets)
        found: list[tuple[str, float]] = [
            (_le(b), c) for b, c in zip(self.buckets, counts, strict=True)
        ]
        return [*found, ("+Inf", self.count)]


def _le(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else str(bound)


class FinishedRuns:
    """What finished runs add up to, read incrementally: each scrape reads only new rows."""

    def __init__(self, settle_seconds: float = SETTLE_SECONDS) -> None:
        self.settle = dt.timedelta(seconds=settle_seconds)
        self.lock = threading.Lock()
        self.stages: dict[str, Histogram] = {}
        self.duration = Histogram()
        self.queue_wait = Histogram()
        self.reasons: Counter[str] = Counter()
        self.watermark: dt.datetime | None = None
        #: runs already counted whose finished_at is within `settle` of the watermark
        self.recent: dict[str, dt.datetime] = {}

    def update(self, session: Any) -> None:
        query = select(
            Run.id, Run.finished_at, Run.started_at, Run.queued_at, Run.stages, Run.reason_codes
        ).where(Run.finished_at.is_not(None))
        if self.watermark is not None:
            query = query.where(Run.finished_at >= self.watermark - self.settle)
        rows = session.execute(query.execution_options(yield_per=500))
        for run_id, finished, started, queued, stages, reasons in rows:
            if run_id in self.recent:
                continue
            self.recent[run_id] = finished
            if self.watermark is None or finished > self.watermark:
                self.watermark = finished
            self._add(finished, started, queued, stages or [], reasons or [])
        if self.watermark is not None:
            floor = self.watermark - self.settle
            self.recent = {k: v for k, v in self.recent.items() if v >= floor}

    def _add(
        self,
        finished: dt.datetime,
        started: dt.datetime | None,
        queued: dt.datetime | None,
        stages: Iterable[Any],
        reasons: Iterable[Any],
    ) -> None:
        for stage in stages:
            if isinstance(stage, dict) and isinstance(stage.get("seconds"), int | float):
                name = str(stage.get("name", "unknown"))[:64]
                self.stages.setdefault(name, Histogram()).observe(float(stage["seconds"]))
        if started is not None:
            self.duration.observe(max(0.0, (finished - started).total_seconds()))
            if queued is not None:
                self.queue_wait.observe(max(0.0, (started - queued).total_seconds()))
        for reason in reasons:
            self.reasons[str(reason)[:64]] += 1


class ServiceCollector:
    """Collects at scrape time; a database or broker outage shows as `*_up 0`, not a 500."""

    def __init__(self, services: Any, finished: FinishedRuns) -> None:
        self.services = services
        self.finished = finished

    def collect(self) -> Iterator[Metric]:
        started = time.monotonic()
        yield from self._broker()
        yield from self._database()
        yield GaugeMetricFamily(
            "acceptance_metrics_scrape_seconds", "Time spent collecting these metrics",
            value=time.monotonic() - started,
        )  # fmt: skip

    def _broker(self) -> Iterator[Metric]:
        from workers.celery_app import RUNS_QUEUE, SERVICE_QUEUE, SIGNING_QUEUE

        depth = GaugeMetricFamily(
            "acceptance_queue_depth", "Messages waiting in a broker queue", labels=["queue"]
        )
        up = 1
        try:
            with self.services.celery.connection_for_read() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
                channel = connection.default_channel
                for queue in (RUNS_QUEUE, SERVICE_QUEUE, SIGNING_QUEUE):
                    depth.add_metric([queue], _queue_size(channel, queue))
        except Exception:  # noqa: BLE001 - any failure: the broker is down for us
            log.warning("metrics_broker_unreachable", exc_info=True)
            up = 0
        yield GaugeMetricFamily("acceptance_broker_up", "Whether the broker answered", value=up)
        if up:
            yield depth

    def _database(self) -> Iterator[Metric]:
        try:
            with self.services.db.session() as session:
                families = list(self._from_rows(session))
        except Exception:  # noqa: BLE001
            log.warning("metrics_database_unreachable", exc_info=True)
            yield GaugeMetricFamily(
                "acceptance_database_up", "Whether the database answered", value=0
            )
            return
        yield GaugeMetricFamily("acceptance_database_up", "Whether the database answered", value=1)
        yield from families

    def _from_rows(self, session: Any) -> Iterator[Metric]:
        by_status = GaugeMetricFamily("acceptance_runs", "Runs by status", labels=["status"])
        counts = dict(session.execute(select(Run.status, func.count()).group_by(Run.status)).all())
        for status in RunStatus:
            by_status.add_metric([status.value], counts.get(status.value, 0))
        yield by_status

        oldest = session.scalar(
            select(func.min(Run.queued_at)).where(Run.status == RunStatus.QUEUED.value)
        )
        yield GaugeMetricFamily(
            "acceptance_oldest_queued_run_seconds", "Age of the oldest run still queued (0: none)",
            value=max(0.0, (utcnow() - _aware(oldest)).total_seconds()) if oldest else 0.0,
        )  # fmt: skip

        verdicts = CounterMetricFamily(
            "acceptance_run_verdicts", "Finished runs by verdict", labels=["verdict"]
        )
        done = (RunStatus.FINISHED.value, RunStatus.ERROR.value)
        rows = session.execute(
            select(Run.verdict, func.count()).where(Run.status.in_(done)).group_by(Run.verdict)
        ).all()
        for verdict, count in rows:
            verdicts.add_metric([verdict or "none"], count)
        yield verdicts

        platform = session.scalar(select(func.coalesce(func.sum(Run.platform_failures), 0)))
        yield CounterMetricFamily(
            "acceptance_platform_failures",
            "Attempts that failed on the platform (Docker, database), retried or not",
            value=int(platform or 0),
        )

        with self.finished.lock:
            self.finished.update(session)
            yield from self._histograms()
            reasons = CounterMetricFamily(
                "acceptance_run_reasons", "Reason codes of finished runs", labels=["reason"]
            )
            sandbox = CounterMetricFamily(
                "acceptance_sandbox_failures",
                "Finished runs the sandbox stopped (limits hit, sandbox lost, platform error)",
                labels=["reason"],
            )
            for reason, count in sorted(self.finished.reasons.items()):
                reasons.add_metric([reason], count)
                if reason in SANDBOX_FAILURES:
                    sandbox.add_metric([reason], count)
            yield reasons
            yield sandbox

    def _histograms(self) -> Iterator[Metric]:
        stages = HistogramMetricFamily(
            "acceptance_run_stage_duration_seconds", "Duration of each stage of finished runs",
            labels=["stage"],
        )  # fmt: skip
        for name, histogram in sorted(self.finished.stages.items()):
            stages.add_metric([name], histogram.exposition(), histogram.total)
        yield stages
        for name, doc, histogram in (
            ("acceptance_run_duration_seconds", "From claim to finish", self.finished.duration),
            (
                "acceptance_run_queue_wait_seconds",
                "From queued to first claim",
                self.finished.queue_wait,
            ),
        ):
            family = HistogramMetricFamily(name, doc)
            family.add_metric([], histogram.exposition(), histogram.total)
            yield family


def _queue_size(channel: Any, queue: str) -> int:
    try:
        return int(channel.queue_declare(queue=queue, passive=True).message_count)
    except Exception as exc:
        if "NOT_FOUND" in str(exc):  # never declared yet: nothing waiting
            return 0
        raise


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def finished_runs() -> FinishedRuns:
    """This process's accumulator (one per app)."""
    state: FinishedRuns = current_app.extensions.setdefault(_STATE_KEY, FinishedRuns())
    return state


@metrics.get("/metrics")
def scrape() -> Response:
    from web.app import services

    found = services()
    if not found.settings.metrics_public:
        refused = _refusal(found)
        if refused is not None:
            return refused
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector(found, finished_runs()))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def _refusal(found: Any) -> Response | None:
    """None when the scrape may proceed: it brought ACCEPTANCE_METRICS_TOKEN or an admin's API token.

    Counts of runs, verdicts and reasons tell outsiders how busy the service is and how
    suppliers fare: not public unless ACCEPTANCE_METRICS_PUBLIC=1 says so.
    """
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    token = given.strip()
    if scheme.lower() != "bearer" or not token:
        return _plain(
            401,
            "metrics need Authorization: Bearer <ACCEPTANCE_METRICS_TOKEN or an admin's API token>",
        )
    expected = found.settings.metrics_token
    if expected is not None and hmac.compare_digest(token.encode(), expected.encode()):
        return None
    try:
        with found.db.session() as session:
            user = user_for_token(session, token)
            role = user.role if user is not None else None
    except SQLAlchemyError:
        log.warning("metrics_token_check_failed", exc_info=True)
        return _plain(503, "the database is unreachable: an API token cannot be checked now")
    if role is None:
        return _plain(401, "the token is neither ACCEPTANCE_METRICS_TOKEN nor a valid API token")
    if role != Role.ADMIN.value:
        return _plain(403, "only an admin's API token may read the metrics")
    return None


def _plain(status: int, message: str) -> Response:
    response = Response(message + "\n", status=status, mimetype="text/plain")
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response
