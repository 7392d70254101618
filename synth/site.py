"""A site whose every file lives under one folder (tests and benchmarks): the store of dataset
"d" at `root/store`, the desk's folder, keys and state beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curation.config import SiteConfig
from privacy.config import AccessConfig


def site_config(root: Path, smtp_port: int, **settings: Any) -> SiteConfig:
    access = AccessConfig(
        access_dir=root / "access",
        store=root / "store",
        dataset="d",
        signing_key=root / "keys" / "log.key",
        token_secret=root / "keys" / "token.key",
    )
    # Every path under `root`: the defaults are relative to the working directory (the repo).
    paths = {
        "state": root / "site.sqlite3",
        "secret_file": root / "keys" / "site.key",
        "curator_password_file": root / "keys" / "curator.argon2",
        "opt_out_requests": root / "opt_out_requests.csv",
        "opt_out_dir": root / "optout",
        "media_root": str(root / "media"),
        "takedowns": None,
        "export_dir": root / "export",
        "curation_dir": root / "curation",
    }
    return SiteConfig(access=access, smtp_port=smtp_port, **{**paths, **settings})
