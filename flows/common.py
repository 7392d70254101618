"""Small helpers the flows share: curation run folders and the code version."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from curation.config import AccessConfig
from curation.store import fsync_dir, fsync_tree

RUN_MARKER = "run.json"  # written last: a run folder with it is complete


def runs_dir(target: Path) -> Path:
    return target.with_name(target.name + ".runs")


def new_run_dir(target: Path) -> Path:
    """A private folder for one curation run; concurrent runs never share one."""
    run = runs_dir(target) / f"{datetime.now(UTC):%Y%m%dT%H%M%S.%fZ}-{uuid.uuid4().hex[:8]}"
    run.mkdir(parents=True)
    return run


def point_to_run(run: Path, target: Path, keep: int = 3) -> None:
    """Make `target` a link to the finished `run` in one atomic rename, then prune old runs.

    Readers that resolve `target` once (the release flow does) see one whole run, never a mix
    and never a missing folder. The `keep` newest complete runs stay, so a release that is still
    reading an older run is not pulled from under it.
    """
    fsync_tree(run)
    link = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.link")
    os.symlink(os.path.relpath(run, target.parent), link)
    if target.exists() and not target.is_symlink():
        target.rename(runs_dir(target) / f"00000000-previous-{uuid.uuid4().hex[:8]}")
    os.replace(link, target)
    fsync_dir(target.parent)
    complete = sorted(p for p in runs_dir(target).iterdir() if (p / RUN_MARKER).is_file())
    for old in complete[:-keep]:
        if old.resolve() != run.resolve():
            shutil.rmtree(old, ignore_errors=True)


def git_commit() -> str | None:
    """The commit of the code that runs, when it runs from a git checkout."""
    root = Path(__file__).resolve().parent.parent
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


def audit(access: AccessConfig | None, event: str, details: dict[str, Any]) -> None:
    """Write one event (a release published or withdrawn, opt-outs applied) to the access log,
    when the flow has one."""
    if access is None:
        return
    from privacy.access_log import AccessLog, load_signing_key

    log = AccessLog(
        access.access_dir / "access-log.jsonl",
        load_signing_key(access.signing_key),
        access.checkpoint_every,
    )
    log.append(event, "massiv", details)
