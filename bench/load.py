"""Webhook intake under a burst, and page render times with many runs in the database."""

from __future__ import annotations

import datetime as dt
import http.client
import http.cookiejar
import random
import re
import statistics
import threading
import time
import urllib.parse
import urllib.request
import uuid
from typing import Any

from bench.infra import Deployment, Sample, signed_push


def percentile(values: list[float], fraction: float) -> float:
    """The FRACTION quantile (nearest rank) of VALUES."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def intake_burst(
    deployment: Deployment, sample: Sample, total: int, clients: int, rate: float | None = None
) -> dict[str, Any]:
    """TOTAL distinct signed pushes over CLIENTS keep-alive connections.

    Without RATE, closed loop: each client sends its next delivery when the last is
    answered (the maximum rate). With RATE, open loop: delivery i is due at i/RATE
    seconds, and its latency counts from when it was due, so a server that falls
    behind is charged for the wait (no coordinated omission).
    """
    parsed = urllib.parse.urlsplit(deployment.base)
    bodies = []
    for _ in range(total):
        commit = uuid.uuid4().hex + uuid.uuid4().hex[:8]
        bodies.append(signed_push(sample.secret, sample.url, commit, uuid.uuid4().hex))
    path = f"/hooks/{sample.submission}"
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    queue = list(reversed(range(total)))  # popped from the end: in order
    begin = time.monotonic() + 0.5

    def client() -> None:
        connection = http.client.HTTPConnection(
            parsed.hostname or "127.0.0.1", parsed.port, timeout=30
        )
        while True:
            with lock:
                if not queue:
                    break
                index = queue.pop()
            body, headers = bodies[index]
            if rate is not None:
                due = begin + index / rate
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                started = due
            else:
                started = time.monotonic()
            try:
                connection.request("POST", path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                status = response.status
                if response.getheader("Connection", "").lower() == "close":
                    connection.close()
            except (OSError, http.client.HTTPException):
                connection.close()
                status = 0
            seconds = time.monotonic() - started
            with lock:
                latencies.append(seconds)
                statuses[status] = statuses.get(status, 0) + 1
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = begin if rate is not None else time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return {
        "mode": f"open loop at {rate:g}/s"
        if rate is not None
        else "closed loop (as fast as answered)",
        "deliveries": total,
        "clients": clients,
        "seconds": round(elapsed, 3),
        "per_second": round(total / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


def seed_runs(deployment: Deployment, sample: Sample, count: int, suppliers: int = 40) -> int:
    """Insert COUNT finished runs shaped like real ones, spread over SUPPLIERS submissions
    of SAMPLE's opportunity (so a page lists runs of many suppliers, as in production)."""
    from sqlalchemy import func, insert, select

    from acceptance.service.models import Run, Submission, new_id

    with deployment.db() as session:
        submission = session.get(Submission, sample.submission)
        assert submission is not None
        spec_version_id = submission.opportunity.specs[-1].id
        opportunity = submission.opportunity_id
        existing = session.scalar(select(func.count()).select_from(Run)) or 0
    submissions = [sample.submission]
    for index in range(suppliers - 1):
        status, made = deployment.api(
            "POST", f"/api/v1/opportunities/{opportunity}/submissions",
            {"repo_url": f"{deployment.git_url}/supplier{index}.git",
             "supplier": f"Supplier {index} Ltd", "branch": "main"},
        )  # fmt: skip
        if status == 201:
            submissions.append(made["id"])
    now = dt.datetime.now(dt.UTC)
    stages = [{"name": n, "seconds": round(random.random() * 3, 3), "status": "ok"}
              for n in ("checkout", "plan", "sandbox", "prepare", "sast", "install", "functional")]  # fmt: skip
    rows = []
    for index in range(count):
        verdict = random.choice(["accepted", "accepted", "rejected", "error"])
        queued = now - dt.timedelta(minutes=index * 3)
        rows.append({
            "id": new_id(),
            "submission_id": submissions[index % len(submissions)],
            "spec_version_id": spec_version_id,
            "trigger": "webhook",
            "delivery_id": uuid.uuid4().hex,
            "ref": "refs/heads/main",
            "commit": uuid.uuid4().hex + uuid.uuid4().hex[:8],
            "commit_message": f"Change number {index}",
            "status": "error" if verdict == "error" else "finished",
            "verdict": verdict,
            "reason_codes": [] if verdict == "accepted" else ["TESTS_FAILED"],
            "reasons": [] if verdict == "accepted" else ["2 tests failed: tests/test_x.py::test_y"],
            "stages": stages,
            "queued_at": queued,
            "enqueued_at": queued,
            "started_at": queued + dt.timedelta(seconds=1),
            "finished_at": queued + dt.timedelta(seconds=9),
            "attempts": 1,
            "platform_failures": 0,
            "artifacts": {"report.dsse.json": uuid.uuid4().hex * 2},
            "report_sha256": uuid.uuid4().hex * 2,
            "key_id": "bench",
            "summary": {"checks": [{"id": c, "status": "passed", "summary": "ok"}
                                   for c in ("functional", "sast", "dependencies", "licence")],
                        "not_checked": [], "environment": {"image": None}},
        })  # fmt: skip
    with deployment.db() as session:
        for start in range(0, len(rows), 1000):
            session.execute(insert(Run), rows[start : start + 1000])
    _analyze(deployment)
    return existing + count


