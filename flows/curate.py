"""Flow `curate` (weekly): platform export → valid → in scope → allowed → safe → unique →
screened → pool → shortlist + companion.

Each run writes its own folder (storage.runs.CurationRun names every file); when it succeeds,
`output_dir` becomes a link to it in one atomic step. Every stage writes what it drops, with
the reason, to the run's exclusions, and the funnel must balance.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prefect import flow

from curation.config import CurateConfig
from curation.curate import (
    TableStage,
    blocklisted,
    filter_table,
    ingest_export,
    media_items,
    pick_shortlist,
    preflight,
    record_run,
    sample_pool,
    score_and_window,
    screen_video,
    sensitive_in,
    video_config,
)
from curation.stages.dedup import flag_exact_duplicates
from flows.fingerprint import fingerprint_videos
from flows.tasks import step
from storage.exclusions import StageCount, check_balanced
from storage.runs import CurationRun

# The order of the stages; the README's "What runs" and the design notes follow it.
STAGES = ("ingest", "window", "blocklist", "sensitive", "dedup", "video", "sampling", "shortlist")


@dataclass
class CurationResult:
    output_dir: Path
    funnel: list[StageCount]
    pool: int
    shortlist: int
    companion: int


@flow(name="curate", log_prints=True)
def curate(config: CurateConfig = CurateConfig()) -> CurationResult:
    """Weekly curation run over a platform export; see the module docstring for outputs."""
    preflight(config)
    run = CurationRun.new(config.output_dir)
    funnel = [step("ingest", ingest_export, config, run)]
    tabular = [
        TableStage("window", score_and_window(config), "posts_valid", "posts_in_scope"),
        TableStage("blocklist", blocklisted(config), "posts_in_scope", "posts_allowed"),
        TableStage("sensitive", sensitive_in(config, run), "posts_allowed", "posts_safe"),
        TableStage("dedup", flag_exact_duplicates, "posts_safe", "posts_unique"),
    ]
    funnel += [step(stage.name, filter_table, stage, run) for stage in tabular]
    eligible = "posts_unique"
    if config.video.enabled:
        video = video_config(config)
        items = media_items(run, video)
        if not items.is_empty():
            fingerprint_videos(items, video)  # a subflow: batches on Dask
        funnel.append(step("video", screen_video, video, run, config.opt_out_dir))
        eligible = "posts_screened"
    funnel.append(step("sampling", sample_pool, config, eligible, run))
    sizes = step("shortlist", pick_shortlist, config, eligible, run)
    check_balanced(funnel)
    record_run(config, run, funnel, sizes)
    run.publish(config.output_dir)
    print(
        f"curation: pool {funnel[-1].kept:,}, shortlist {sizes[0]:,}, companion {sizes[1]:,} "
        f"→ {config.output_dir}"
    )
    return CurationResult(config.output_dir, funnel, funnel[-1].kept, *sizes)
