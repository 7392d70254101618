"""Release store on the local filesystem: stage, then publish by one atomic rename.

Layout: <root>/<dataset>/<version>/ for published versions, <root>/<dataset>/.staging/ for builds
in progress. A crash leaves at most a staging folder, never a half version; a published version
is never overwritten.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import uuid
from pathlib import Path

VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")


class VersionExistsError(RuntimeError):
    """The version is already published; published versions are immutable."""


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """Flush every file and every folder under `root` (and `root`) to disk, so a power loss
    after the publishing rename cannot leave a version with missing entries."""
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with path.open("rb") as fh:
                os.fsync(fh.fileno())
        elif path.is_dir():
            fsync_dir(path)
    fsync_dir(root)


class LocalStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def version_dir(self, dataset: str, version: str) -> Path:
        return self.root / dataset / version

    def versions(self, dataset: str) -> list[str]:
        base = self.root / dataset
        if not base.is_dir():
            return []
        found = [p.name for p in base.iterdir() if p.is_dir() and VERSION_RE.match(p.name)]
        return sorted(found, key=lambda v: tuple(int(x) for x in v.split(".")))

    def check_unpublished(self, dataset: str, version: str) -> None:
        """Raise VersionExistsError if the version is already published."""
        if self.version_dir(dataset, version).exists():
            raise self._exists_error(dataset, version)

    def _exists_error(self, dataset: str, version: str) -> VersionExistsError:
        return VersionExistsError(
            f"{dataset} {version} is already published at {self.version_dir(dataset, version)}; "
            "published versions are immutable: release a new version instead"
        )

    def stage(self, dataset: str, version: str) -> Path:
        """A fresh, private folder to build the version in."""
        self.check_unpublished(dataset, version)
        staging = self.root / dataset / ".staging" / f"{version}-{uuid.uuid4().hex[:12]}"
        staging.mkdir(parents=True)
        return staging

    def publish(self, staging: Path, dataset: str, version: str) -> Path:
        """Make the staged build the published version, all at once."""
        target = self.version_dir(dataset, version)
        fsync_tree(staging)
        try:
            # rename(2) onto an existing non-empty folder fails, so two publishers cannot both win.
            if target.exists():
                raise self._exists_error(dataset, version)
            staging.rename(target)
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                raise self._exists_error(dataset, version) from None
            raise
        fsync_dir(target.parent)
        return target

    def discard(self, staging: Path) -> None:
        shutil.rmtree(staging, ignore_errors=True)
