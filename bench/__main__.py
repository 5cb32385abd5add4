"""`python -m bench`: measure the acceptance service on this machine; print a table, write JSON.

Sections (all by default; pick with --only):

* e2e: webhook delivery to signed report for the tiny, medium (~300 tests) and
  C-extension samples, with a cold cache and warm (a re-push changing only code),
  with the stage breakdown;
* byhand: the same checks run by hand on the host, sequentially, in a ready venv;
* throughput: a burst of pushes with 1 and 2 worker processes (runs per minute,
  queue wait);
* intake: signed webhook deliveries under a burst (per second, p50/p99);
* dashboard: runs pages with 10,000 runs in the database;
* memory: idle and peak RSS of the web and worker processes (sampled throughout).

It starts its own deployment (a PostgreSQL database, a Redis database, git
daemon, `acceptance web` and `acceptance worker`) and removes it at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import byhand, load, memory
from bench.infra import ROOT, Deployment, Sample

SAMPLES = ("tiny", "medium", "cext")
SECTIONS = ("e2e", "byhand", "throughput", "intake", "dashboard")
#: stages that run on the host beside the sandbox, not on the run's critical path
PARALLEL = ("licence-detect", "download", "dependency-audit")


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def _seconds(later: dt.datetime | None, earlier: dt.datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return round((later - earlier).total_seconds(), 3)


def _stage_sums(stages: list[dict[str, Any]]) -> dict[str, float]:
    sums: dict[str, float] = {}
    for stage in stages or []:
        if isinstance(stage, dict) and isinstance(stage.get("seconds"), int | float):
            sums[str(stage["name"])] = round(
                sums.get(str(stage["name"]), 0.0) + stage["seconds"], 3
            )
    return sums


def one_run(deployment: Deployment, sample: Sample, commit: str) -> dict[str, Any]:
    """Deliver one push and wait for its signed report; the timings of that run."""
    sent = dt.datetime.now(dt.UTC)
    intake, run_id = deployment.deliver(sample, commit)
    row = deployment.wait_finished([run_id])[0]
    return {
        "run": run_id,
        "verdict": row["verdict"],
        "reasons": row["reasons"][:3],
        "total": _seconds(row["finished_at"], sent),
        "intake": round(intake, 3),
        "queue": _seconds(row["started_at"], row["queued_at"]),
        "stages": _stage_sums(row["stages"]),
    }


def e2e(deployment: Deployment, samples: dict[str, Sample], repeat: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, sample in samples.items():
        deployment.wipe_caches()
        cold = one_run(deployment, sample, sample.commits[-1])
        print(f"  {name} cold: {cold['total']} s ({cold['verdict']})", flush=True)
        warm = []
        for _ in range(repeat):
            warm.append(one_run(deployment, sample, sample.push_code_change()))
            print(
                f"  {name} warm (re-push, code only): {warm[-1]['total']} s ({warm[-1]['verdict']})",
                flush=True,
            )
        results[name] = {"cold": cold, "warm": warm, "warm_median": _median_run(warm)}
    return results


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median total (its own breakdown, not a mix of runs)."""
    ordered = sorted(runs, key=lambda r: r["total"] or 0)
    return ordered[len(ordered) // 2]


def throughput(deployment: Deployment, sample: Sample, burst: int, workers: int) -> dict[str, Any]:
    commits = []
    for _ in range(burst):
        commits.append(sample.push_code_change())
    deployment.stop("worker")
    deployment.start_worker(workers)
    time.sleep(2)
    sent = dt.datetime.now(dt.UTC)
    run_ids = [deployment.deliver(sample, commit)[1] for commit in commits]
    rows = deployment.wait_finished(run_ids, seconds=3600)
    last = max(row["finished_at"] for row in rows)
    span = (last - sent).total_seconds()
    waits = [_seconds(row["started_at"], row["queued_at"]) or 0.0 for row in rows]
    latencies = [_seconds(row["finished_at"], row["queued_at"]) or 0.0 for row in rows]
    return {
        "workers": workers,
        "runs": burst,
        "verdicts": sorted({str(row["verdict"]) for row in rows}),
        "span_s": round(span, 1),
        "runs_per_minute": round(burst / span * 60, 1),
        "queue_wait_p50_s": round(statistics.median(waits), 1),
        "queue_wait_p95_s": round(load.percentile(waits, 0.95), 1),
        "queue_wait_max_s": round(max(waits), 1),
        "latency_p50_s": round(statistics.median(latencies), 1),
        "latency_max_s": round(max(latencies), 1),
    }


def idle_rss(deployment: Deployment) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in ("web", "worker"):
        proc = deployment.procs.get(name)
        if proc is not None:
            found[name] = [
                {"pid": pid, "rss_mib": rss, "cmd": cmd[:80]}
                for pid, rss, _peak, cmd in memory.snapshot(proc.pid)
            ]
    return found


# ---------------------------------------------------------------- output


def _f(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float | int):
        return f"{value:.{digits}f}"
    return str(value)


def print_tables(result: dict[str, Any]) -> None:
    print()
    print(f"# acceptance benchmark — {result['started']} — {result['machine']}")
    print(f"load before: {result['uptime_before']}")
    print(f"load after:  {result.get('uptime_after', '')}")
    hand = result.get("byhand", {})
    if "e2e" in result:
        print("\n## End to end (webhook delivery → signed report), seconds")
        columns = ["checkout", "plan", "download", "sandbox", "prepare", "sast", "restore",
                   "install", "build-env", "export", "install-project", "installed",
                   "licence-detect", "licence", "dependency-audit", "functional", "sign", "store"]  # fmt: skip
        header = ["sample", "cache", "total", "by hand", "ratio", "intake", "queue", *columns]
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for name, runs in result["e2e"].items():
            for label, run in (("cold", runs["cold"]), ("warm", runs["warm_median"])):
                by_hand = hand.get(name, {}).get("median", {}).get("total")
                ratio = run["total"] / by_hand if by_hand and run["total"] else None
                cells = [name, label, _f(run["total"], 2), _f(by_hand, 2), _f(ratio, 2),
                         _f(run["intake"], 3), _f(run["queue"], 2)]  # fmt: skip
                cells += [_f(run["stages"].get(c), 2) for c in columns]
                print("| " + " | ".join(cells) + " |")
        print(
            f"(host-side stages beside the sandbox, not on the critical path: {', '.join(PARALLEL)})"
        )
    if hand:
        print("\n## By hand on the host, sequential, warm venv (median seconds)")
        print("| sample | pytest | bandit | pip-audit | licensecheck | total |")
        print("|---|---|---|---|---|---|")
        for name, data in hand.items():
            m = data["median"]
            print(f"| {name} | {_f(m['pytest'], 2)} | {_f(m['bandit'], 2)} | {_f(m['pip-audit'], 2)} "
                  f"| {_f(m['licensecheck'], 2)} | {_f(m['total'], 2)} |")  # fmt: skip
    if "throughput" in result:
        print("\n## Throughput (burst of pushes of the tiny sample, warm cache)")
        print(
            "| workers | runs | span s | runs/min | queue wait p50 / p95 / max s | latency p50 / max s |"
        )
        print("|---|---|---|---|---|---|")
        for row in result["throughput"]:
            print(f"| {row['workers']} | {row['runs']} | {row['span_s']} | {row['runs_per_minute']} "
                  f"| {row['queue_wait_p50_s']} / {row['queue_wait_p95_s']} / {row['queue_wait_max_s']} "
                  f"| {row['latency_p50_s']} / {row['latency_max_s']} |")  # fmt: skip
    if "intake" in result:
        print("\n## Webhook intake (signed GitHub pushes, HMAC checked, run recorded and enqueued)")
        print("| load | deliveries | clients | per second | p50 ms | p99 ms | max ms | statuses |")
        print("|---|---|---|---|---|---|---|---|")
        for i in result["intake"]:
            print(f"| {i['mode']} | {i['deliveries']} | {i['clients']} | {i['per_second']} | {i['p50_ms']} "
                  f"| {i['p99_ms']} | {i['max_ms']} | {i['statuses']} |")  # fmt: skip
    if "dashboard" in result:
        d = result["dashboard"]
        print(
            f"\n## Runs pages with {d.get('runs')} runs in the database ({d.get('requests')} requests each)"
        )
        for name, page in d.get("pages", {}).items():
            if isinstance(page, dict):
                print(
                    f"- {name}: p50 {page['p50_ms']} ms, p95 {page['p95_ms']} ms (HTTP {page['statuses']})"
                )
            else:
                print(f"- {name}")
    if "memory" in result:
        m = result["memory"]
        print("\n## Memory (RSS, MiB)")
        for when, found in m.items():
            if not when.startswith("idle"):
                continue
            for name, rows in found.items():
                listed = ", ".join(f"{r['rss_mib']:.0f}" for r in rows)
                print(f"- {name} {when.replace('_', ' ')}, per process (main first): {listed}")
        for name, value in m.get("peak_tree", {}).items():
            process = m.get("peak_process", {}).get(name, [0, ""])
            print(
                f"- {name} peak: whole tree {value:.0f}; largest process {process[0]:.0f} ({process[1][:70]})"
            )


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma-separated: {','.join(SECTIONS)}"
    )
    parser.add_argument("--samples", default=",".join(SAMPLES))
    parser.add_argument(
        "--repeat", type=int, default=3, help="warm runs per sample, by-hand repetitions"
    )
    parser.add_argument("--burst", type=int, default=50, help="pushes in the throughput burst")
    parser.add_argument(
        "--deliveries", type=int, default=3000, help="webhook deliveries in the intake burst"
    )
    parser.add_argument(
        "--clients", type=int, default=16, help="concurrent clients in the intake burst"
    )
    parser.add_argument(
        "--rate", type=float, default=300.0, help="deliveries per second, open loop"
    )
    parser.add_argument(
        "--runs", type=int, default=10_000, help="runs in the database for the page timings"
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/acceptance-bench"))
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON file (default bench/results/<time>.json)"
    )
    parser.add_argument("--engine", type=Path, default=None,
                        help="put this source tree first on PYTHONPATH (to measure another version)")  # fmt: skip
    args = parser.parse_args(argv)
    sections = {s.strip() for s in args.only.split(",") if s.strip()}
    names = [s.strip() for s in args.samples.split(",") if s.strip()]

    from sandbox.image import default_image_tag

    started = dt.datetime.now(dt.UTC)
    result: dict[str, Any] = {
        "command": " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
        "started": started.isoformat(timespec="seconds"),
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 1024**3:.0f} GiB",
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                 capture_output=True, text=True, check=False).stdout.strip(),
        "engine": str(args.engine) if args.engine else "this tree",
        "uptime_before": _uptime(),
    }  # fmt: skip
    if args.work.exists():
        for stale in ("data", "repos", "served", "byhand", "specs", "logs", "pip-cache"):
            shutil.rmtree(args.work / stale, ignore_errors=True)
    args.work.mkdir(parents=True, exist_ok=True)
    deployment = Deployment(args.work)
    sampler: memory.TreeSampler | None = None
    try:
        deployment.setup(os.environ.get("ACCEPTANCE_SANDBOX_IMAGE") or default_image_tag())
        if args.engine:
            deployment.env["PYTHONPATH"] = str(args.engine.resolve())
        web = deployment.start_web()
        worker = deployment.start_worker(1)
        time.sleep(3)
        result["memory"] = {"idle": idle_rss(deployment)}
        sampler = memory.TreeSampler({"web": web.pid, "worker": worker.pid}).start()
        samples = {name: deployment.add_sample(name) for name in names}
        if "e2e" in sections:
            print("end to end:", flush=True)
            result["e2e"] = e2e(deployment, samples, args.repeat)
        if "byhand" in sections:
            print("by hand:", flush=True)
            from checks.osv_server import serve_advisories

            result["byhand"] = {}
            with serve_advisories(deployment.advisories()) as url:
                for name, sample in samples.items():
                    setup = byhand.prepare(name, sample.path, args.work, args.work / "specs" / name)
                    result["byhand"][name] = byhand.measure(setup, url, args.repeat)
                    print(f"  {name}: {result['byhand'][name]['median']}", flush=True)
        if "throughput" in sections and "tiny" in samples:
            print("throughput:", flush=True)
            result["throughput"] = []
            for workers in (1, 2):
                row = throughput(deployment, samples["tiny"], args.burst, workers)
                result["throughput"].append(row)
                print(f"  {row}", flush=True)
                sampler.roots["worker"] = deployment.procs["worker"].pid
                time.sleep(5)
                result["memory"][f"idle_after_runs_{workers}_workers"] = idle_rss(deployment)
        if "intake" in sections and samples:
            print("intake:", flush=True)
            deployment.stop("worker")  # deliveries are recorded and queued, never run
            sample = next(iter(samples.values()))
            result["intake"] = [
                # one client, one delivery at a time: the latency is the service time
                load.intake_burst(deployment, sample, max(200, args.deliveries // 6), 1),
                load.intake_burst(deployment, sample, args.deliveries, args.clients),
                load.intake_burst(
                    deployment, sample, args.deliveries, args.clients, rate=args.rate
                ),
            ]
            for row in result["intake"]:
                print(f"  {row}", flush=True)
            _forget_queued(deployment)
        if "dashboard" in sections and samples:
            print("dashboard:", flush=True)
            sample = next(iter(samples.values()))
            total = load.seed_runs(deployment, sample, max(0, args.runs - _count_runs(deployment)))
            pages = load.page_times(deployment, 200, "owner@example.org", "bench password 1")
            result["dashboard"] = {"runs": total, "requests": 200, "pages": pages}
            print(f"  {result['dashboard']}", flush=True)
    finally:
        if sampler is not None:
            sampler.stop()
            result.setdefault("memory", {})["peak_tree"] = {
                k: round(v, 1) for k, v in sampler.peak_tree.items()
            }
            result["memory"]["peak_process"] = {
                k: [round(v[0], 1), v[1]] for k, v in sampler.peak_process.items()
            }
        result["uptime_after"] = _uptime()
        deployment.teardown()
    out = args.out or ROOT / "bench" / "results" / f"{started:%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")
    print_tables(result)
    print(f"\nJSON: {out}")
    return 0


def _count_runs(deployment: Deployment) -> int:
    from sqlalchemy import func, select

    from acceptance.service.models import Run

    with deployment.db() as session:
        return int(session.scalar(select(func.count()).select_from(Run)) or 0)


def _forget_queued(deployment: Deployment) -> None:
    """Drop the intake burst's queued runs and broker messages: they were never meant to run."""
    import redis
    from sqlalchemy import delete

    from acceptance.service.models import Run
    from bench.infra import BROKER

    redis.Redis.from_url(BROKER).flushdb()
    with deployment.db() as session:
        session.execute(delete(Run).where(Run.status == "queued"))


if __name__ == "__main__":
    sys.exit(main())
