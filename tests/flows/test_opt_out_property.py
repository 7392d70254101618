"""Stateful property: over any interleaving of new posts, curation runs, opt-out requests,
releases, patch releases and crashes, no opted-out video or creator is in the latest release,
and a video keeps its pseudonym in every version (same key version).

The steps call the same functions the flows call (the blocklist curation stage, the release's
blocklist filter and masking, opt-out intake and resolution, `publish_patch`), without Prefect.
"""

from __future__ import annotations

import contextlib
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import polars as pl
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from curation.config import MaskingConfig, OptOutConfig
from curation.release import bundle
from curation.release.assemble import ReleaseRows, drop_blocklisted
from curation.release.build import changelog_entry, publish_release
from curation.release.patch import publish_patch
from curation.release.verify import read_data, verify_release
from curation.release.versions import latest_version
from privacy.blocklist import add_entries, flag_blocked, load_blocklist, save_blocklist
from privacy.keys import PseudonymKey
from privacy.leak_gate import needles_from_source
from privacy.masking import mask_posts
from privacy.opt_out import new_entries, parse_requests, resolve_requests
from privacy.pseudonyms import pseudonym
from storage.local import LocalStore
from synth.release_rows import release_header

KEY = PseudonymKey("k1", bytes(range(32)))
SITE = "https://sharevideo.example"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
AGREEMENT = pl.DataFrame(bundle.SCHEMAS["agreement"].empty_table())
LABELS = {"concept": "dance", "affect": "happy", "audio_type": "music", "video_type": "single"}


class Crash(RuntimeError):
    pass


class CrashingStore(LocalStore):
    """Dies after the objects are stored and before the version's rename: the worst moment."""

    def publish(self, staging: Path, dataset: str, version: str) -> Path:
        self._store_objects(staging, dataset)
        raise Crash("publisher killed")


def source_rows(ids: list[int], creator_of: dict[int, int]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "post_id": ids,
            "creator_id": [creator_of[i] for i in ids],
            "created_ts": [datetime(2021, 3, 1 + i % 28, tzinfo=UTC) for i in ids],
            "created_at": [f"2021-03-{1 + i % 28:02d}T10:00:00Z" for i in ids],
            "language": "hi",
            "duration_s": 20.0,
            "view_count": 10,
            "like_count": 1,
            "share_count": 0,
            "comment_count": 0,
            "caption": "गाना",
            "hashtags": "#dance",
            "media_sha256": [f"m{i}" for i in ids],
        },
        schema_overrides={"post_id": pl.Int64, "creator_id": pl.Int64},
    )


