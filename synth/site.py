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
    return SiteConfig(
        access=access,
        smtp_port=smtp_port,
        state=root / "site.sqlite3",
        secret_file=root / "keys" / "site.key",
        curator_password_file=root / "keys" / "curator.argon2",
        **settings,
    )
