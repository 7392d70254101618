"""The version an on-demand release publishes: given, or bumped from the newest published."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from curation.config import ConfigError, ReleaseConfig, load_config
from curation.release.patch import patch_release
from curation.release.versions import bump_version, resolve_version
from privacy.blocklist import Blocklist
from storage.local import LocalStore
from tests.curation.release.test_build import block, publish


def test_bumps() -> None:
    assert bump_version(None, "minor") == "1.0.0"
    assert bump_version("1.2.3", "patch") == "1.2.4"
    assert bump_version("1.2.3", "minor") == "1.3.0"
    assert bump_version("1.2.3", "major") == "2.0.0"
    assert bump_version("1.9.0", "minor") == "1.10.0"  # numbers, not strings


def test_a_bump_follows_the_newest_version_ever_published(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    config = ReleaseConfig(dataset="d", store=store.root, bump="minor")
    first = resolve_version(config)
    assert (first.version, first.parent, first.bump) == ("1.0.0", None, None)
    publish(store, "1.0.0", Blocklist.empty())
    patch_release(store, "d", "1.0.0", "1.0.1", block(Blocklist.empty(), videos=[101]))
    assert (resolve_version(config).version, resolve_version(config).parent) == ("1.1.0", "1.0.1")
    # A withdrawn and purged version still counts (versions are never reused), but its files
    # are gone, so the parent is the newest version that has them.
    now = datetime(2026, 3, 1, tzinfo=UTC)
    store.withdraw("d", "1.0.1", "opt-out", 0, now)
    store.purge_due("d", now)
    bumped = resolve_version(config.model_copy(update={"bump": "major"}))
    assert (bumped.version, bumped.parent) == ("2.0.0", "1.0.0")
    assert resolve_version(ReleaseConfig(version="3.1.4")).version == "3.1.4"  # no bump


def test_a_bad_bump_names_the_field() -> None:
    with pytest.raises(ConfigError, match="bump"):
        load_config(ReleaseConfig, None, bump="huge")


def test_a_version_and_a_bump_together_are_refused() -> None:
    with pytest.raises(ConfigError, match="a version or a bump, not both"):
        load_config(ReleaseConfig, None, version="2.0.0", bump="minor")
