"""The steps of a curation run: each reads tables of the run folder, calls its stage, and writes
the survivors and the exclusions back (flows/curate.py gives their order).

Reads the platform export and the fingerprint store; writes every file `CurationRun` names.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from curation.annotations.taxonomy import languages
from curation.config import CurateConfig, VideoConfig, config_hash
from curation.release.bundle import sha256_file
from curation.stages import engagement, ingest, sampling, sensitive, shortlist, window
from curation.video.fingerprint_store import scan_store, store_version
from curation.video.screen import screen_videos
from curation.video.settings import neardup_settings, settings_of
from privacy.blocklist import Blocklist, flag_blocked, load_blocked_frames, load_blocklist
from privacy.keys import PseudonymKey, load_key
from storage.exclusions import StageCount
from storage.media import list_media
from storage.runs import CurationRun, PlatformExport
from storage.tables import count_rows, write_flagged, write_selection

Flagger = Callable[[pl.LazyFrame], pl.LazyFrame]


@dataclass(frozen=True)
class TableStage:
    """A flagging stage over one run table: `flag` marks the rows `source` loses on the way to
    `target`."""

    name: str
    flag: Flagger
    source: str
    target: str


def preflight(config: CurateConfig) -> None:
    """Check what a user can get wrong before any work starts (raises with one clear line)."""
    ingest.scan_posts(config.export_dir)
    blocklist_key(config)


def blocklist_key(config: CurateConfig) -> tuple[Blocklist, PseudonymKey | None]:
    """The blocklist and, when it has entries, the key its MACs were made with."""
    blocklist = load_blocklist(config.opt_out_dir)
    if blocklist.entries.is_empty():
        return blocklist, None
    key = load_key(config.key_file, config.key_version)
    blocklist.check_key(key)
    return blocklist, key


def score_and_window(config: CurateConfig) -> Flagger:
    """Engagement scores first: the window stage keeps them, sampling weighs by them."""
    return lambda lf: window.flag_out_of_scope(
        engagement.score_engagement(lf, config.engagement), config.window
    )


def blocklisted(config: CurateConfig) -> Flagger:
    blocklist, key = blocklist_key(config)
    return lambda lf: flag_blocked(lf, blocklist, key)


def sensitive_in(config: CurateConfig, run: CurationRun) -> Flagger:
    """Flagged media are looked for among every valid post, in scope or not."""
    return lambda lf: sensitive.flag_sensitive(
        lf, config.sensitive, pl.scan_parquet(run.table("posts_valid"))
    )


def ingest_export(config: CurateConfig, run: CurationRun) -> StageCount:
    """Validate the export's posts; rejected rows go to the quarantine, whole."""
    raw = ingest.scan_posts(config.export_dir)
    return write_flagged(
        ingest.flag_invalid_posts(raw, languages()),
        "ingest",
        run.table("posts_valid"),
        run.exclusions("ingest"),
        input_rows=count_rows(PlatformExport(config.export_dir).posts),
        quarantine_path=run.quarantine,
    )


def filter_table(stage: TableStage, run: CurationRun) -> StageCount:
    source = run.table(stage.source)
    return write_flagged(
        stage.flag(pl.scan_parquet(source)),
        stage.name,
        run.table(stage.target),
        run.exclusions(stage.name),
        input_rows=count_rows(source),
    )


def video_config(config: CurateConfig) -> VideoConfig:
    """The video config with its defaults filled in from the export and output folders."""
    video = config.video
    return video.model_copy(
        update={
            "media_root": video.media_root or str(PlatformExport(config.export_dir).media),
            "store": video.store or CurationRun.fingerprint_store(config.output_dir),
        }
    )


def media_items(run: CurationRun, video: VideoConfig) -> pl.DataFrame:
    """(post_id, media_sha256, location) of the unique posts whose file is in the media root."""
    assert video.media_root is not None
    present = list_media(video.media_root)
    return (
        pl.read_parquet(run.table("posts_unique"), columns=["post_id", "media_sha256"])
        .with_columns((pl.col("media_sha256") + ".mp4").alias("location"))
        .filter(pl.col("location").is_in(list(present)))
    )


def screen_video(video: VideoConfig, run: CurationRun, opt_out_dir: Path) -> StageCount:
    """Fingerprint-based decisions; also saves the near-duplicate clusters."""
    posts = pl.read_parquet(run.table("posts_unique"))
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
    flagged, stats, clusters = screen_videos(
        posts,
        stored,
        known,
        neardup_settings(video),
        video.known_max_bits,
        video.require_media,
        video.nudity_threshold,
        load_blocked_frames(opt_out_dir),
    )
    print(f"video: {stats}")
    clusters.write_parquet(run.neardup_clusters)
    return write_flagged(
        flagged.lazy(),
        "video",
        run.table("posts_screened"),
        run.exclusions("video"),
        input_rows=posts.height,
    )


def sample_pool(config: CurateConfig, eligible: str, run: CurationRun) -> StageCount:
    s = config.sampling
    source = run.table(eligible)
    chosen, quotas = sampling.choose_sample(
        pl.scan_parquet(source), s.seed, config.engagement.power, s.pool_size, s.language_shares
    )
    quotas.drop("stratum", "month_index").write_parquet(run.quotas)
    return write_selection(
        source, chosen, "sampling", "not_sampled", run.table("pool"), run.exclusions("sampling")
    )


def pick_shortlist(config: CurateConfig, eligible: str, run: CurationRun) -> tuple[int, int]:
    """The shortlist for annotation and its unlabeled companions; returns their sizes."""
    chosen = shortlist.draw_shortlist(
        pl.scan_parquet(run.table("pool")),
        config.shortlist,
        config.sampling,
        config.engagement.power,
    ).collect()
    chosen.sort("post_id").write_parquet(run.table("shortlist"))
    companions = shortlist.select_companions(
        pl.scan_parquet(run.table(eligible)), chosen.lazy(), config.shortlist
    ).collect()
    companions.sort("post_id").write_parquet(run.table("companion"))
    return chosen.height, companions.height


def record_run(
    config: CurateConfig, run: CurationRun, funnel: list[StageCount], sizes: tuple[int, int]
) -> None:
    """funnel.json, then run.json last: a run folder with its marker is complete."""
    n_short, n_comp = sizes
    doc = {"stages": [c.as_dict() for c in funnel], "shortlist": n_short, "companion": n_comp}
    run.funnel.write_text(json.dumps(doc, indent=2) + "\n")
    export = PlatformExport(config.export_dir)
    marker = {
        "config": config.model_dump(mode="json"),
        "config_sha256": config_hash(config),
        "run": run.root.name,
        "inputs": {f"posts/{p.name}": sha256_file(p) for p in export.posts},
    }
    run.marker.write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n")
