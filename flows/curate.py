"""Flow `curate`: platform export → validated posts → scope → safe → unique → pool → shortlist.

Each run writes into its own folder under `<output_dir>.runs/`; when it succeeds, `output_dir`
becomes a link to it, in one atomic step (the three newest runs are kept). A run folder holds:
    posts_valid, posts_in_scope, posts_allowed (after the opt-out blocklist), posts_safe,
    posts_unique, posts_screened (after the video stage), pool, shortlist, companion (.parquet)
    quarantine.parquet        rejected export rows, whole, with the reason
    exclusions/<stage>.parquet   (post_id, stage, reason, detail) for every dropped row
    quotas.parquet, funnel.json, run.json
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from prefect import flow, task
from prefect.cache_policies import NONE

from curation.annotations.taxonomy import languages
from curation.config import CurateConfig, VideoConfig, config_hash
from curation.release.bundle import sha256_file
from curation.stages import dedup, engagement, ingest, sampling, sensitive, shortlist, window
from curation.video.fingerprint_store import scan_store, store_version
from curation.video.screen import screen_videos
from flows.common import RUN_MARKER, new_run_dir, point_to_run
from flows.fingerprint import fingerprint_videos, neardup_settings, settings_of
from privacy.blocklist import Blocklist, flag_blocked, load_blocked_frames, load_blocklist
from privacy.keys import PseudonymKey, load_key
from storage.exclusions import StageCount, check_balanced
from storage.media import list_media
from storage.tables import count_rows, write_flagged, write_selection

Flagger = Callable[[pl.LazyFrame], pl.LazyFrame]


@dataclass
class CurationResult:
    output_dir: Path
    funnel: list[StageCount]
    pool: int
    shortlist: int
    companion: int


def preflight(config: CurateConfig) -> None:
    """Check what a user can get wrong before any work starts (raises with one clear line)."""
    ingest.scan_posts(config.export_dir)
    blocklist_key(config)


def blocklist_key(config: CurateConfig) -> tuple[Blocklist, PseudonymKey | None]:
    """The blocklist and, when it has entries, the key its MACs were made with."""
    blocklist = load_blocklist(config.optout_dir)
    if blocklist.entries.is_empty():
        return blocklist, None
    key = load_key(config.key_file, config.key_version)
    blocklist.check_key(key)
    return blocklist, key


@task(cache_policy=NONE)
def ingest_export(export_dir: Path, work: Path) -> StageCount:
    raw = ingest.scan_posts(export_dir)
    files = sorted((export_dir / "posts").glob("*.parquet"))
    return write_flagged(
        ingest.flag_invalid_posts(raw, languages()),
        "ingest",
        work / "posts_valid.parquet",
        work / "exclusions" / "ingest.parquet",
        input_rows=count_rows(files),
        quarantine_path=work / "quarantine.parquet",
    )


@task(cache_policy=NONE)
def filter_posts(stage: str, flag: Flagger, source: Path, target: Path, work: Path) -> StageCount:
    return write_flagged(
        flag(pl.scan_parquet(source)),
        stage,
        target,
        work / "exclusions" / f"{stage}.parquet",
        input_rows=count_rows(source),
    )


def media_items(posts: Path, video: VideoConfig) -> pl.DataFrame:
    """(post_id, media_sha256, location) of the posts whose media file is in the media root."""
    assert video.media_root is not None
    present = list_media(video.media_root)
    return (
        pl.read_parquet(posts, columns=["post_id", "media_sha256"])
        .with_columns((pl.col("media_sha256") + ".mp4").alias("location"))
        .filter(pl.col("location").is_in(list(present)))
    )


@task(cache_policy=NONE)
def screen_video(video: VideoConfig, source: Path, work: Path, optout_dir: Path) -> StageCount:
    posts = pl.read_parquet(source)
    if video.store is None:
        raise ValueError("the fingerprint store must be set")
    # Only these posts' rows: the store keeps every run's history.
    stored = (
        scan_store(video.store, store_version(settings_of(video)))
        .join(
            posts.lazy().select("post_id", "media_sha256"),
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
    settings = neardup_settings(video)
    flagged, stats = screen_videos(
        posts,
        stored,
        known,
        settings,
        video.known_max_bits,
        video.require_media,
        video.nudity_threshold,
        load_blocked_frames(optout_dir),
    )
    print(f"video: {stats}")
    return write_flagged(
        flagged.lazy(),
        "video",
        work / "posts_screened.parquet",
        work / "exclusions" / "video.parquet",
        input_rows=posts.height,
    )


@task(cache_policy=NONE)
def sample_pool(config: CurateConfig, source: Path, work: Path) -> StageCount:
    s = config.sampling
    chosen, quotas = sampling.choose_sample(
        pl.scan_parquet(source), s.seed, config.engagement.power, s.pool_size, s.language_shares
    )
    quotas.drop("stratum", "month_index").write_parquet(work / "quotas.parquet")
    return write_selection(
        source,
        chosen,
        "sampling",
        "not_sampled",
        work / "pool.parquet",
        work / "exclusions" / "sampling.parquet",
    )


@task(cache_policy=NONE)
def pick_shortlist(config: CurateConfig, eligible: Path, work: Path) -> tuple[int, int]:
    chosen = shortlist.draw_shortlist(
        pl.scan_parquet(work / "pool.parquet"),
        config.shortlist,
        config.sampling,
        config.engagement.power,
    ).collect()
    chosen.sort("post_id").write_parquet(work / "shortlist.parquet")
    companions = shortlist.select_companions(
        pl.scan_parquet(eligible), chosen.lazy(), config.shortlist
    ).collect()
    companions.sort("post_id").write_parquet(work / "companion.parquet")
    return chosen.height, companions.height


@flow(name="curate", log_prints=True)
def curate(config: CurateConfig = CurateConfig()) -> CurationResult:
    """Weekly curation run over a platform export; see the module docstring for outputs."""
    preflight(config)
    out = config.output_dir
    work = new_run_dir(out)
    (work / "exclusions").mkdir()

    blocklist, key = blocklist_key(config)

    funnel = [ingest_export(config.export_dir, work)]
    print(funnel[-1].summary())
    steps: list[tuple[str, Flagger, str, str]] = [
        (
            "window",
            lambda lf: window.flag_out_of_scope(
                engagement.score_engagement(lf, config.engagement), config.window
            ),
            "posts_valid",
            "posts_in_scope",
        ),
        (
            "blocklist",
            lambda lf: flag_blocked(lf, blocklist, key),
            "posts_in_scope",
            "posts_allowed",
        ),
        (
            "sensitive",
            lambda lf: sensitive.flag_sensitive(
                lf, config.sensitive, reference=pl.scan_parquet(work / "posts_valid.parquet")
            ),
            "posts_allowed",
            "posts_safe",
        ),
        ("dedup", dedup.flag_exact_duplicates, "posts_safe", "posts_unique"),
    ]
    for stage, flag, source, target in steps:
        funnel.append(
            filter_posts.with_options(name=stage)(
                stage, flag, work / f"{source}.parquet", work / f"{target}.parquet", work
            )
        )
        print(funnel[-1].summary())
    eligible = work / "posts_unique.parquet"
    if config.video.enabled:
        video = config.video.model_copy(
            update={
                "media_root": config.video.media_root or str(config.export_dir / "media"),
                "store": config.video.store or out.with_name(out.name + ".fingerprints"),
            }
        )
        items = media_items(eligible, video)
        if not items.is_empty():
            fingerprint_videos(items, video)
        funnel.append(screen_video(video, eligible, work, config.optout_dir))
        print(funnel[-1].summary())
        eligible = work / "posts_screened.parquet"
    funnel.append(sample_pool(config, eligible, work))
    print(funnel[-1].summary())
    n_short, n_comp = pick_shortlist(config, eligible, work)
    check_balanced(funnel)

    (work / "funnel.json").write_text(
        json.dumps(
            {"stages": [c.as_dict() for c in funnel], "shortlist": n_short, "companion": n_comp},
            indent=2,
        )
        + "\n"
    )
    (work / RUN_MARKER).write_text(
        json.dumps(
            {
                "config": config.model_dump(mode="json"),
                "config_sha256": config_hash(config),
                "run": work.name,
                "inputs": {
                    f"posts/{p.name}": sha256_file(p)
                    for p in sorted((config.export_dir / "posts").glob("*.parquet"))
                },
            },
            indent=2,
            sort_keys=True,
        )
        + "\n"
    )
    point_to_run(work, out)
    pool = funnel[-1].kept
    print(f"curation: pool {pool:,}, shortlist {n_short:,}, companion {n_comp:,} → {out}")
    return CurationResult(out, funnel, pool, n_short, n_comp)
