"""Version numbers: what comes next, which published version a step starts from, and the
version of the code that builds it."""

from __future__ import annotations

import subprocess
from importlib.metadata import version as package_version
from pathlib import Path

from curation.config import ReleaseConfig
from storage.local import LocalStore, newest_live
from storage.s3 import S3Store


def bump_version(version: str | None, part: str) -> str:
    """The version after `version` (None: nothing published yet → 1.0.0)."""
    if version is None:
        return "1.0.0"
    major, minor, patch = (int(x) for x in version.split("."))
    return {
        "major": f"{major + 1}.0.0",
        "minor": f"{major}.{minor + 1}.0",
        "patch": f"{major}.{minor}.{patch + 1}",
    }[part]


def next_patch(version: str) -> str:
    return bump_version(version, "patch")


def resolve_version(config: ReleaseConfig) -> ReleaseConfig:
    """The config with `bump` turned into a version (and a default parent); unchanged
    without `bump`."""
    if config.bump is None:
        return config
    store = LocalStore(config.store)
    published = set(store.versions(config.dataset))
    if config.s3_url:
        published |= set(S3Store(config.s3_url).versions(config.dataset))
    ordered = sorted(published, key=lambda v: tuple(int(x) for x in v.split(".")))
    newest = ordered[-1] if ordered else None
    parent = config.parent
    if parent is None:
        with_files = [
            v for v in ordered if (store.version_dir(config.dataset, v) / "labeled").is_dir()
        ]
        parent = with_files[-1] if with_files else None
    return config.model_copy(
        update={"version": bump_version(newest, config.bump), "parent": parent, "bump": None}
    )


def patch_base(store: LocalStore, dataset: str) -> str | None:
    """The newest version whose files are still there, withdrawn or not: a patch whose run
    failed left its parent withdrawn, and the next run must still patch it."""
    if not (store.root / dataset).is_dir():
        return None
    withdrawn = store.withdrawn(dataset)
    kept = [v for v in store.versions(dataset) if not withdrawn.get(v, {}).get("purged_at")]
    return kept[-1] if kept else None


def latest_version(store: LocalStore, dataset: str) -> str | None:
    """The newest version researchers may use (not withdrawn)."""
    return newest_live(store.versions(dataset), store.withdrawn(dataset))


def git_commit() -> str | None:
    """The commit of the code that runs, when it runs from a git checkout."""
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def code_version() -> dict[str, str | None]:
    """What a manifest records as the code that built it."""
    return {"massiv": package_version("massiv"), "git_commit": git_commit()}
