"""Sample first, then look at the video: the pool, the shortlist and the companions.

The tabular stages left the eligible posts with their sampling keys (curation/partitions.py).
Here the pool is drawn in rounds:
  1. candidates: each stratum's `m` highest keys, m = its quota plus a margin;
  2. only the candidates are fetched from the export, checked against the opt-out blocklist,
     fingerprinted and screened (known hashes, nudity, near-duplicates among them);
  3. a stratum with fewer survivors than its quota draws more candidates (the next keys),
     sized from the share that survived; a stratum with none left to draw counts its
     survivors as what it has, and the quotas are allocated again.
Then each stratum keeps its quota of highest keys among the survivors (`beyond_quota` for the
rest). Blocklist and video decisions do not depend on the key, so this is exactly the top-quota
draw over every post that passes them: the released pool is a weighted sample without
replacement from the screened posts (docs/design-notes.md). Near-duplicates are removed among
the candidates, the representative being the most engaging copy, as before.
Video cost follows the pool (1 + margin), not the export.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from curation.config import CurateConfig, VideoConfig
from curation.curate import Tabular, blocklist_key, fetch_posts, video_config, write_exclusions
from curation.partitions import (
    BY_RECENCY,
    STRATUM_KEY,
    creator_posts_in_bucket,
    eligible_by_creator,
    merge_recent,
    merge_top,
    ordered,
    top_in_bucket,
    unsure_strata,
    write_not_sampled,
)
from curation.stages.sampling import allocate_quotas, choose_sampled
from curation.stages.shortlist import draw_shortlist, select_companions
from curation.video.fingerprint_store import scan_store, store_version
from curation.video.screen import VideoScreenStats, screen_videos
from curation.video.settings import neardup_settings, settings_of
from privacy.blocklist import flag_blocked, load_blocked_frames
from storage.exclusions import EXCLUSION_SCHEMA, StageCount, excluded_rows
from storage.location import write_parquet
from storage.media import list_media

# Fingerprints `items` (post_id, media_sha256, location) into the store (flows/fingerprint.py).
Fingerprinter = Callable[[pl.DataFrame, VideoConfig], Any]
MIN_SURVIVAL = 0.05  # a stratum's top-up never assumes fewer than this share survive


@dataclass
class Screen:
    """Blocklist and video decisions over candidate posts, fetched from the export once each."""

    config: CurateConfig
    fingerprint: Fingerprinter
    dask_address: str | None = None  # fingerprint on this cluster, not the video config's
    fetched: pl.DataFrame = field(default_factory=pl.DataFrame)
    decoded: int = 0  # videos decoded in this run (the store had the others)
    _media: set[str] | None = None
    # Blocklist decisions, one per post, kept across rounds: each round screens the posts of the
    # last again (the pool, when companions are added), and a post's MACs do not change.
    _blocked: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=EXCLUSION_SCHEMA))
    _checked: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema={"post_id": pl.Int64})
    )

    def __post_init__(self) -> None:
        self.blocklist, self.key = blocklist_key(self.config)
        self.video = video_config(self.config) if self.config.video.enabled else None
        if self.video is not None and self.dask_address is not None:
            self.video = self.video.model_copy(update={"dask_address": self.dask_address})

    def rows(self, post_ids: pl.Series) -> pl.DataFrame:
        """The export rows of these posts, by post ID."""
        have = self.fetched["post_id"] if self.fetched.width else pl.Series([], dtype=pl.Int64)
        new = post_ids.filter(~post_ids.is_in(have.implode()))
        if new.len() or not self.fetched.width:  # the first call sets the columns
            rows = fetch_posts(self.config.export_dir, new, self.config.engagement)
            self.fetched = rows if not self.fetched.width else pl.concat([self.fetched, rows])
        return self.fetched.filter(pl.col("post_id").is_in(post_ids.implode())).sort("post_id")

    def media(self) -> set[str]:
        if self._media is None:
            assert self.video is not None and self.video.media_root is not None
            self._media = list_media(self.video.media_root)
        return self._media

    def __call__(
        self, rows: pl.DataFrame, first: pl.Series | None = None
    ) -> tuple[pl.DataFrame, pl.DataFrame | None, VideoScreenStats | None]:
        """Exclusions (post_id, stage, reason, detail) of `rows` at the blocklist and video
        stages, the near-duplicate clusters, the video stats. `first`: posts that stay the
        representative of any near-duplicate they have (the pool, when companions are added)."""
        new = rows.join(self._checked, on="post_id", how="anti")
        decided = flag_blocked(new.lazy(), self.blocklist, self.key)
        self._blocked = pl.concat([self._blocked, excluded_rows(decided, "blocklist").collect()])
        self._checked = pl.concat([self._checked, new.select(pl.col("post_id").cast(pl.Int64))])
        blocked = self._blocked.join(rows.select("post_id"), on="post_id", how="semi")
        out = [blocked]
        allowed = rows.join(blocked.select("post_id"), on="post_id", how="anti").sort("post_id")
        clusters, stats = None, None
        if self.video is not None:
            screened, stats, clusters = self._screen_video(allowed, self.video, first)
            out.append(excluded_rows(screened.lazy(), "video").collect())
        return pl.concat(out).sort("post_id"), clusters, stats

    def _screen_video(
        self, posts: pl.DataFrame, video: VideoConfig, first: pl.Series | None
    ) -> tuple[pl.DataFrame, VideoScreenStats, pl.DataFrame]:
        assert video.store is not None
        items = posts.select(
            "post_id", "media_sha256", (pl.col("media_sha256") + ".mp4").alias("location")
        ).filter(pl.col("location").is_in(list(self.media())))
        if items.height:
            self.decoded += self.fingerprint(items, video).fingerprinted
        stored = (
            scan_store(video.store, store_version(settings_of(video)))
            .join(
                items.lazy().select("post_id", "media_sha256"),
                on=["post_id", "media_sha256"],
                how="semi",
            )
            .collect()
        )
        known = (
            pl.read_parquet(video.known_hashes)
            if video.known_hashes
            else pl.DataFrame(schema={"hash": pl.UInt64})
        )
        return screen_videos(
            posts,
            stored,
            known,
            neardup_settings(video),
            video.known_max_bits,
            video.require_media,
            video.nudity_threshold,
            load_blocked_frames(self.config.opt_out_dir),
            first=first,
        )


@dataclass
class PoolDraw:
    pool: pl.DataFrame  # wide rows, by post ID
    quotas: pl.DataFrame
    funnel: list[StageCount]
    excluded: dict[str, pl.DataFrame]  # blocklist, video, quota
    clusters: pl.DataFrame | None
    stats: VideoScreenStats | None
    rounds: int
    candidates: int


def top_candidates(tab: Tabular, wanted: pl.DataFrame) -> pl.DataFrame:
    """Each stratum's `m` highest keys over all buckets, exactly. A bucket first sends a little
    more than its share (m / buckets); strata where that may not be enough ask again."""
    buckets = tab.work.buckets
    limits = wanted.with_columns(
        pl.min_horizontal(
            pl.col("m"), (pl.col("m") * 1.3 / buckets).ceil().cast(pl.Int64) + 64
        ).alias("limit")
    )
    while True:
        asked = limits.select(*STRATUM_KEY, pl.col("limit").alias("m"))
        parts = tab.each_bucket(top_in_bucket, asked)
        top = merge_top(parts, wanted)
        unsure = unsure_strata(parts, top, limits)
        if unsure.is_empty():
            return top  # with the bucket each candidate came from
        redo = limits.join(
            unsure.with_columns(pl.lit(True).alias("redo")),
            on=STRATUM_KEY,
            how="left",
            maintain_order="left",
        )["redo"].fill_null(False)
        doubled = pl.min_horizontal(pl.col("m"), pl.col("limit") * 2)
        limits = limits.with_columns(
            pl.when(redo).then(doubled).otherwise(pl.col("limit")).alias("limit")
        )


def _topped_up(m: int, got: int, want: int, available: int) -> int:
    rate = max(got / m, MIN_SURVIVAL) if m else 1.0
    return min(available, m + math.ceil((want - got) / rate * 1.25) + 8)


def draw_pool(tab: Tabular, screen: Screen) -> PoolDraw:
    """The pool: drawn, screened, topped up, trimmed to the quotas (see the module docstring)."""
    s = tab.config.sampling
    strata = tab.strata
    available = strata["available"]
    quotas = allocate_quotas(strata, s.pool_size, s.language_shares)
    m = pl.Series(
        [
            min(a, math.ceil(q * (1 + s.margin)))
            for a, q in zip(available, quotas["quota"], strict=True)
        ],
        dtype=pl.Int64,
    )
    rounds = 0
    while True:
        rounds += 1
        wanted = strata.select(*STRATUM_KEY).with_columns(m.alias("m")).filter(pl.col("m") > 0)
        candidates = top_candidates(tab, wanted)
        excluded, clusters, stats = screen(screen.rows(candidates["post_id"]))
        survivors = candidates.join(excluded.select("post_id"), on="post_id", how="anti")
        got = strata.join(
            survivors.group_by(STRATUM_KEY).len("got"),
            on=STRATUM_KEY,
            how="left",
            maintain_order="left",
        )["got"].fill_null(0)
        exhausted = m >= available
        capacity = pl.select(pl.when(exhausted).then(got).otherwise(available)).to_series()
        quotas = allocate_quotas(
            strata.with_columns(capacity.alias("available")), s.pool_size, s.language_shares
        )
        short = (got < quotas["quota"]) & ~exhausted
        if not short.any():
            break
        m = pl.Series(
            [
                _topped_up(mi, g, q, a) if sh else mi
                for mi, g, q, a, sh in zip(m, got, quotas["quota"], available, short, strict=True)
            ],
            dtype=pl.Int64,
        )
    keys = survivors.join(strata.select(*STRATUM_KEY, "stratum"), on=STRATUM_KEY)
    chosen = choose_sampled(keys.select("post_id", "stratum", "sampling_key"), quotas)
    pool = screen.rows(chosen)
    for b in range(tab.work.buckets):  # each bucket's own: its pass reads no other's
        write_parquet(
            candidates.filter(pl.col("bucket") == b).select("ordinal"), tab.work.candidates(b)
        )
    n_not_sampled = sum(tab.each_bucket(write_not_sampled))
    eligible = int(available.sum())
    beyond = survivors.filter(~pl.col("post_id").is_in(chosen.implode())).select(
        "post_id",
        pl.lit("quota").alias("stage"),
        pl.lit("beyond_quota").alias("reason"),
        pl.lit(None, pl.String).alias("detail"),
    )
    by_stage = {st: excluded.filter(pl.col("stage") == st) for st in ("blocklist", "video")}
    by_stage["quota"] = beyond
    blocked = by_stage["blocklist"].height
    funnel = [
        StageCount(
            "sampling", eligible, candidates.height, n_not_sampled, _reasons_of(n_not_sampled)
        ),
        StageCount.of(
            "blocklist", candidates.height, candidates.height - blocked, by_stage["blocklist"]
        ),
        StageCount.of("video", candidates.height - blocked, survivors.height, by_stage["video"]),
        StageCount.of("quota", survivors.height, chosen.len(), beyond),
    ]
    table = quotas.with_columns(
        available.alias("eligible"), got.cast(pl.Int64).alias("screened")
    ).select("language", "month", "eligible", "screened", "available", "quota")
    return PoolDraw(pool, table, funnel, by_stage, clusters, stats, rounds, candidates.height)


def _reasons_of(n: int) -> dict[str, int]:
    return {"not_sampled": n} if n else {}


@dataclass
class Companions:
    rows: pl.DataFrame
    screening: StageCount  # candidates in, survivors kept (a side record, not a funnel stage)
    excluded: pl.DataFrame
    clusters: pl.DataFrame | None
    rounds: int


def pick_shortlist(tab: Tabular, draw: PoolDraw) -> pl.DataFrame:
    cfg = tab.config
    return (
        draw_shortlist(draw.pool.lazy(), cfg.shortlist, cfg.sampling, cfg.engagement.power)
        .collect()
        .sort("post_id")
    )


def pick_companions(
    tab: Tabular, screen: Screen, draw: PoolDraw, shortlist: pl.DataFrame
) -> Companions:
    """The shortlisted creators' most recent other posts that pass every stage; screened with
    the pool, whose posts stay the representatives of any near-duplicates."""
    cfg = tab.config.shortlist
    per = cfg.companion_per_creator
    creators = shortlist.group_by("creator_id").len("shortlisted")
    totals = (
        pl.concat(tab.each_bucket(eligible_by_creator, creators.select("creator_id")))
        .group_by("creator_id")
        .agg(pl.col("posts").sum())
    )
    plan = (
        creators.join(totals, on="creator_id", how="left", maintain_order="left")
        .with_columns(pl.col("posts").fill_null(0))
        .sort("creator_id")
    )
    if cfg.companion_size == 0 or plan.is_empty():
        return Companions(
            shortlist.clear(),
            StageCount("companion", 0, 0, 0),
            pl.DataFrame(schema=EXCLUSION_SCHEMA),
            None,
            0,
        )
    extra = math.ceil(per * tab.config.sampling.margin)
    m = plan.select(
        pl.min_horizontal(pl.col("shortlisted") + per + extra, pl.col("posts")).alias("m")
    )["m"]
    pool_ids = draw.pool["post_id"]
    limit = math.ceil(cfg.companion_size * (1 + tab.config.sampling.margin))
    rounds = 0
    while True:
        rounds += 1
        wanted = plan.select("creator_id").with_columns(m.alias("m"))
        recent = merge_recent(tab.each_bucket(creator_posts_in_bucket, wanted), wanted).join(
            shortlist.select("post_id"), on="post_id", how="anti"
        )
        # Only the most recent can make the overall cut: fetch and screen those, up to `limit`
        # that the per-creator cap leaves usable (a creator's posts past `per` only stand in
        # for those the screening drops).
        usable = (pl.int_range(pl.len()).over("creator_id") < per).cast(pl.Int64).cum_sum()
        candidates = _by_recency(recent).filter(usable <= limit).sort("post_id")
        ids = pl.concat([pool_ids, candidates["post_id"]]).unique().sort()
        excluded, clusters, _ = screen(screen.rows(ids), first=pool_ids)
        excluded = excluded.join(candidates.select("post_id"), on="post_id", how="semi")
        survivors = candidates.join(excluded.select("post_id"), on="post_id", how="anti")
        chosen = _by_recency(select_companions(survivors.lazy(), shortlist.lazy(), cfg).collect())
        last = chosen.tail(1) if chosen.height == cfg.companion_size else None
        got = plan.join(
            survivors.group_by("creator_id").len("got"),
            on="creator_id",
            how="left",
            maintain_order="left",
        )["got"].fill_null(0)
        # A creator short of posts matters only if its next post could still make the cut.
        oldest = plan.join(
            _by_recency(recent).group_by("creator_id", maintain_order=True).last(),
            on="creator_id",
            how="left",
            maintain_order="left",
        )
        short = (got < per) & (m < plan["posts"]) & _ranks_before(oldest, last)
        cut_short = recent.height > candidates.height and not (
            last is not None and _ranks_before(last, _by_recency(candidates).tail(1)).all()
        )
        if not short.any() and not cut_short:
            break
        if cut_short:
            limit *= 2
        m = pl.Series(
            [
                _topped_up(mi, g + s, per + s, a) if sh else mi
                for mi, g, s, a, sh in zip(
                    m, got, plan["shortlisted"], plan["posts"], short, strict=True
                )
            ],
            dtype=pl.Int64,
        )
    companions = (
        select_companions(screen.rows(survivors["post_id"]).lazy(), shortlist.lazy(), cfg)
        .collect()
        .sort("post_id")
    )
    screening = StageCount.of("companion", candidates.height, survivors.height, excluded)
    return Companions(
        companions,
        screening,
        excluded.with_columns(pl.lit("companion").alias("stage")),
        clusters,
        rounds,
    )


def _by_recency(frame: pl.DataFrame) -> pl.DataFrame:
    return ordered(frame, BY_RECENCY)


def _ranks_before(rows: pl.DataFrame, other: pl.DataFrame | None) -> pl.Series:
    """Per row: whether it comes before `other`'s one row by recency (newer, then lower post
    ID); always true without `other`. A missing row (null) comes before nothing."""
    if other is None:
        return pl.Series([True] * rows.height)
    ts, post = other["created_ts"][0], other["post_id"][0]
    return rows.select(
        (
            (pl.col("created_ts") > ts)
            | ((pl.col("created_ts") == ts) & (pl.col("post_id") < post))
        ).fill_null(False)
    ).to_series()


def pool_stage(tab: Tabular, draw: PoolDraw, stage: str) -> StageCount:
    """One of the stages `draw_pool` ran: its exclusions in one file, and its counts."""
    if stage == "sampling":
        rows = pl.scan_parquet([tab.work.excluded("sampling", b) for b in range(tab.work.buckets)])
    else:
        rows = draw.excluded[stage].lazy()
    write_exclusions(rows, stage, tab.run)
    return next(c for c in draw.funnel if c.stage == stage)


def write_selection(
    tab: Tabular, draw: PoolDraw, shortlist: pl.DataFrame, companions: Companions
) -> tuple[int, int]:
    """The pool, shortlist, companions, quotas and near-duplicate clusters; their sizes."""
    run = tab.run
    draw.pool.write_parquet(run.table("pool"))
    shortlist.write_parquet(run.table("shortlist"))
    companions.rows.write_parquet(run.table("companion"))
    draw.quotas.write_parquet(run.quotas)
    companions.excluded.select(list(EXCLUSION_SCHEMA)).write_parquet(run.exclusions("companion"))
    if draw.clusters is not None:
        clusters = draw.clusters
        if companions.clusters is not None:
            seen = companions.clusters["post_id"].implode()
            clusters = pl.concat(
                [companions.clusters, clusters.filter(~pl.col("post_id").is_in(seen))]
            ).sort("post_id")
        clusters.write_parquet(run.neardup_clusters)
    return shortlist.height, companions.rows.height
