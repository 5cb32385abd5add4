"""The same checks run by hand on the host, one after the other, in a ready virtual environment.

What a careful developer would run before pushing, with every tool and cache warm:

* ``pytest`` on the project's tests and the owner's hidden tests (the same tests
  the run executes), in a venv where the project and its dependencies are installed;
* ``bandit`` on the checkout, tests excluded (the spec's exclude);
* ``pip-audit`` on the project's installed dependency set (``--no-deps
  --disable-pip``, JSON) against the same offline advisory data, served on loopback;
* ``licensecheck -r pyproject.toml`` on the project (it resolves the dependency
  tree with ``uv`` through the package index, so its time includes a round trip
  to the index; its licence data comes from the venv).

The tools are the versions the sandbox image pins. Setting up the venv is not
timed; each sequence is run once to warm every cache, then ``repeat`` times.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import samples

TOOLS = ("bandit==1.9.4", "pip-audit==2.10.1", "licensecheck==2025.1.0", "uv==0.13.9")

_CLOSURE = r"""
import importlib.metadata as md, json, re, sys
from packaging.requirements import Requirement
wanted = [Requirement(r) for r in json.loads(sys.argv[1])]
seen, out = set(), []
while wanted:
    req = wanted.pop()
    key = re.sub(r"[-_.]+", "-", req.name).lower()
    if key in seen or (req.marker and not req.marker.evaluate({"extra": ""})):
        continue
    seen.add(key)
    try:
        dist = md.distribution(req.name)
    except md.PackageNotFoundError:
        continue
    out.append(f"{dist.metadata['Name']}=={dist.version}")
    wanted.extend(Requirement(r) for r in dist.requires or [])
print("\n".join(sorted(out)))
"""


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, int, str]:
    started = time.monotonic()
    done = subprocess.run(
        argv,
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    return time.monotonic() - started, done.returncode, (done.stdout + done.stderr)[-600:]


def prepare(name: str, repo: Path, work: Path, spec_dir: Path) -> dict[str, Any]:
    """A checkout of REPO with the hidden tests beside it, and a venv with everything installed."""
    folder = work / "byhand" / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    checkout = folder / "checkout"
    samples.git("clone", "-q", str(repo), str(checkout), cwd=folder)
    shutil.copytree(spec_dir / "hidden", checkout / "acceptance_hidden_tests")
    venv = folder / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True)
    pip = [
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
    ]
    subprocess.run([*pip, *TOOLS, "pytest>=8"], check=True, capture_output=True)
    subprocess.run([*pip, str(checkout)], check=True, capture_output=True)
    pyproject = (checkout / "pyproject.toml").read_text(encoding="utf-8")
    import tomllib

    deps = tomllib.loads(pyproject)["project"].get("dependencies", [])
    closure = subprocess.run(
        [str(venv / "bin" / "python"), "-c", _CLOSURE, json.dumps([*deps, "pytest>=8"])],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    pins = folder / "pins.txt"
    pins.write_text(closure, encoding="utf-8")
    return {"checkout": checkout, "venv": venv, "pins": pins, "folder": folder}


def measure(setup: dict[str, Any], osv_url: str, repeat: int) -> dict[str, Any]:
    """Run the four checks in sequence, warm-up first, then REPEAT times; medians in seconds."""
    checkout: Path = setup["checkout"]
    bin_dir: Path = setup["venv"] / "bin"
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(Path.home()),
        "VIRTUAL_ENV": str(setup["venv"]),
        "LANG": "C.UTF-8",
    }
    out = setup["folder"]
    steps = {
        "pytest": [str(bin_dir / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                   "tests", "acceptance_hidden_tests"],
        "bandit": [str(bin_dir / "bandit"), "-q", "-r", ".", "-x", "./tests,./acceptance_hidden_tests",
                   "-f", "json", "-o", str(out / "bandit.json")],
        "pip-audit": [str(bin_dir / "pip-audit"), "-r", str(setup["pins"]), "--no-deps",
                      "--disable-pip", "--vulnerability-service", "osv", "--osv-url",
                      f"{osv_url}/v1/query", "-f", "json", "-o", str(out / "audit.json"),
                      "--progress-spinner", "off", "--cache-dir", str(out / "audit-cache")],
        "licensecheck": [str(bin_dir / "licensecheck"), "-r", "pyproject.toml", "-f", "json",
                         "-o", str(out / "licences.json")],
    }  # fmt: skip
    runs: list[dict[str, float]] = []
    problems: dict[str, str] = {}
    for index in range(repeat + 1):
        timings: dict[str, float] = {}
        for step, argv in steps.items():
            seconds, code, tail = _run(argv, checkout, env)
            timings[step] = seconds
            if code not in (0, 1) or (step == "pytest" and code != 0):
                problems[step] = f"exit {code}: {tail}"
        timings["total"] = sum(timings.values())
        if index > 0:  # the first sequence only warms caches
            runs.append(timings)
    medians = {key: round(statistics.median(r[key] for r in runs), 3) for key in runs[0]}
    return {"median": medians, "runs": runs, "problems": problems}


def main() -> None:  # pragma: no cover - manual use
    print("run through `python -m bench --only byhand`", file=sys.stderr)
