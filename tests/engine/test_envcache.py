"""Dependency caches: keys, freshness, and the rules that keep one supplier's environment from another's."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from acceptance.engine import envcache
from acceptance.engine.install_plan import InstallPlan, LocalProject
from acceptance.engine.prepared import PreparedEnvironments, _without, download_list
from checks import audit_cache, licence_cache, licence_detection
from checks.licence_evidence import LicenceEvidence
from tests.conftest import MIT_LICENSE

REQS = ["pytest>=8", "attrs>=23"]


def wheel(folder: Path, name: str, size: int = 10) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"x" * size)
    return path


def resolution(tmp_path: Path) -> envcache.Resolution:
    cache = envcache.ResolutionCache(tmp_path / "res", tmp_path / "wheels")
    files = [wheel(tmp_path / "wheels", "attrs-23.2.0-py3-none-any.whl")]
    return cache.put(REQS, "3.11", files)


def key(**changes: object) -> str:
    base: dict[str, object] = {
        "image_id": "sha256:aaa",
        "python_version": "3.11",
        "repository": "ab" * 16,
        "requirements": REQS,
        "build_requirements": ["setuptools>=68"],
        "resolution": envcache.Resolution((("attrs-23.2.0-py3-none-any.whl", 10),), 0.0),
    }
    base.update(changes)
    return envcache.environment_key(**base)  # type: ignore[arg-type]


# ---------------------------------------------------------------- resolutions


def test_a_resolution_is_reused_while_fresh_and_its_wheels_are_cached(tmp_path: Path) -> None:
    cache = envcache.ResolutionCache(tmp_path / "res", tmp_path / "wheels", ttl=60)
    files = [
        wheel(tmp_path / "wheels", "attrs-23.2.0-py3-none-any.whl"),
        wheel(tmp_path / "wheels", "pytest-8.0-py3-none-any.whl", 20),
    ]
    stored = cache.put(REQS, "3.11", files)

    found = cache.get(REQS, "3.11")
    assert found is not None and found.wheels == stored.wheels
    assert found.names == ("attrs-23.2.0-py3-none-any.whl", "pytest-8.0-py3-none-any.whl")
    # Another list, another order, another Python: not the same question.
    assert cache.get(list(reversed(REQS)), "3.11") is None
    assert cache.get([*REQS, "idna"], "3.11") is None
    assert cache.get(REQS, "3.12") is None
    # Too old: the index is asked again.
    assert cache.get(REQS, "3.11", now=time.time() + 61) is None


@pytest.mark.parametrize("damage", ["missing", "resized"])
def test_a_resolution_whose_wheel_left_the_cache_is_not_used(tmp_path: Path, damage: str) -> None:
    cache = envcache.ResolutionCache(tmp_path / "res", tmp_path / "wheels")
    path = wheel(tmp_path / "wheels", "attrs-23.2.0-py3-none-any.whl")
    cache.put(REQS, "3.11", [path])
    if damage == "missing":
        path.unlink()
    else:
        path.write_bytes(b"y" * 11)
    assert cache.get(REQS, "3.11") is None


def test_a_corrupt_resolution_record_is_a_miss(tmp_path: Path) -> None:
    cache = envcache.ResolutionCache(tmp_path / "res", tmp_path / "wheels")
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / f"{envcache.resolution_key(REQS, '3.11')}.json").write_text("{not json")
    assert cache.get(REQS, "3.11") is None
    record = {
        "format": envcache.FORMAT,
        "created": time.time(),
        "wheels": [["../../etc/passwd", 1]],
    }
    (tmp_path / "res" / f"{envcache.resolution_key(REQS, '3.11')}.json").write_text(
        json.dumps(record)
    )
    assert cache.get(REQS, "3.11") is None


# ---------------------------------------------------------------- environment keys


def test_the_environment_key_covers_everything_that_decides_the_environment() -> None:
    other = envcache.Resolution((("attrs-24.1.0-py3-none-any.whl", 10),), 0.0)
    variants = {
        key(),
        key(image_id="sha256:bbb"),
        key(python_version="3.12"),
        key(repository="cd" * 16),
        key(requirements=[*REQS, "idna"]),
        key(build_requirements=["setuptools>=70"]),
        key(resolution=other),
    }
    assert len(variants) == 7
    # When the resolution was made does not matter, only what it resolved to.
    assert (
        key(resolution=envcache.Resolution((("attrs-23.2.0-py3-none-any.whl", 10),), 99.0)) == key()
    )


def test_the_repository_identity_separates_sources_and_submissions() -> None:
    a = envcache.repository_identity("https://git.example/a.git", {"submission": "s1"})
    assert a == envcache.repository_identity("https://git.example/a.git", {"submission": "s1"})
    assert a != envcache.repository_identity("https://git.example/b.git", {"submission": "s1"})
    assert a != envcache.repository_identity("https://git.example/a.git", {"submission": "s2"})
    assert a != envcache.repository_identity("https://git.example/a.git", None)


def test_only_statically_known_dependencies_are_cached() -> None:
    assert envcache.not_cacheable(True, REQS) is not None
    assert envcache.not_cacheable(False, []) is not None
    assert envcache.not_cacheable(False, REQS) is None


# ---------------------------------------------------------------- stored environments


def test_an_environment_round_trips_and_is_found_only_under_its_repository(tmp_path: Path) -> None:
    cache = envcache.EnvironmentCache(tmp_path / "envs")
    repo_a, repo_b = "aa" * 16, "bb" * 16
    stored = cache.put(repo_a, key(repository=repo_a), b"tar bytes", has_build_env=True)
    assert stored is not None
    found = cache.get(repo_a, key(repository=repo_a))
    assert found is not None and found.has_build_env and found.size == len(b"tar bytes")
    assert found.mounted_archive == f"{envcache.MOUNT}/{found.archive.name}"
    # Supplier B never sees A's environment: not by B's key, not even by A's key.
    assert cache.get(repo_b, key(repository=repo_b)) is None
    assert cache.get(repo_b, key(repository=repo_a)) is None
    assert oct(cache.folder(repo_a).stat().st_mode & 0o777) == "0o755"
    assert oct(found.archive.stat().st_mode & 0o777) == "0o644"


def test_the_mount_is_the_repositorys_own_folder_only(tmp_path: Path) -> None:
    def prepared(source: str, submission: str) -> PreparedEnvironments:
        return PreparedEnvironments(
            tmp_path, tmp_path / "wheels", source, {"submission": submission},
            tools_python="/opt/acceptance/tools/bin/python", wheels_mount="/wheels", src_mount="/work/src",
        )  # fmt: skip

    a = prepared("https://git.example/a.git", "s1").mounts()
    b = prepared("https://git.example/b.git", "s2").mounts()
    assert list(a.values()) == list(b.values()) == [envcache.MOUNT]
    (folder_a,), (folder_b,) = a, b
    assert folder_a != folder_b and folder_a.parent == folder_b.parent == tmp_path / "environments"


@pytest.mark.parametrize("name", ["../escape", "AB" * 16, "", "/abs"])
def test_a_repository_identity_that_is_not_a_digest_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError):
        envcache.EnvironmentCache(tmp_path).folder(name)


def test_an_incomplete_or_damaged_entry_is_never_used(tmp_path: Path) -> None:
    cache = envcache.EnvironmentCache(tmp_path)
    repo = "aa" * 16
    k = key()
    cache.put(repo, k, b"archive", has_build_env=False)
    (tmp_path / repo / f"{k}.tar").write_bytes(b"archive but longer")
    assert cache.get(repo, k) is None
    (tmp_path / repo / f"{k}.json").unlink()
    (tmp_path / repo / f"{k}.tar").write_bytes(b"archive")
    assert cache.get(repo, k) is None


def test_oversized_archives_are_not_kept_and_old_ones_are_pruned(tmp_path: Path) -> None:
    cache = envcache.EnvironmentCache(tmp_path, max_bytes=10, keep=2)
    repo = "aa" * 16
    assert cache.put(repo, key(), b"x" * 11, has_build_env=False) is None
    keys = [key(requirements=[f"pkg{i}"]) for i in range(3)]
    for index, k in enumerate(keys):
        cache.put(repo, k, b"x", has_build_env=False)
        os.utime(tmp_path / repo / f"{k}.json", (1000 + index, 1000 + index))
    cache._prune(tmp_path / repo)
    assert cache.get(repo, keys[0]) is None
    assert cache.get(repo, keys[2]) is not None


def test_licence_listings_belong_to_an_environment_and_a_project_licence(tmp_path: Path) -> None:
    cache = envcache.EnvironmentCache(tmp_path)
    repo = "aa" * 16
    cache.put_licences(repo, key(), "MIT", b"listing")  # no such environment: not kept
    assert cache.licences(repo, key(), "MIT") is None
    cache.put(repo, key(), b"archive", has_build_env=False)
    cache.put_licences(repo, key(), "MIT", b"listing")
    assert cache.licences(repo, key(), "MIT") == b"listing"
    assert cache.licences(repo, key(), "GPL-3.0-only") is None


def test_the_sandbox_commands_unpack_only_inside_the_sandbox(tmp_path: Path) -> None:
    environment = envcache.Environment(key(), tmp_path / f"{key()}.tar", (), True, 1)
    argv = envcache.restore_command(environment)
    assert argv[:2] == ["sh", "-c"] and f"{envcache.MOUNT}/{key()}.tar" in argv[2]
    assert "tar -xf" in argv[2] and f"-C {envcache.WORK}" in argv[2]
    assert envcache.export_command(True)[2].endswith("tar -cf - venv buildenv 2>/dev/null")
    assert "buildenv" not in envcache.export_command(False)[2]


def test_the_download_list_is_the_engines(tmp_path: Path) -> None:
    plan = InstallPlan(
        ("pytest", "attrs"), ("setuptools>=68", "pytest"), (LocalProject("."),), False, ()
    )
    assert download_list(plan) == ["setuptools>=68", "pytest", "attrs"]


def test_a_stored_licence_listing_leaves_out_the_local_projects() -> None:
    listing = json.dumps(
        {
            "format": 1,
            "packages": [{"name": "Demo_App", "version": "1"}, {"name": "attrs", "version": "23"}],
        }
    ).encode()
    kept = _without(b"noise\n" + listing, {"demo-app"})
    assert kept is not None
    assert [p["name"] for p in json.loads(kept)["packages"]] == ["attrs"]


# ---------------------------------------------------------------- licence evidence


def checkout(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "checkout"
    for relpath, text in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


PROJECT = {
    "LICENSE": MIT_LICENSE,
    "pyproject.toml": '[project]\nname = "demo"\nlicense = "MIT"\n',
    "demo.py": "X = 1\n",
}


def test_the_licence_digest_follows_the_licence_inputs_only(tmp_path: Path) -> None:
    root = checkout(tmp_path, PROJECT)
    first = licence_cache.inputs_digest(root)
    assert first is not None
    (root / "demo.py").write_text("X = 2\n")
    (root / "tests").mkdir()
    assert licence_cache.inputs_digest(root) == first
    (root / "LICENSE").write_text(MIT_LICENSE + "\nExtra term.\n")
    assert licence_cache.inputs_digest(root) != first
    (root / "LICENSE").write_text(MIT_LICENSE)
    (root / "COPYING").write_text("another licence")
    assert licence_cache.inputs_digest(root) != first


def test_a_licence_file_named_by_pyproject_is_part_of_the_digest(tmp_path: Path) -> None:
    root = checkout(
        tmp_path,
        {
            "pyproject.toml": '[project]\nname = "d"\nlicense = {file = "docs/TERMS.txt"}\n',
            "docs/TERMS.txt": "a",
        },
    )
    first = licence_cache.inputs_digest(root)
    (root / "docs" / "TERMS.txt").write_text("b")
    assert licence_cache.inputs_digest(root) != first


def test_a_linked_licence_file_gets_no_digest(tmp_path: Path) -> None:
    root = checkout(tmp_path, {"pyproject.toml": "[project]\nname = 'd'\n"})
    (root / "LICENSE").symlink_to("/etc/passwd")
    assert licence_cache.inputs_digest(root) is None


def test_detection_runs_once_per_distinct_licence_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []
    evidence = LicenceEvidence("MIT", "LICENSE", 100.0, project_name="demo")

    def detect(path: Path, *, timeout: float) -> LicenceEvidence:
        calls.append(path)
        return evidence

    monkeypatch.setattr(licence_detection, "detect_repo_licence_isolated", detect)
    root = checkout(tmp_path, PROJECT)
    assert licence_cache.detect(root, tmp_path / "cache", timeout=10) == evidence
    (root / "demo.py").write_text("X = 3\n")
    assert licence_cache.detect(root, tmp_path / "cache", timeout=10) == evidence
    assert len(calls) == 1
    (root / "LICENSE").write_text("Proprietary.\n")
    licence_cache.detect(root, tmp_path / "cache", timeout=10)
    assert len(calls) == 2


def test_unsafe_evidence_is_never_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    unsafe = LicenceEvidence(None, None, None, unsafe="LICENSE is a symbolic link")
    monkeypatch.setattr(
        licence_detection, "detect_repo_licence_isolated", lambda path, *, timeout: unsafe
    )
    root = checkout(tmp_path, PROJECT)
    licence_cache.detect(root, tmp_path / "cache", timeout=10)
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


# ---------------------------------------------------------------- audits


def test_the_audit_key_follows_pins_exclusions_and_the_advisory_store(tmp_path: Path) -> None:
    store = tmp_path / "advisories.sqlite"
    assert audit_cache.audit_key([("attrs", "23.2")], (), store) is None  # no store
    store.write_bytes(b"one")
    first = audit_cache.audit_key([("attrs", "23.2"), ("idna", "3.7")], (), store)
    assert first == audit_cache.audit_key([("IDNA", "3.7"), ("attrs", "23.2")], (), store)
    assert first != audit_cache.audit_key([("attrs", "23.2")], (), store)
    assert first != audit_cache.audit_key([("attrs", "23.2"), ("idna", "3.7")], ("idna",), store)
    # `acceptance advisories import` replaces the store: another file, another key.
    replacement = tmp_path / "new.sqlite"
    replacement.write_bytes(b"two!")
    os.replace(replacement, store)
    assert first != audit_cache.audit_key([("attrs", "23.2"), ("idna", "3.7")], (), store)


def test_environments_unused_for_long_are_swept(tmp_path: Path) -> None:
    cache = envcache.EnvironmentCache(tmp_path)
    old, fresh = "aa" * 16, "bb" * 16
    cache.put(old, key(repository=old), b"x", has_build_env=False)
    cache.put_licences(old, key(repository=old), "MIT", b"listing")
    cache.put(fresh, key(repository=fresh), b"x", has_build_env=False)
    long_ago = time.time() - envcache.MAX_IDLE_SECONDS - 60
    os.utime(tmp_path / old / f"{key(repository=old)}.json", (long_ago, long_ago))

    assert cache.sweep(force=True) == 1
    assert list((tmp_path / old).iterdir()) == []
    assert cache.get(fresh, key(repository=fresh)) is not None
    assert cache.sweep() == 0  # swept less than an hour ago


def test_all_repositories_together_stay_within_the_total_size(tmp_path: Path) -> None:
    cache = envcache.EnvironmentCache(tmp_path, max_total_bytes=25)
    first, second, third = "aa" * 16, "bb" * 16, "cc" * 16
    cache.put(first, key(repository=first), b"1" * 10, has_build_env=False)
    cache.put_licences(first, key(repository=first), "MIT", b"listing")
    cache.put(second, key(repository=second), b"2" * 10, has_build_env=False)
    os.utime(tmp_path / first / f"{key(repository=first)}.json", (1000, 1000))
    os.utime(tmp_path / second / f"{key(repository=second)}.json", (2000, 2000))
    cache.get(first, key(repository=first))  # used just now: the second is the oldest

    assert cache.put(third, key(repository=third), b"3" * 10, has_build_env=False) is not None
    assert cache.get(second, key(repository=second)) is None
    assert list((tmp_path / second).iterdir()) == []
    assert cache.get(first, key(repository=first)) is not None
    assert cache.licences(first, key(repository=first), "MIT") == b"listing"
    assert cache.get(third, key(repository=third)) is not None
    # one archive larger than the whole cache is not kept at all
    assert cache.put(third, key(requirements=["big"]), b"x" * 26, has_build_env=False) is None


def test_the_total_size_setting_reads_like_the_specs_sizes() -> None:
    from acceptance.errors import UserInputError
    from acceptance.settings import load_settings

    assert load_settings({}).env_cache_max_bytes == envcache.MAX_TOTAL_BYTES == 8 * 1024**3
    assert load_settings({"ACCEPTANCE_ENV_CACHE_SIZE": "500m"}).env_cache_max_bytes == 500 * 1024**2
    assert load_settings({"ACCEPTANCE_ENV_CACHE_SIZE": "1048576"}).env_cache_max_bytes == 1024**2
    with pytest.raises(UserInputError, match="ACCEPTANCE_ENV_CACHE_SIZE is 'lots': must be a size"):
        load_settings({"ACCEPTANCE_ENV_CACHE_SIZE": "lots"})
