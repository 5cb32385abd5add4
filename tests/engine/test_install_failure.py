"""What a failed install inside the sandbox says: the cause, not pip's last line."""

from __future__ import annotations

from acceptance.engine.runtimes import python_install

# pip in the sandbox (offline, --find-links /wheels) when a build asks for a requirement
# the host never downloaded: hatchling's build_editable needs `editables`.
EDITABLE_BUILD = """Obtaining file:///work/src
  Installing build dependencies: started
  Installing build dependencies: finished with status 'done'
  Checking if build backend supports build_editable: started
  Getting requirements to build editable: started
  Installing backend dependencies: started
  error: subprocess-exited-with-error
  × pip subprocess to install backend dependencies did not run successfully.
  │ exit code: 1
  ╰─> [3 lines of output]
      Looking in links: /wheels
      ERROR: Could not find a version that satisfies the requirement editables~=0.3 (from versions: none)
      ERROR: No matching distribution found for editables~=0.3
      [end of output]
"""


def test_a_requirement_a_build_asks_for_is_named_with_where_to_declare_it() -> None:
    error = python_install.install_failure(EDITABLE_BUILD)
    assert error.reason == "DEPENDENCY_UNAVAILABLE"
    assert error.message.startswith(
        "the requirement 'editables~=0.3' was asked for while building the project, but it is "
        "not among the requirements the project declares, so no wheel of it was downloaded"
    )
    assert "published only as source" not in error.message
    assert "[build-system] requires" in str(error.hint)


def test_any_other_failure_is_install_failed_with_pips_output() -> None:
    error = python_install.install_failure("error: invalid command 'bdist_wheel'\n" + "x" * 3000)
    assert error.reason == "INSTALL_FAILED"
    assert error.message.startswith("installing the project failed: …")
    assert len(error.message) < 1600
