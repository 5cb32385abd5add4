"""The published JSON Schemas, by name: the acceptance spec and the report predicate.

They are generated (acceptance/engine/spec_schema.py, report_schema.py), committed under
docs/schemas/ and served at /api/v1/schemas/<name>.json. After a change to the spec or the
report, regenerate the committed files with::

    python -m acceptance.engine.schemas          # write docs/schemas/*.schema.json
    python -m acceptance.engine.schemas --check  # exit 1 when they are out of date
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from acceptance.engine.report_schema import predicate_schema
from acceptance.engine.spec_schema import spec_schema

#: each published schema's name (its URL and file name) and what builds it
SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {
    "acceptance-spec": spec_schema,
    "report-predicate": predicate_schema,
}
#: the media type a schema is served as
MEDIA_TYPE = "application/schema+json"
#: where the committed copies live, from the repository's root
DOCS_FOLDER = Path("docs") / "schemas"


@functools.cache
def rendered(name: str) -> bytes:
    """The schema ``name`` as the committed file holds it; ``KeyError`` for an unknown name."""
    text = json.dumps(SCHEMAS[name](), indent=2, ensure_ascii=False) + "\n"
    return text.encode("utf-8")


def etag(name: str) -> str:
    """A strong validator of ``rendered(name)``: its sha256 (the first 32 hex digits)."""
    return hashlib.sha256(rendered(name)).hexdigest()[:32]


def file_name(name: str) -> str:
    """The committed file's name: ``acceptance-spec.schema.json``."""
    return f"{name}.schema.json"


def stale(folder: Path) -> list[str]:
    """The schemas whose file under ``folder`` is missing or differs from what is generated."""
    out_of_date = []
    for name in SCHEMAS:
        path = folder / file_name(name)
        if not path.is_file() or path.read_bytes() != rendered(name):
            out_of_date.append(name)
    return out_of_date


def write(folder: Path) -> list[Path]:
    """Write every schema under ``folder``; return the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SCHEMAS:
        path = folder / file_name(name)
        path.write_bytes(rendered(name))
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Write the schemas into docs/schemas/, or with --check say whether they are current.

    Exit codes: 0 written or current, 1 out of date (--check).
    """
    parser = argparse.ArgumentParser(prog="python -m acceptance.engine.schemas")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if stale")
    parser.add_argument("--folder", type=Path, default=DOCS_FOLDER, help=f"default: {DOCS_FOLDER}")
    args = parser.parse_args(argv)
    if args.check:
        names = stale(args.folder)
        for name in names:
            print(f"{args.folder / file_name(name)}: out of date; run "
                  "`python -m acceptance.engine.schemas`", file=sys.stderr)  # fmt: skip
        return 1 if names else 0
    for path in write(args.folder):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