@settings(
    max_examples=30,
    stateful_step_count=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
class OptOutLifecycle(RuleBasedStateMachine):
    @initialize(n=st.integers(2, 8), creators=st.integers(1, 3))
    def setup(self, n: int, creators: int) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="optout-sm-"))
        self.store = LocalStore(self.root / "releases")
        self.opt_out_folder = self.root / "optout"
        self.creator_of: dict[int, int] = {}
        self.curated: list[int] = []
        self.opted_videos: set[int] = set()
        self.opted_creators: set[int] = set()
        self.minor = 0
        self.next_post = 7_000_000_000_001  # platform-sized IDs: the leak gate looks for them
        self.requests = 0
        self.new_posts(n, creators, reuse=False)
        self.curate()

    # The platform and curation ------------------------------------------------------------

    @rule(n=st.integers(1, 6), creators=st.integers(1, 3), reuse=st.booleans())
    def new_posts(self, n: int, creators: int, reuse: bool) -> None:
        known = sorted(set(self.creator_of.values()))
        for i in range(n):
            post = self.next_post
            self.next_post += 1
            fresh = 3_000_000_000 + post % creators + 10 * len(known)
            self.creator_of[post] = known[i % len(known)] if reuse and known else fresh

    @rule()
    def curate(self) -> None:
        """The curation run's blocklist stage over every post of the platform."""
        posts = source_rows(sorted(self.creator_of), self.creator_of)
        blocklist = load_blocklist(self.opt_out_folder)
        flagged = flag_blocked(posts.lazy(), blocklist, KEY).collect()
        self.curated = flagged.filter(pl.col("exclusion_reason").is_null())["post_id"].to_list()

    # Opt-outs ----------------------------------------------------------------------------

    def _process(self, scope: str, target: str, crash: bool) -> None:
        """Intake → blocklist → patch and withdrawal, as the opt_out flow does; with `crash`,
        the patch's publisher dies after storing objects, and the next run completes it."""
        self.requests += 1
        raw = pl.DataFrame(
            {
                "request_id": [f"r{self.requests}"],
                "received_at": ["2022-01-01T00:00:00Z"],
                "requester_email": ["a@b.example"],
                "scope": [scope],
                "target": [target],
            }
        )
        ids = sorted(self.creator_of)
        posts = source_rows(ids, self.creator_of).lazy() if ids else source_rows([], {}).lazy()
        creators = pl.LazyFrame(
            {
                "creator_id": sorted(set(self.creator_of.values())),
                "handle": [f"h{c}" for c in sorted(set(self.creator_of.values()))],
            },
            schema={"creator_id": pl.Int64, "handle": pl.String},
        )
        resolved, matched = resolve_requests(parse_requests(raw, SITE), posts, creators)
        copies = pl.DataFrame(schema={"request_id": pl.String, "post_id": pl.Int64})
        blocklist = load_blocklist(self.opt_out_folder)
        blocklist, _ = add_entries(blocklist, new_entries(resolved, matched, copies, KEY), KEY)
        save_blocklist(self.opt_out_folder, blocklist)
        if resolved["status"][0] == "matched":
            if scope == "video":
                self.opted_videos |= set(matched["post_id"].drop_nulls())
            else:
                self.opted_creators |= set(matched["creator_id"].drop_nulls())
        if crash:
            before = self.store.versions("d")
            with (
                mock.patch("curation.release.patch.LocalStore", CrashingStore),
                contextlib.suppress(Crash),
            ):
                publish_patch(self.config(), blocklist, NOW, KEY)
            assert self.store.versions("d") == before  # nothing half-written is visible
            assert not any((self.store.root / "d" / ".staging").glob("*"))
        publish_patch(self.config(), blocklist, NOW, KEY)

    def config(self) -> OptOutConfig:
        return OptOutConfig(store=self.store.root, opt_out_dir=self.opt_out_folder, dataset="d")

    @precondition(lambda self: self.creator_of)
    @rule(data=st.data(), crash=st.booleans())
    def opt_out_video(self, data: st.DataObject, crash: bool) -> None:
        post = data.draw(st.sampled_from(sorted(self.creator_of)))
        self._process("video", f"{SITE}/@h{self.creator_of[post]}/video/{post}", crash)

    @precondition(lambda self: self.creator_of)
    @rule(data=st.data(), crash=st.booleans())
    def opt_out_creator(self, data: st.DataObject, crash: bool) -> None:
        creator = data.draw(st.sampled_from(sorted(set(self.creator_of.values()))))
        self._process("creator", f"{SITE}/@h{creator}", crash)

    @rule()
    def opt_out_unknown(self) -> None:
        self._process("video", f"{SITE}/@nobody/video/987654321", crash=False)

    # Releases ----------------------------------------------------------------------------

    def _release(self, store: LocalStore) -> None:
        """A fresh release of the curated posts, as the release flow builds it."""
        blocklist = load_blocklist(self.opt_out_folder)
        rows = source_rows(self.curated, self.creator_of)
        rows = drop_blocklisted(ReleaseRows(rows, pl.Series(dtype=pl.Int64)), blocklist, KEY).posts
        masked = mask_posts(rows, KEY, MaskingConfig(), ["created_ts"]).drop("created_ts")
        labeled = masked.with_columns(
            pl.col("creator_id")
            .map_elements(lambda c: ["train", "validation", "test"][int(c, 16) % 3], pl.String)
            .alias("split"),
            **{k: pl.lit(v) for k, v in LABELS.items()},
        )
        version = f"1.{self.minor + 1}.0"
        header = release_header(version, "week")
        publish_release(
            store,
            header,
            labeled.filter(pl.col("video_id").str.slice(0, 1) < "8"),
            masked.filter(pl.col("video_id").str.slice(0, 1) >= "8"),
            AGREEMENT,
            [],
            lambda counts: changelog_entry(version, None, counts, []),
            blocklist,
            needles_from_source(source_rows(self.curated, self.creator_of), "week"),
            4,
            2,
            {"kind": "release"},
            KEY,
        )
        self.minor += 1

    @precondition(lambda self: self.curated)
    @rule()
    def release(self) -> None:
        self._release(self.store)

    @precondition(lambda self: self.curated)
    @rule()
    def crash_then_rerun_release(self) -> None:
        before = self.store.versions("d")
        with pytest.raises(Crash):
            self._release(CrashingStore(self.store.root))
        # Nothing half-written is visible, and a rerun completes.
        assert self.store.versions("d") == before
        assert not any((self.store.root / "d" / ".staging").glob("*"))
        self._release(self.store)

    # Invariants --------------------------------------------------------------------------

    @invariant()
    def latest_release_holds_no_opted_out_content(self) -> None:
        if not hasattr(self, "store"):
            return
        latest = latest_version(self.store, "d")
        if latest is None:
            return
        data = read_data(self.store.version_dir("d", latest))
        if data.is_empty():
            return
        videos = {pseudonym(KEY, "video", v, 16) for v in self.opted_videos}
        creators = {pseudonym(KEY, "creator", c, 16) for c in self.opted_creators}
        assert not videos & set(data["video_id"])
        assert not creators & set(data["creator_id"])
        assert (
            verify_release(self.store.version_dir("d", latest), load_blocklist(self.opt_out_folder))
            == []
        )

    @invariant()
    def pseudonyms_are_stable_across_versions(self) -> None:
        if not hasattr(self, "store"):
            return
        expected = {
            pseudonym(KEY, "video", p, 16): pseudonym(KEY, "creator", c, 16)
            for p, c in self.creator_of.items()
        }
        for version in self.store.versions("d"):
            data = read_data(self.store.version_dir("d", version))
            for video, creator in data.select("video_id", "creator_id").iter_rows():
                assert expected[video] == creator


@pytest.fixture(autouse=True)
def _no_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    # Figures are not what this property is about, and cost 0.4 s per version.
    monkeypatch.setattr("curation.release.build.release_figures", lambda *a: [])


TestOptOutLifecycle = OptOutLifecycle.TestCase
