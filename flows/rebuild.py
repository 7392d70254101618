"""`massiv release rebuild <version>`: build a published version again from its recorded inputs,
in a scratch store, and compare every byte.

A release is rebuilt by the release flow from its recorded config, with the blocklist cut at the
batch it used; a patch from its parent (copied into the scratch store) and that blocklist batch.
Inputs whose digest changed since are named, since then no byte match can be expected.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from curation.config import ReleaseConfig
from curation.release import bundle
from curation.release.patch import patch_release
from curation.release.versions import code_version
from privacy.blocklist import load_blocklist
from storage.local import LocalStore


@dataclass
class RebuildReport:
    version: str
    identical: bool
    differing: list[str] = field(default_factory=list)  # paths whose bytes differ
    notes: list[str] = field(default_factory=list)


def _copy_version(source: LocalStore, target: LocalStore, dataset: str, version: str) -> None:
    """A published version into the scratch store (files and their objects)."""
    src = source.version_dir(dataset, version)
    manifest = bundle.read_manifest(src)
    shutil.copytree(src, target.version_dir(dataset, version))
    for entry in manifest["files"]:
        obj = target.object_path(dataset, entry["sha256"])
        if not obj.exists():
            obj.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source.object_path(dataset, entry["sha256"]), obj)


def compare(original: Path, rebuilt: Path) -> list[str]:
    """Paths (manifest.json included) whose bytes differ or that only one side has."""
    a = {f["path"]: f["sha256"] for f in bundle.read_manifest(original)["files"]}
    b = {f["path"]: f["sha256"] for f in bundle.read_manifest(rebuilt)["files"]}
    differ = sorted(p for p in a.keys() | b.keys() if a.get(p) != b.get(p))
    if (original / bundle.MANIFEST).read_bytes() != (rebuilt / bundle.MANIFEST).read_bytes():
        differ.append(bundle.MANIFEST)
    return differ


def rebuild(
    store_root: Path, dataset: str, version: str, scratch: Path | None = None
) -> RebuildReport:
    store = LocalStore(store_root)
    record = store.build_record(dataset, version)
    original = store.version_dir(dataset, version)
    manifest = bundle.read_manifest(original)
    work = Path(tempfile.mkdtemp(prefix="massiv-rebuild-", dir=scratch))
    try:
        target = LocalStore(work / "releases")
        parent = manifest.get("parent")
        if parent:
            _copy_version(store, target, dataset, parent)
        if record["kind"] == "patch":
            blocklist = load_blocklist(Path(record["opt_out_dir"])).upto(record["blocklist_batch"])
            patch_release(target, dataset, record["parent"], version, blocklist, code_version())
        else:
            from flows.release import release  # Prefect only when a release is rebuilt

            config = ReleaseConfig.model_validate(record["config"] | {"store": str(target.root)})
            release(config, blocklist_batch=record["blocklist_batch"])
        differing = compare(original, target.version_dir(dataset, version))
        rebuilt_manifest = bundle.read_manifest(target.version_dir(dataset, version))
        notes = [
            f"input {name} changed since the build"
            for name, digest in manifest.get("inputs", {}).items()
            if rebuilt_manifest.get("inputs", {}).get(name) != digest
        ]
        if manifest.get("code_version") != rebuilt_manifest.get("code_version"):
            notes.append(
                f"code version differs: built with {manifest.get('code_version')}, rebuilt with "
                f"{rebuilt_manifest.get('code_version')}"
            )
        return RebuildReport(version, not differing, differing, notes)
    finally:
        shutil.rmtree(work, ignore_errors=True)
