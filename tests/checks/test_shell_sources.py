"""Shell code the shell files load (checks/shell_sources.py, checks/shellcheck_scan.py):
found on the host by constant path, through bats's `load`, `source`, `.`, `bash FILE`,
`# shellcheck source=` and executables without a shebang; hostile trees included."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from checks import shell_sources, shellcheck_scan
from checks.shell_sources import followed_files, settled_lines


def _tree(root: Path, files: dict[str, str], executable: tuple[str, ...] = ()) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        path.chmod(0o755 if name in executable else 0o644)
    return root


LIB = "clean_dir() {\n  rm -rf $1/*\n}\n"


@pytest.mark.parametrize(
    ("line", "followed"),
    [
        # bats's load: relative to the test's folder, `.bash` tried first
        ("setup() {\n  load '../lib/tidy'\n}\n", ["lib/tidy"]),
        ("load ../lib/helper\n", ["lib/helper.bash"]),
        ('source "$BATS_TEST_DIRNAME/../lib/tidy"\n', ["lib/tidy"]),
        ('. "${BATS_TEST_DIRNAME}/../lib/tidy"\n', ["lib/tidy"]),
        # relative to the root, where bats runs
        ("source lib/tidy\n", ["lib/tidy"]),
        ("  . ./lib/tidy; true\n", ["lib/tidy"]),
        ('run bash "$PWD/lib/tidy"\n', ["lib/tidy"]),
        ("x=$(sh -e lib/tidy)\n", ["lib/tidy"]),
        ("command source -- lib/tidy\n", ["lib/tidy"]),
        # a directive names a file: followed, and source=/dev/null hides nothing
        ('# shellcheck source=../lib/tidy\nsource "$d/x"\n', ["lib/tidy"]),
        ("# shellcheck source=/dev/null\nsource lib/tidy\n", ["lib/tidy"]),
        # not constant, not a file, out of the tree, or plain text: nothing
        ('source "$f"\n', []),
        ("source lib/*\n", []),
        ("source /etc/profile\n", []),
        ("source ../../etc/passwd\n", []),
        ("echo lib/tidy\n", []),
        ("cat ../lib/tidy # load ../lib/tidy\n", []),
        ("  # source lib/tidy\n", []),
        ("true\n# source lib/tidy\n", []),
        # `find . -name FILE` loads nothing
        ("find . -name tidy\nfind lib -name tidy\n", []),
    ],
)
def test_files_a_test_loads_by_a_constant_path_are_followed(
    tmp_path: Path, line: str, followed: list[str]
) -> None:
    tree = _tree(tmp_path, {"tests/x.bats": line, "lib/tidy": LIB, "lib/helper.bash": LIB})
    scanned = ["lib/helper.bash", "tests/x.bats"]
    got, cut = followed_files(tree, scanned)
    assert (got, cut) == ([f for f in followed if f not in scanned], False)


def test_what_a_loaded_file_loads_is_followed_until_closed(tmp_path: Path) -> None:
    tree = _tree(tmp_path, {
        "tests/x.bats": "load ../lib/a\n",
        "lib/a": "source lib/b\n",
        "lib/b": ". lib/c\n",
        "lib/c": "source lib/a\n",  # a cycle ends
    })  # fmt: skip
    assert followed_files(tree, ["tests/x.bats"]) == (["lib/a", "lib/b", "lib/c"], False)


def test_an_executable_without_a_shebang_named_anywhere_is_followed(tmp_path: Path) -> None:
    # bash runs an executable text file without #! as a script of its own
    tree = _tree(
        tmp_path,
        {
            "tests/x.bats": 'T="$BATS_TEST_DIRNAME/../bin/tidy"\nrun "$T" a\nrun bin/py\nrun bin/elf\n',
            "bin/tidy": LIB + 'clean_dir "$1"\n',
            "bin/py": "#!/usr/bin/python3\nprint(1)\n",
            "bin/data": "not named\n",
        },
        executable=("bin/tidy", "bin/py", "bin/data"),
    )
    (tree / "bin/elf").write_bytes(b"\x7fELF\x02\x01\x01\x00" + b"\0" * 64)
    (tree / "bin/elf").chmod(0o755)
    assert followed_files(tree, ["tests/x.bats"]) == (["bin/tidy"], False)
    # not executable: nothing runs it as a script
    (tree / "bin/tidy").chmod(0o644)
    assert followed_files(tree, ["tests/x.bats"]) == ([], False)


def test_links_git_and_excluded_paths_are_never_followed(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "repo", {
        "tests/x.bats": "load ../lib/link\nsource .git/hooks/h\nsource vendor/v\nsource lk/x\n",
        ".git/hooks/h": LIB, "vendor/v": LIB,
    })  # fmt: skip
    _tree(tmp_path / "outside", {"x": LIB, "lib": LIB})
    os.symlink(tmp_path / "outside" / "lib", tree / "lib")
    os.symlink(tmp_path / "outside", tree / "lk")
    assert followed_files(tree, ["tests/x.bats"], exclude=("vendor",)) == ([], False)


def test_past_the_cap_the_set_is_cut_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shell_sources, "MAX_FOLLOWED", 2)
    files = {"tests/x.bats": "".join(f"source lib/l{i}\n" for i in range(5))}
    files.update({f"lib/l{i}": "true\n" for i in range(5)})
    followed, cut = followed_files(_tree(tmp_path, files), ["tests/x.bats"])
    assert (len(followed), cut) == (2, True)


def test_a_source_directive_settles_only_the_command_that_names_its_file(tmp_path: Path) -> None:
    tree = _tree(tmp_path, {
        "bin/a.sh": (
            "# shellcheck source=../lib/slug.bash\n"  # 1
            'source "$here/../lib/slug.bash"\n'  # 2: settled
            "# shellcheck source=../lib/slug.bash\n"  # 3
            'source "$other"\n'  # 4: not the file named
            "# shellcheck source=/dev/null\n"  # 5
            'source "$f/slug.bash"\n'  # 6: /dev/null settles nothing
        ),
        "lib/slug.bash": "true\n",
    })  # fmt: skip
    assert settled_lines(tree, "bin/a.sh", {"bin/a.sh", "lib/slug.bash"}) == frozenset({2})
    # the file named is not scanned: nothing settled
    assert settled_lines(tree, "bin/a.sh", {"bin/a.sh"}) == frozenset()


def test_not_following_comments_name_files_to_scan(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "repo", {"tests/x.bats": "", "lib/tidy": LIB, "bin/a.sh": ""})
    plan = shellcheck_scan.plan_scan(tree, tmp_path / "scan", ())
    assert (plan.files, plan.followed) == (["bin/a.sh", "tests/x.bats"], [])

    def note(name: str, path: str) -> dict[str, object]:
        message = f"Not following: {path} was not specified as input (see shellcheck -x)."
        return {"file": name, "line": 1, "column": 1, "code": 1091, "level": "info",
                "message": message}  # fmt: skip

    comments = [note("./tests/x.bats", "./../lib/tidy"), note("./bin/a.sh", "./lib/none")]
    assert shellcheck_scan._not_following(plan, comments) == ["lib/tidy"]
    assert plan.add_followed(["lib/tidy"]) == ["lib/tidy"]
    assert (tmp_path / "scan" / "lib/tidy").read_text() == LIB
    # once scanned, its note is the engine's own business, not a finding
    assert shellcheck_scan._followed_note(plan, comments[0], plan.scanned)
    assert not shellcheck_scan._followed_note(plan, comments[1], plan.scanned)
    assert shellcheck_scan._not_following(plan, comments) == []


def test_loaded_files_are_scanned_as_bash_in_their_own_run() -> None:
    argv = shellcheck_scan.shellcheck_command("/scan", ["lib/tidy", "-x"], "/out/r.json", "bash")
    assert argv[-4:] == ["--shell=bash", "--", "./lib/tidy", "./-x"]
    assert "shellcheck --norc -f json1 -S style" in argv[2]
    assert "--shell=bash" not in shellcheck_scan.shellcheck_command("/scan", ["a.sh"], "/o")


def test_a_loaded_library_that_reaches_into_bats_is_flagged(tmp_path: Path) -> None:
    from checks.bats_hooks import find_bats_hooks

    tree = _tree(tmp_path, {
        "tests/x.bats": 'setup() {\n  load ../lib/hooks\n}\n@test "a" {\n  false\n}\n',
        "lib/hooks": "true\nbats_exit_trap() {\n  exit 0\n}\n",
    })  # fmt: skip
    assert [(f.path, f.line) for f in find_bats_hooks(tree)] == [("lib/hooks", 2)]


def test_a_file_naming_more_paths_than_looked_up_cuts_the_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shell_sources, "MAX_WORDS", 3)
    tree = _tree(tmp_path, {"tests/x.bats": "cat a/1 a/2 a/3 a/4\n"})
    assert followed_files(tree, ["tests/x.bats"]) == ([], True)
    monkeypatch.setattr(shell_sources, "MAX_WORDS", 4)
    assert followed_files(tree, ["tests/x.bats"]) == ([], False)


def test_a_non_constant_source_blocks_whatever_fail_on_and_suppressions_say() -> None:
    from acceptance.engine.spec import SastSpec, Severity
    from checks import shellcheck
    from checks.interface import CheckStatus

    comment = {"file": "./bin/a.sh", "line": 4, "column": 8, "level": "warning", "code": 1090,
               "message": "ShellCheck can't follow non-constant source."}  # fmt: skip
    report = json.dumps({"comments": [comment]}).encode()
    lenient = SastSpec(fail_on=Severity.HIGH, allow_suppressions=True)
    # as delivered, a `source=/dev/null` directive silenced it: suppressed, allowed, still blocks
    outcome = shellcheck.evaluate_shellcheck(
        report, lenient, b'{"comments": []}', directive_files=["bin/a.sh"]
    ).result
    assert (outcome.status, outcome.reason_code) == (CheckStatus.FAILED, "SAST_FINDINGS")
    assert outcome.details["findings"][0]["suppressed"] is True  # type: ignore[index]
    assert "bin/a.sh:4 SC1090" in outcome.summary