def _analyze(deployment: Deployment) -> None:
    """Give the planner statistics for the rows just inserted, as autovacuum would within a
    minute or so in production: without them PostgreSQL picks a plan that visits every run
    (measured: the runs page's query 25 ms instead of 0.5 ms at 10,000 runs)."""
    from sqlalchemy import text

    with deployment.db() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("ANALYZE runs, submissions, opportunities"))


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )


def _timed_get(
    opener: urllib.request.OpenerDirector, url: str, headers: dict[str, str]
) -> tuple[int, float]:
    request = urllib.request.Request(url, headers=headers)
    started = time.monotonic()
    try:
        with opener.open(request, timeout=30) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        exc.read()
        status = exc.code
    return status, time.monotonic() - started


def sign_in(
    deployment: Deployment, email: str, password: str
) -> urllib.request.OpenerDirector | None:
    """A cookie-keeping opener signed in to the dashboard; None when there is no dashboard."""
    opener = _opener()
    try:
        with opener.open(f"{deployment.base}/sign-in", timeout=10) as response:
            page = response.read().decode(errors="replace")
    except urllib.error.HTTPError:
        return None
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page
    )
    form = {"email": email, "password": password}
    if token:
        form["csrf_token"] = token.group(1)
    data = urllib.parse.urlencode(form).encode()
    try:
        with opener.open(f"{deployment.base}/sign-in", data=data, timeout=10) as response:
            response.read()
    except urllib.error.HTTPError:
        return None
    return opener


def page_times(deployment: Deployment, requests: int, email: str, password: str) -> dict[str, Any]:
    """p50/p95 of the runs pages (API and dashboard) over REQUESTS sequential requests each."""
    api = _opener()
    bearer = {"Authorization": f"Bearer {deployment.token}"}
    pages: dict[str, tuple[urllib.request.OpenerDirector, str, dict[str, str]]] = {
        "api /api/v1/runs": (api, "/api/v1/runs", bearer),
        "api /api/v1/runs?verdict=rejected": (api, "/api/v1/runs?verdict=rejected", bearer),
    }
    dashboard = sign_in(deployment, email, password)
    if dashboard is not None:
        pages["dashboard /runs"] = (dashboard, "/runs", {})
        pages["dashboard /runs?verdict=rejected"] = (dashboard, "/runs?verdict=rejected", {})
    results: dict[str, Any] = {}
    for name, (opener, path, headers) in pages.items():
        times, statuses = [], set()
        for _ in range(3):  # warm the process's caches and the database's buffers
            _timed_get(opener, deployment.base + path, headers)
        for _ in range(requests):
            status, seconds = _timed_get(opener, deployment.base + path, headers)
            statuses.add(status)
            times.append(seconds)
        results[name] = {
            "p50_ms": round(statistics.median(times) * 1000, 1),
            "p95_ms": round(percentile(times, 0.95) * 1000, 1),
            "statuses": sorted(statuses),
        }
    if dashboard is None:
        results["dashboard"] = "not measured: no dashboard sign-in page answered"
    return results
