"""Release store on the local filesystem: stage, then publish by one atomic rename.

Layout:
    <root>/<dataset>/<version>/        a published version: manifest.json + its files
    <root>/<dataset>/objects/ab/<sha256>   content-addressed file objects
    <root>/<dataset>/.staging/         builds in progress
    <root>/<dataset>/withdrawn.json    withdrawn versions (when, why, purge due)
    <root>/<dataset>/store-log.jsonl   withdrawals and purges, one JSON line each
    <root>/<dataset>/coverage.json     the opt-out batch every served version must be checked
                                       against, and the batch each version was checked against
A version's files are hard links to their objects, so every tool can read a version's folder as
it is, while a file that did not change between versions (a shard no opt-out touched) is stored
once: a patch release links it instead of writing it. A crash leaves at most a staging folder,
never a half version; a published version is never overwritten.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from storage.files import fsync_dir, fsync_tree
from storage.runs import ReleaseBuild

VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")


def unchecked_batch(store: Any, dataset: str, version: str) -> int | None:
    """The opt-out batch `version` has not been checked against yet, or None when it has.

    The opt-out flow raises the store's required batch before it saves a new blocklist batch,
    and marks each version it checked; a version is also checked against the batch its
    manifest commits to. A run killed in between leaves versions unchecked, and the access desk
    serves none of them until a run finishes the check (a patch, or a mark)."""
    coverage = store.coverage(dataset)
    required = int(coverage.get("required", 0))
    if not required:
        return None
    committed = store.read_manifest(dataset, version).get("blocklist", {}).get("batch") or 0
    checked = max(int(committed), int(coverage.get("checked", {}).get(version, 0)))
    return required if checked < required else None


def newest_live(versions: list[str], withdrawn: dict[str, Any]) -> str | None:
    """The newest of `versions` (in version order) that is not withdrawn."""
    live = [v for v in versions if v not in withdrawn]
    return live[-1] if live else None


class VersionExistsError(RuntimeError):
    """The version is already published; published versions are immutable."""


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

    def read_manifest(self, dataset: str, version: str) -> dict[str, Any]:
        path = self.version_dir(dataset, version) / "manifest.json"
        if not path.is_file():
            raise FileNotFoundError(f"{dataset} {version} is not published in {self.root}")
        return dict(json.loads(path.read_text(encoding="utf-8")))

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

    def object_path(self, dataset: str, sha256: str) -> Path:
        return self.root / dataset / "objects" / sha256[:2] / sha256

    def link_object(self, dataset: str, sha256: str, dest: Path) -> None:
        """Put a stored object at `dest` (a staging path) without writing its bytes again."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.link(self.object_path(dataset, sha256), dest)

    def _store_objects(self, staging: Path, dataset: str) -> None:
        """Every file the staged manifest lists becomes (or joins) its content object."""
        manifest = json.loads((staging / "manifest.json").read_text(encoding="utf-8"))
        for entry in manifest["files"]:
            path, obj = staging / entry["path"], self.object_path(dataset, entry["sha256"])
            if obj.exists():
                if not obj.samefile(path):  # same bytes written again: keep one copy
                    tmp = path.with_name(f".{path.name}.link")
                    os.link(obj, tmp)
                    os.replace(tmp, path)
                continue
            obj.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(path, 0o444)  # objects are immutable; every version shares the inode
            os.link(path, obj)
            fsync_dir(obj.parent)

    def publish(self, staging: Path, dataset: str, version: str) -> Path:
        """Make the staged build the published version, all at once."""
        target = self.version_dir(dataset, version)
        if target.exists():
            raise self._exists_error(dataset, version)
        self._store_objects(staging, dataset)
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

    def builds_dir(self, dataset: str) -> Path:
        """Beside the versions, not in them: build records name local paths, and the leak
        gate's keyed needles are for the curator only."""
        return self.root / dataset / ".builds"

    def record_build(self, dataset: str, version: str, record: dict[str, Any]) -> None:
        """What a version was built from (config, inputs, blocklist batch), for rebuilds;
        written before the version is published, so no published version lacks one."""
        path = self.build(dataset, version).record
        path.parent.mkdir(parents=True, exist_ok=True)
        self._write_json(path, record)

    def build(self, dataset: str, version: str) -> ReleaseBuild:
        """The private records of `version` (build record, needles, exclusions, funnel)."""
        return ReleaseBuild(self.builds_dir(dataset), version)

    def build_record(self, dataset: str, version: str) -> dict[str, Any]:
        path = self.build(dataset, version).record
        if not path.is_file():
            raise FileNotFoundError(f"no build record for {dataset} {version} at {path}")
        return dict(json.loads(path.read_text(encoding="utf-8")))

    # Withdrawal and retention -------------------------------------------------------------

    def _withdrawn_path(self, dataset: str) -> Path:
        return self.root / dataset / "withdrawn.json"

    def withdrawn(self, dataset: str) -> dict[str, dict[str, Any]]:
        path = self._withdrawn_path(dataset)
        return dict(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else {}

    def coverage(self, dataset: str) -> dict[str, Any]:
        """{"required": batch, "checked": {version: batch}} (see unchecked_batch)."""
        path = self.root / dataset / "coverage.json"
        return dict(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else {}

    def require_batch(self, dataset: str, batch: int) -> None:
        doc = self.coverage(dataset)
        doc["required"] = max(int(doc.get("required", 0)), batch)
        (self.root / dataset).mkdir(parents=True, exist_ok=True)
        self._write_json(self.root / dataset / "coverage.json", doc)

    def mark_checked(self, dataset: str, versions: list[str], batch: int) -> None:
        doc = self.coverage(dataset)
        checked = doc.setdefault("checked", {})
        for version in versions:
            checked[version] = max(int(checked.get(version, 0)), batch)
        (self.root / dataset).mkdir(parents=True, exist_ok=True)
        self._write_json(self.root / dataset / "coverage.json", doc)

    def _write_json(self, path: Path, doc: dict[str, Any]) -> None:
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)

    def log_event(self, dataset: str, event: dict[str, Any]) -> None:
        """Append one event to the store log (fsynced: a purge is never silent)."""
        with (self.root / dataset / "store-log.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(event, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def withdraw(
        self, dataset: str, version: str, reason: str, retention_days: int, now: datetime
    ) -> bool:
        """Mark a published version withdrawn; its unique files go after `retention_days`.
        False when it was already withdrawn."""
        if not self.version_dir(dataset, version).is_dir():
            raise FileNotFoundError(f"{dataset} {version} is not published in {self.root}")
        marks = self.withdrawn(dataset)
        if version in marks:
            return False
        marks[version] = {
            "withdrawn_at": now.isoformat(timespec="seconds"),
            "reason": reason,
            "purge_after": (now + timedelta(days=retention_days)).isoformat(timespec="seconds"),
            "purged_at": None,
        }
        self._write_json(self._withdrawn_path(dataset), marks)
        self.log_event(
            dataset,
            {
                "event": "withdraw",
                "version": version,
                "reason": reason,
                "at": now.isoformat(timespec="seconds"),
            },
        )
        return True

    def purge_due(self, dataset: str, now: datetime | None = None) -> list[dict[str, Any]]:
        """Delete the files of withdrawn versions past their retention. The manifest stays (the
        version stays listed, as withdrawn); objects no other version links are deleted."""
        now = now or datetime.now(UTC)
        marks = self.withdrawn(dataset)
        done = []
        for version, mark in sorted(marks.items()):
            if mark["purged_at"] or datetime.fromisoformat(mark["purge_after"]) > now:
                continue
            folder = self.version_dir(dataset, version)
            manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
            files = objects = freed = 0
            for entry in manifest["files"]:
                path = folder / entry["path"]
                if path.exists():
                    path.unlink()
                    files += 1
                obj = self.object_path(dataset, entry["sha256"])
                if obj.exists() and obj.stat().st_nlink == 1:  # no version links it any more
                    freed += obj.stat().st_size
                    obj.unlink()
                    objects += 1
            for sub in sorted(folder.rglob("*"), reverse=True):
                if sub.is_dir() and not any(sub.iterdir()):
                    sub.rmdir()
            mark["purged_at"] = now.isoformat(timespec="seconds")
            event = {
                "event": "purge",
                "version": version,
                "files_removed": files,
                "objects_deleted": objects,
                "bytes_freed": freed,
                "at": mark["purged_at"],
            }
            self.log_event(dataset, event)
            done.append(event)
        if done:
            self._write_json(self._withdrawn_path(dataset), marks)
        self.collect_garbage(dataset, now)
        return done

    def collect_garbage(
        self, dataset: str, now: datetime, grace: timedelta = timedelta(days=1)
    ) -> dict[str, int]:
        """Delete what a crash left: staging folders, and objects no kept manifest lists
        (stored before a publish that never happened). Only things older than `grace`, so a
        publisher still at work keeps its own; logged when anything goes."""
        marks = self.withdrawn(dataset)
        listed: set[str] = set()
        for version in self.versions(dataset):
            if not marks.get(version, {}).get("purged_at"):
                manifest = self.version_dir(dataset, version) / "manifest.json"
                doc = json.loads(manifest.read_text(encoding="utf-8"))
                listed |= {entry["sha256"] for entry in doc["files"]}
        cutoff = (now - grace).timestamp()
        removed = {"objects_deleted": 0, "bytes_freed": 0, "staging_removed": 0}
        for obj in sorted((self.root / dataset / "objects").glob("*/*")):
            if obj.name not in listed and obj.stat().st_mtime < cutoff:
                removed["bytes_freed"] += obj.stat().st_size
                obj.unlink()
                removed["objects_deleted"] += 1
        staging = self.root / dataset / ".staging"
        for folder in sorted(staging.glob("*")) if staging.is_dir() else []:
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                removed["staging_removed"] += 1
        if any(removed.values()):
            self.log_event(
                dataset, {"event": "gc", **removed, "at": now.isoformat(timespec="seconds")}
            )
        return removed
