"""The advisory store's shared vocabulary: ecosystems, errors, what an import and a source say."""

from __future__ import annotations

from dataclasses import dataclass

from packaging.utils import canonicalize_name

from acceptance.errors import PlatformError, UserInputError
from checks import nswg

#: the ecosystem the Python audit reads (and the default of every ecosystem argument)
ECOSYSTEM = "PyPI"
NPM = nswg.ECOSYSTEM
HINT_IMPORT = "import one with `acceptance advisories import ARCHIVE`"


class AdvisoryStoreError(PlatformError):
    """The advisory store is missing or unreadable: the platform cannot audit."""

    code = "advisories:unavailable"


class ArchiveError(UserInputError):
    """The archive given to ``import_archive`` cannot be used."""

    code = "advisories:invalid-archive"


@dataclass(frozen=True)
class ImportSummary:
    """What one import put into the store."""

    source: str
    format: str
    sha256: str
    records: int
    withdrawn: int
    packages: int
    skipped: int
    newest_modified: str | None
    imported_at: str
    seconds: float
    #: the source (ecosystem) the import added or replaced
    ecosystem: str = ECOSYSTEM
    #: the other sources, carried over unchanged
    kept: tuple[str, ...] = ()
    #: the store's size in bytes after the import
    store_bytes: int = 0


@dataclass(frozen=True)
class StoreStatus:
    """What the store holds; ``records == 0`` means nothing was imported."""

    records: int
    withdrawn: int = 0
    packages: int = 0
    source: str | None = None
    format: str | None = None
    sha256: str | None = None
    imported_at: str | None = None
    newest_modified: str | None = None
    ecosystem: str = ECOSYSTEM
    #: records the import could not use (not in ``to_dict``: reports keep their fields)
    skipped: int = 0

    def to_dict(self) -> dict[str, object]:
        """The status as JSON-ready fields (what reports record as ``advisory_data``)."""
        return {
            "records": self.records,
            "withdrawn": self.withdrawn,
            "packages": self.packages,
            "source": self.source,
            "format": self.format,
            "sha256": self.sha256,
            "imported_at": self.imported_at,
            "newest_modified": self.newest_modified,
        }


def package_key(name: str, ecosystem: str = ECOSYSTEM) -> str:
    """How the store indexes a package name: PEP 503 for PyPI, npm names as they are."""
    return canonicalize_name(name) if ecosystem == ECOSYSTEM else name.strip()
