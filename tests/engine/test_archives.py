"""Safe extraction of hidden-tests archives (acceptance/engine/archives.py and its archive_* modules), against hostile archives built here."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import struct
import tarfile
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from acceptance.engine.archive_rules import MAX_FILE_BYTES, ArchiveError
from acceptance.engine.archives import ExtractSummary, extract_archive
from acceptance.errors import UserInputError

MiB = 1024 * 1024
TREE = {
    "test_contact.py": b"from contact import valid\n\ndef test_valid():\n    assert valid('a@b.c')\n",
    "conftest.py": b"",
    "data/cases.json": b'{"ok": ["a@b.c"]}\n',
    "data/deep/er/still/blob.bin": bytes(range(256)) * 4,
    "unicode/t\u00e9st_\u00e5.py": "# \u00e9\n".encode(),
    ".hidden/config.toml": b"x = 1\n",
}

Entry = tuple[tarfile.TarInfo, bytes | None]


# ---------------------------------------------------------------- builders


def regular(name: str, data: bytes = b"x", mode: int = 0o644) -> Entry:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    return info, data


def special(name: str, kind: bytes, linkname: str = "") -> Entry:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info, None


def tar_gz(entries: Iterable[Entry], *, fmt: int = tarfile.PAX_FORMAT, level: int = 6) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=fmt, compresslevel=level) as archive:
        for info, data in entries:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def zip_of(entries: Iterable[tuple[str | zipfile.ZipInfo, bytes]], *,
           method: int = zipfile.ZIP_DEFLATED) -> bytes:  # fmt: skip
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns about duplicate names
        with zipfile.ZipFile(buffer, "w", compression=method) as archive:
            for name, data in entries:
                archive.writestr(name, data)
    return buffer.getvalue()


def zip_member(name: str, file_type: int, data: bytes = b"") -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix: the upper 16 bits of external_attr are st_mode
    info.external_attr = (file_type | 0o644) << 16
    return info, data


def build(kind: str, tree: dict[str, bytes]) -> bytes:
    if kind == "tar.gz":
        return tar_gz(regular(name, data) for name, data in tree.items())
    return zip_of(tree.items())


def read_tree(root: Path) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for path in root.rglob("*"):
        assert not path.is_symlink()
        if path.is_file():
            found[path.relative_to(root).as_posix()] = path.read_bytes()
    return found


def refused(data: bytes, dest: Path, match: str, **limits: int) -> ArchiveError:
    """Extraction is refused with ``match`` in the message, and leaves nothing behind."""
    with pytest.raises(ArchiveError, match=match) as caught:
        extract_archive(data, dest, **limits)
    assert not os.path.lexists(dest)
    leftovers = list(dest.parent.iterdir()) if dest.parent.exists() else []
    assert leftovers == [], "a half-extracted folder was left behind"
    assert isinstance(caught.value, UserInputError) and caught.value.hint
    return caught.value


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "spec" / "hidden"


# ---------------------------------------------------------------- good archives


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_a_nested_tree_round_trips_exactly(kind: str, dest: Path) -> None:
    data = build(kind, TREE)
    summary = extract_archive(data, dest)
    assert read_tree(dest) == TREE
    assert summary == ExtractSummary(
        format=kind, files=6, directories=6, bytes=sum(map(len, TREE.values())),
        archive_sha256=hashlib.sha256(data).hexdigest(),
    )  # fmt: skip
    for path in [dest, *dest.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode == (0o755 if path.is_dir() else 0o644), path
    assert [p.name for p in dest.parent.iterdir()] == ["hidden"]


def test_modes_in_the_archive_and_the_umask_do_not_matter(dest: Path) -> None:
    data = tar_gz(
        [regular("run.sh", b"#!/bin/sh\n", mode=0o4777), regular("locked.py", mode=0o000)]
    )
    previous = os.umask(0o077)
    try:
        extract_archive(data, dest)
    finally:
        os.umask(previous)
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in dest.iterdir()} == {
        "run.sh": 0o644, "locked.py": 0o644,
    }  # fmt: skip
    assert stat.S_IMODE(dest.stat().st_mode) == 0o755


def test_an_archive_made_with_tar_c_dir_dot(tmp_path: Path, dest: Path) -> None:
    source = tmp_path / "source"
    for name, data in TREE.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(data)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(source, arcname=".")  # members ".", "./data", "./data/cases.json", ...
    assert "." in tarfile.open(fileobj=io.BytesIO(buffer.getvalue())).getnames()
    extract_archive(buffer.getvalue(), dest)
    assert read_tree(dest) == TREE


def test_a_zip_with_explicit_folder_entries(tmp_path: Path, dest: Path) -> None:
    data = zip_of(
        [("tests/", b""), ("tests/unit/", b""), ("tests/unit/test_a.py", b"a"), ("b.py", b"b")]
    )
    summary = extract_archive(data, dest)
    assert read_tree(dest) == {"tests/unit/test_a.py": b"a", "b.py": b"b"}
    assert (summary.files, summary.directories) == (2, 2)


def test_the_archive_can_be_given_as_a_path(tmp_path: Path, dest: Path) -> None:
    archive = tmp_path / "hidden.bin"  # the name says nothing; the magic bytes do
    archive.write_bytes(build("zip", TREE))
    assert extract_archive(archive, dest).format == "zip"
    assert read_tree(dest) == TREE


def test_depth_up_to_the_cap_is_fine(dest: Path) -> None:
    name = "/".join(["d"] * 31 + ["test_deep.py"])
    extract_archive(tar_gz([regular(name)]), dest)
    assert (dest / name).read_bytes() == b"x"


# ---------------------------------------------------------------- names that leave the folder


@pytest.mark.parametrize("name", ["/etc/passwd", "//etc/passwd", "C:/Windows/evil.py", "c:evil.py"])
@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_absolute_paths_are_refused(kind: str, name: str, dest: Path) -> None:
    error = refused(
        build(kind, {"ok.py": b"", name: b"root::0:0::/root:/bin/sh\n"}), dest, "absolute"
    )
    assert error.member == name


@pytest.mark.parametrize("name", ["../evil", "a/../../evil", "a/b/../../../evil", "..", "a/.."])
@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_dot_dot_is_refused(kind: str, name: str, dest: Path) -> None:
    error = refused(build(kind, {name: b"evil"}), dest, r"contains '\.\.'")
    assert error.member == name and name in str(error)
    assert not (dest.parent.parent / "evil").exists()


def test_a_tar_symlink_to_etc_passwd_is_refused(dest: Path) -> None:
    data = tar_gz([regular("ok.py"), special("passwd", tarfile.SYMTYPE, "/etc/passwd")])
    error = refused(data, dest, "symbolic link")
    assert error.member == "passwd" and "/etc/passwd" in str(error)


def test_a_tar_symlink_then_a_write_through_it_is_refused(dest: Path) -> None:
    data = tar_gz([special("escape", tarfile.SYMTYPE, "/tmp"), regular("escape/evil.py")])
    refused(data, dest, "symbolic link")


def test_a_tar_hard_link_is_refused(dest: Path) -> None:
    refused(tar_gz([special("shadow", tarfile.LNKTYPE, "/etc/shadow")]), dest, "hard link")


@pytest.mark.parametrize(
    ("kind", "what"),
    [(tarfile.CHRTYPE, "a device"), (tarfile.BLKTYPE, "a device"), (tarfile.FIFOTYPE, "a FIFO")],
)
def test_tar_devices_and_fifos_are_refused(kind: bytes, what: str, dest: Path) -> None:
    refused(tar_gz([special("node", kind)]), dest, what)


def test_unknown_tar_member_types_are_refused(dest: Path) -> None:
    # tarfile would hand a volume label to extractfile() as if it were a regular file.
    refused(tar_gz([special("label", b"V")]), dest, "tar type")


def test_a_zip_symlink_is_refused(dest: Path) -> None:
    refused(zip_of([zip_member("passwd", stat.S_IFLNK, b"/etc/passwd")]), dest, "symbolic link")


@pytest.mark.parametrize("file_type", [stat.S_IFIFO, stat.S_IFCHR, stat.S_IFBLK, stat.S_IFSOCK])
def test_zip_special_files_are_refused(file_type: int, dest: Path) -> None:
    refused(zip_of([zip_member("node", file_type)]), dest, "device, FIFO or socket")


# ---------------------------------------------------------------- names that mean two things


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_duplicate_names_are_refused(kind: str, dest: Path) -> None:
    if kind == "tar.gz":
        data = tar_gz([regular("test_a.py", b"one"), regular("test_a.py", b"two")])
    else:
        data = zip_of([("test_a.py", b"one"), ("test_a.py", b"two")])
    assert refused(data, dest, "appears more than once").member == "test_a.py"


def test_names_that_differ_only_by_dot_components_are_duplicates(dest: Path) -> None:
    refused(tar_gz([regular("a/b.py"), regular("./a//b.py")]), dest, "appears more than once")


@pytest.mark.parametrize("order", [["a", "a/b.py"], ["a/b.py", "a"]])
def test_a_path_that_is_both_file_and_folder_is_refused(order: list[str], dest: Path) -> None:
    refused(tar_gz(regular(name) for name in order), dest, "clashes")


@pytest.mark.parametrize(
    ("name", "match"),
    [("evil\x1b[2J.py", "control character"), ("new\nline.py", "control character"),
     ("a\\b.py", "backslash"), ("..\\..\\evil.py", "backslash"),
     ("x" * 300 + ".py", "component is longer"), ("/".join(["a" * 200] * 6), "longer than 1024 bytes")],
)  # fmt: skip
@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_bad_names_are_refused(kind: str, name: str, match: str, dest: Path) -> None:
    assert refused(build(kind, {name: b""}), dest, match).member == name


def test_a_nul_in_a_zip_name_is_refused_although_zipfile_would_cut_it(dest: Path) -> None:
    data = zip_of([("evilX.py", b"x")]).replace(b"evilX.py", b"evil\x00.py")
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["evil"]
    refused(data, dest, "NUL or control character")


def test_a_tar_name_that_is_not_utf8_is_refused(dest: Path) -> None:
    info, data = regular("caf\udce9.py")  # the byte 0xE9 alone, as tarfile reads it back
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.GNU_FORMAT,
                      encoding="utf-8", errors="surrogateescape") as archive:  # fmt: skip
        archive.addfile(info, io.BytesIO(data or b""))
    refused(buffer.getvalue(), dest, "not valid UTF-8")


def test_a_file_named_dot_is_refused(dest: Path) -> None:
    refused(tar_gz([regular("./")]), dest, "without a name")


# ---------------------------------------------------------------- counts and sizes


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_too_many_files(kind: str, dest: Path) -> None:
    tree = {f"test_{i}.py": b"" for i in range(4)}
    refused(build(kind, tree), dest, "more than 3 files", max_files=3)
    extract_archive(build(kind, tree), dest, max_files=4)


def test_too_many_entries_even_if_only_folders(dest: Path) -> None:
    data = tar_gz([special(f"d{i}", tarfile.DIRTYPE) for i in range(7)] + [regular("a.py")])
    refused(data, dest, "more than 6 entries", max_files=3)


def test_a_zip_listing_too_many_entries_is_refused_before_zipfile_loads_them(dest: Path) -> None:
    data = zip_of((f"{i}", b"") for i in range(4001))
    refused(data, dest, "the zip lists more than 4000 entries")


def test_a_zip_whose_end_record_understates_its_entries_is_still_counted(dest: Path) -> None:
    data = bytearray(zip_of((f"{i}", b"") for i in range(30)))
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, end + 8, 1, 1)
    refused(bytes(data), dest, "more than 20 entries", max_files=10)


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_one_file_over_the_size_cap(kind: str, dest: Path) -> None:
    error = refused(build(kind, {"ok.py": b"", "big.bin": b"x" * 1001}), dest, "larger than 1000 bytes",
                    max_file_bytes=1000)  # fmt: skip
    assert error.member == "big.bin"
    extract_archive(build(kind, {"big.bin": b"x" * 1000}), dest, max_file_bytes=1000)


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_files_adding_up_over_the_total_cap(kind: str, dest: Path) -> None:
    tree = {f"part{i}.bin": b"x" * 400 for i in range(3)}
    refused(build(kind, tree), dest, "add up to more than 1000 bytes", max_total_bytes=1000)


def test_an_archive_over_its_own_size_cap(dest: Path) -> None:
    refused(build("zip", TREE), dest, "larger than 100 bytes", max_archive_bytes=100)


# ---------------------------------------------------------------- bombs


def test_a_zip_bomb_is_refused_by_its_declared_size(dest: Path) -> None:
    data = zip_of([("bomb.bin", bytes(64 * MiB))])
    assert len(data) < MiB  # highly compressible: 64 MiB of zeros in a few dozen KiB
    refused(data, dest, f"larger than {MAX_FILE_BYTES} bytes")


def test_a_zip_bomb_of_many_small_files_stops_at_the_total_cap(dest: Path) -> None:
    data = zip_of((f"part{i}.bin", bytes(300 * 1024)) for i in range(6))
    refused(data, dest, "add up to more than", max_total_bytes=MiB)


def test_a_zip_whose_header_understates_a_member_never_writes_more_than_the_header_says(
    dest: Path,
) -> None:
    data = bytearray(zip_of([("liar.bin", bytes(4 * MiB))]))
    fake_crc = zlib.crc32(bytes(100))
    struct.pack_into("<III", data, 14, fake_crc, struct.unpack_from("<I", data, 18)[0], 100)
    central = data.find(b"PK\x01\x02")
    struct.pack_into(
        "<III", data, central + 16, fake_crc, struct.unpack_from("<I", data, central + 20)[0], 100
    )
    try:
        summary = extract_archive(bytes(data), dest, max_file_bytes=1000)
    except ArchiveError:
        assert not dest.exists()
    else:
        assert summary.bytes <= 100 and (dest / "liar.bin").stat().st_size <= 100


def test_a_gzip_bomb_is_refused_by_its_declared_size(dest: Path) -> None:
    data = tar_gz([regular("bomb.bin", bytes(64 * MiB))], level=1)
    assert len(data) < MiB
    refused(data, dest, f"larger than {MAX_FILE_BYTES} bytes")


def test_a_gzip_bomb_hidden_in_a_long_name_header_stops_at_the_stream_cap(dest: Path) -> None:
    # tarfile reads a GNU long-name record into memory whole, before we see any member.
    header = tarfile.TarInfo("././@LongLink")
    header.type, header.size = tarfile.GNUTYPE_LONGNAME, 8 * MiB
    stream = header.tobuf(format=tarfile.GNU_FORMAT) + b"a" * header.size + bytes(1024)
    refused(gzip.compress(stream, compresslevel=1), dest, "decompresses to more than",
            max_total_bytes=MiB, max_files=10)  # fmt: skip


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_a_nested_depth_bomb_is_refused(kind: str, dest: Path) -> None:
    name = "/".join(["d"] * 200 + ["deep.py"])
    refused(build(kind, {name: b""}), dest, "nested deeper than 32 folders")


# ---------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("data", "match"),
    [(b"", "empty"), (b"hello, world" * 100, "neither a tar.gz nor a zip"),
     (b"junk" + zip_of([("a.py", b"")]), "neither a tar.gz nor a zip"),
     (bytes(512), "neither"), (b"BZh91AY&SY" + bytes(100), "bzip2"),
     (b"\xfd7zXZ\x00" + bytes(100), "xz"), (b"Rar!\x1a\x07\x00", "RAR"),
     (b"7z\xbc\xaf\x27\x1c" + bytes(32), "7-Zip")],
)  # fmt: skip
def test_unknown_formats_are_refused_by_their_bytes(data: bytes, match: str, dest: Path) -> None:
    refused(data, dest, match)


def test_an_uncompressed_tar_is_refused_with_how_to_compress_it(dest: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info, data = regular("a.py")
        archive.addfile(info, io.BytesIO(data or b""))
    assert "tar -czf" in (refused(buffer.getvalue(), dest, "uncompressed tar").hint or "")


def test_gzip_of_something_else_is_refused(dest: Path) -> None:
    refused(gzip.compress(b"not a tar at all" * 100), dest, "cannot be read")


def test_a_truncated_archive_is_refused(dest: Path) -> None:
    data = build("tar.gz", TREE)
    refused(data[: len(data) // 2], dest, "cannot be read")
    zipped = build("zip", TREE)
    refused(zipped[: len(zipped) // 2], dest, "cannot be read")


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_an_archive_without_files_is_refused(kind: str, dest: Path) -> None:
    data = tar_gz([special("empty", tarfile.DIRTYPE)]) if kind == "tar.gz" else zip_of([])
    refused(data, dest, "holds no files")


def test_an_encrypted_zip_member_is_refused(dest: Path) -> None:
    data = bytearray(zip_of([("secret.py", b"x")]))
    data[6] |= 0x01  # general purpose flags, local header
    data[data.find(b"PK\x01\x02") + 8] |= 0x01  # and central directory
    refused(bytes(data), dest, "encrypted")


def test_unusual_zip_compression_is_refused(dest: Path) -> None:
    refused(zip_of([("a.py", b"x" * 100)], method=zipfile.ZIP_BZIP2), dest, "compression method 12")


# ---------------------------------------------------------------- the destination


def test_nothing_half_extracted_remains_after_a_late_refusal(dest: Path) -> None:
    data = tar_gz([regular("test_a.py"), regular("sub/test_b.py"), regular("../evil")])
    refused(data, dest, r"'\.\./evil'")
    assert not (dest.parent.parent / "evil").exists()


def test_the_destination_must_not_exist(tmp_path: Path) -> None:
    existing = tmp_path / "hidden"
    existing.mkdir()
    with pytest.raises(FileExistsError):
        extract_archive(build("zip", TREE), existing)
    assert list(existing.iterdir()) == []


def test_a_destination_that_is_a_link_is_never_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    link = tmp_path / "hidden"
    link.symlink_to(elsewhere)  # dangling: following it would create "elsewhere"
    with pytest.raises(FileExistsError):
        extract_archive(build("zip", TREE), link)
    assert not elsewhere.exists()


def test_the_error_explains_itself(dest: Path) -> None:
    error = refused(build("zip", {"../evil": b""}), dest, "contains")
    assert str(error).startswith("member '../evil':") and "How to fix:" in error.diagnostics()
    assert error.code == "input:invalid-archive"


# ---------------------------------------------------------------- properties

SEGMENT = st.sampled_from(["a", "b", "..", ".", "", "\u00e9", "C:", "x\\y", "n\x00", " ", "-v"])


@given(kind=st.sampled_from(["tar.gz", "zip"]), segments=st.lists(SEGMENT, min_size=1, max_size=5),
       leading_slash=st.booleans())  # fmt: skip
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_member_name_is_refused_or_lands_inside_the_folder(
    kind: str, segments: list[str], leading_slash: bool
) -> None:
    name = ("/" if leading_slash else "") + "/".join(segments)
    try:
        data = build(kind, {name: b"payload"})
    except (ValueError, IndexError):  # names tarfile or zipfile cannot even write
        assume(False)
        return
    with tempfile.TemporaryDirectory() as scratch:
        jail = Path(scratch) / "jail"
        target = jail / "hidden"
        try:
            extract_archive(data, target)
        except ArchiveError:
            assert not target.exists() and list(jail.iterdir()) == []
            return
        written = [p for p in Path(scratch).rglob("*") if p.is_file()]
        assert len(written) == 1 and written[0].read_bytes() == b"payload"
        assert written[0].resolve().is_relative_to(target.resolve())
        if "n\x00" not in segments:  # tarfile and zipfile cut a name at its NUL when writing
            assert ".." not in segments and not leading_slash


PATHS = st.lists(st.sampled_from(["a", "b", "test_x.py", "\u00e5"]), min_size=1, max_size=4).map(
    "/".join
)


@given(kind=st.sampled_from(["tar.gz", "zip"]),
       tree=st.dictionaries(PATHS, st.binary(max_size=64), min_size=1, max_size=6))  # fmt: skip
@settings(max_examples=40, deadline=None)
def test_any_tree_round_trips(kind: str, tree: dict[str, bytes]) -> None:
    folders = {"/".join(p.split("/")[:i]) for p in tree for i in range(1, p.count("/") + 1)}
    assume(not folders & tree.keys())  # a path cannot be both a file and a folder
    with tempfile.TemporaryDirectory() as scratch:
        target = Path(scratch) / "hidden"
        summary = extract_archive(build(kind, tree), target)
        assert read_tree(target) == tree and summary.files == len(tree)


GOOD_TAR = build("tar.gz", {"a.py": b"a" * 50, "d/b.py": b"b" * 50})
GOOD_ZIP = build("zip", {"a.py": b"a" * 50, "d/b.py": b"b" * 50})


@given(original=st.sampled_from([GOOD_TAR, GOOD_ZIP]), cut=st.integers(min_value=1),
       flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(1, 255)), max_size=4))  # fmt: skip
@settings(max_examples=150, deadline=None)
def test_damaged_archives_are_refused_cleanly(
    original: bytes, cut: int, flips: list[tuple[int, int]]
) -> None:
    data = bytearray(original[: max(4, len(original) - cut % len(original))])
    for index, mask in flips:
        data[index % len(data)] ^= mask
    with tempfile.TemporaryDirectory() as scratch:
        target = Path(scratch) / "hidden"
        try:
            extract_archive(bytes(data), target)
        except ArchiveError:
            assert not target.exists() and list(Path(scratch).iterdir()) == []
        else:
            assert all(not p.is_symlink() for p in target.rglob("*"))
