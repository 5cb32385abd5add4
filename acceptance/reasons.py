"""Every reason code a report can carry, and whose fault each one is: registered here, once.

docs/reason-codes.md says what each code means; tests/test_reason_codes.py holds this
table, that page and the codes the engine writes to each other. A new check registers
its codes here (or uses ``CHECK_FAILED``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType


class Fault(str, enum.Enum):
    """Whose fault a reason is: it decides who is asked to act, and whether a run is retried."""

    #: the supplier's delivery: re-push to fix
    SUPPLIER = "supplier"
    #: the owner's spec or hidden tests
    OWNER = "owner"
    #: the service could not judge: verdict ``error``, retried, never counted against the supplier
    PLATFORM = "platform"
    #: whoever caused the run's first reason (``NOT_RUN``: a check an earlier failure stopped)
    RUN = "run"


REASONS: Mapping[str, Fault] = MappingProxyType(
    {
        "TESTS_FAILED": Fault.SUPPLIER,
        "NO_TESTS": Fault.SUPPLIER,
        "TOO_FEW_PASSED": Fault.SUPPLIER,
        "HIDDEN_TESTS_NOT_RUN": Fault.SUPPLIER,
        "RESERVED_PATH": Fault.SUPPLIER,
        "SUSPICIOUS_TEST_HOOKS": Fault.SUPPLIER,
        "INVALID_ARTIFACT": Fault.SUPPLIER,
        "NOT_RUN": Fault.RUN,
        "TEST_TIMEOUT": Fault.SUPPLIER,
        "TIMEOUT": Fault.SUPPLIER,
        "MEMORY_LIMIT": Fault.SUPPLIER,
        "PROCESS_LIMIT": Fault.SUPPLIER,
        "OUTPUT_LIMIT": Fault.SUPPLIER,
        "DISK_LIMIT": Fault.SUPPLIER,
        "SANDBOX_GONE": Fault.SUPPLIER,
        "PREPARE_FAILED": Fault.SUPPLIER,
        "INSTALL_FAILED": Fault.SUPPLIER,
        "DEPENDENCY_UNAVAILABLE": Fault.SUPPLIER,
        "UNSUPPORTED_REQUIREMENT": Fault.SUPPLIER,
        "UNSAFE_REPOSITORY": Fault.SUPPLIER,
        "REPO_TOO_LARGE": Fault.SUPPLIER,
        "FILE_TOO_LARGE": Fault.SUPPLIER,
        "INVALID_FILE": Fault.SUPPLIER,
        "SAST_FINDINGS": Fault.SUPPLIER,
        "SAST_UNSCANNABLE": Fault.SUPPLIER,
        "QUALITY_FINDINGS": Fault.SUPPLIER,
        "UNJUSTIFIED_SUPPRESSION": Fault.SUPPLIER,
        "FORBIDDEN_SUPPRESSION": Fault.SUPPLIER,
        "QUALITY_UNJUDGEABLE": Fault.SUPPLIER,
        "QUALITY_TOOL_ERROR": Fault.PLATFORM,
        "ACCESSIBILITY_VIOLATIONS": Fault.SUPPLIER,
        "ACCESSIBILITY_PAGE_MISSING": Fault.SUPPLIER,
        "ACCESSIBILITY_PAGE_UNLOADABLE": Fault.SUPPLIER,
        "ACCESSIBILITY_SERVER_NOT_LISTENING": Fault.SUPPLIER,
        "ACCESSIBILITY_TOOL_ERROR": Fault.PLATFORM,
        "VULNERABLE_DEPENDENCIES": Fault.SUPPLIER,
        "DEPENDENCY_AUDIT_ERROR": Fault.PLATFORM,
        "ADVISORIES_STALE": Fault.PLATFORM,
        "LICENCE_MISSING": Fault.SUPPLIER,
        "LICENCE_UNRECOGNISED": Fault.SUPPLIER,
        "LICENCE_NOT_ALLOWED": Fault.SUPPLIER,
        "LICENCE_CONTRADICTORY": Fault.SUPPLIER,
        "LICENCE_EXTRA_TERMS": Fault.SUPPLIER,
        "DEPENDENCY_LICENCE_INCOMPATIBLE": Fault.SUPPLIER,
        "DEPENDENCY_LICENCES_UNAVAILABLE": Fault.PLATFORM,
        "CHECK_FAILED": Fault.SUPPLIER,
        "SOURCE_UNUSABLE": Fault.SUPPLIER,
        "RUNTIME_UNDETECTED": Fault.SUPPLIER,
        "RUNTIME_UNSUPPORTED": Fault.SUPPLIER,
        "RUNTIME_MISMATCH": Fault.SUPPLIER,
        "RUNTIME_AMBIGUOUS": Fault.OWNER,
        "RUNTIME_CHECK_UNAVAILABLE": Fault.OWNER,
        "LOCKFILE_REQUIRED": Fault.SUPPLIER,
        "NPM_SOURCE_REFUSED": Fault.SUPPLIER,
        "NPM_INSTALL_MISMATCH": Fault.SUPPLIER,
        "NODE_TEST_SCRIPT_UNSUPPORTED": Fault.SUPPLIER,
        "SPEC_UNUSABLE": Fault.OWNER,
        "PLATFORM_ERROR": Fault.PLATFORM,
        "SIGNER_UNAVAILABLE": Fault.PLATFORM,
        "SIGNING_REFUSED": Fault.PLATFORM,
    }
)


def fault_of(code: str) -> Fault:
    """Whose fault ``code`` is; an unregistered code is the platform's (a bug, never the supplier's)."""
    return REASONS.get(code, Fault.PLATFORM)
