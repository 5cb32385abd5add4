"""The runtimes the engine can judge deliveries with, by name (acceptance.engine.runtime_choice)."""

from __future__ import annotations

from acceptance.engine.runtime_choice import RuntimeName
from acceptance.engine.runtimes.interface import RunSession, Runtime
from acceptance.engine.runtimes.node import NodeRuntime
from acceptance.engine.runtimes.python import PythonRuntime
from acceptance.engine.runtimes.shell import ShellRuntime

_RUNTIMES: dict[RuntimeName, Runtime] = {
    RuntimeName.PYTHON: PythonRuntime(),
    RuntimeName.SHELL: ShellRuntime(),
    RuntimeName.NODE: NodeRuntime(),
}


def runtime_for(name: RuntimeName) -> Runtime:
    """The runtime registered under `name`; the spec parser refuses names without one."""
    return _RUNTIMES[name]


__all__ = ["RunSession", "Runtime", "runtime_for"]
