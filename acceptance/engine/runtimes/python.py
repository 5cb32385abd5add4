"""The Python runtime: pip-installed dependencies, pytest, bandit, pip-audit, licensecheck.

Its stages are the pipeline's original ones (acceptance/engine/pipeline.py, reached
through `RunSession.judge_python`): wrapped, not rewritten, so a Python delivery's report
is exactly what it was before runtimes existed (tests/test_golden_report.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from acceptance.engine.checkout import Checkout
from acceptance.engine.runtime_choice import RuntimeName
from acceptance.engine.runtimes.interface import RunSession

if TYPE_CHECKING:
    from acceptance.engine.pipeline import EngineConfig


class PythonRuntime:
    """Judges Python deliveries in the main sandbox image."""

    @property
    def name(self) -> RuntimeName:
        return RuntimeName.PYTHON

    def image(self, config: EngineConfig) -> str:
        return config.image

    def judge(self, session: RunSession, tree: Checkout, scratch: Path) -> None:
        session.judge_python(tree, scratch)
