"""Small helpers the flows share: digests of inputs, replacing an output folder whole."""

from __future__ import annotations

import shutil
from pathlib import Path

from curation.bundle import sha256_file


def file_digests(named: dict[str, Path]) -> dict[str, str]:
    """sha256 of each input, under a name that does not depend on where the file sits."""
    missing = [str(p) for p in named.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"input missing: {', '.join(missing)}")
    return {name: sha256_file(path) for name, path in sorted(named.items())}


def replace_dir(new: Path, target: Path) -> None:
    """Put `new` in place of `target`; the old one is removed only once the new one is there."""
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def git_commit() -> str | None:
    """The commit of the code that runs, when it runs from a git checkout."""
    import subprocess

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
    return out.stdout.strip() or None if out.returncode == 0 else None
