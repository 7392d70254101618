"""Flow `curate` (weekly): platform export → valid → in scope → safe → unique → candidates
drawn by engagement → not opted out → screened on video → pool (quotas) → shortlist +
companions.

The tabular stages run once over the whole export, partition-parallel on Dask; only the drawn
candidates are fetched, checked against the blocklist and decoded (curation/pool.py). Each run
writes its own folder (storage.runs.CurationRun names every file); when it succeeds,
`output_dir` becomes a link to it in one atomic step (on S3: the run is uploaded, its marker
last, then `<output>/LATEST` names it). Every stage writes what it drops, with the
reason, to the run's exclusions, and the funnel must balance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from prefect import flow

from curation.config import CurateConfig
from curation.curate import Tabular, ingest_export, preflight, record_run, screen_buckets
from curation.curate import tabular_stage as stage_of
from curation.pool import (
    Screen,
    draw_pool,
    pick_companions,
    pick_shortlist,
    pool_stage,
    write_selection,
)
from flows.cluster import cluster
from flows.fingerprint import api_url_for_workers, fingerprint_videos
from flows.tasks import step
from storage.exclusions import StageCount, check_balanced
from storage.runs import CurationRun

# The order of the stages; the README's "What runs" and the design notes follow it.
STAGES = (
    "ingest",
    "window",
    "sensitive",
    "dedup",
    "sampling",
    "blocklist",
    "video",
    "quota",
    "shortlist",
)


@dataclass
class CurationResult:
    output_dir: Path | str
    funnel: list[StageCount]
    pool: int
    shortlist: int
    companion: int
    timings: dict[str, float] = field(default_factory=dict)
    decoded_videos: int = 0


@flow(name="curate", log_prints=True)
def curate(config: CurateConfig = CurateConfig(), progress: bool = True) -> CurationResult:
    """Weekly curation run over a platform export; see the module docstring for outputs."""
    preflight(config)
    run = CurationRun.new(config.output_dir)
    env = {"PREFECT_API_URL": api_url_for_workers()} if config.video.enabled else {}
    with cluster(config.workers, config.dask_address, env, progress) as runner:
        tab = Tabular.start(config, run, runner)
        try:
            funnel = [step("ingest", ingest_export, tab)]
            found = screen_buckets(tab)  # one pass by media key for the next three stages
            funnel += [
                step("window", stage_of, tab, found, "window"),
                step("sensitive", stage_of, tab, found, "sensitive"),
                step("dedup", stage_of, tab, found, "dedup"),
            ]
            screen = Screen(config, fingerprint_videos, runner.address)  # shares the cluster
            with runner.timed("pool"):
                draw = draw_pool(tab, screen)
            funnel += [
                step("sampling", pool_stage, tab, draw, "sampling"),
                step("blocklist", pool_stage, tab, draw, "blocklist"),
                step("video", pool_stage, tab, draw, "video"),
                step("quota", pool_stage, tab, draw, "quota"),
            ]
            with runner.timed("shortlist"):
                shortlist = step("shortlist", pick_shortlist, tab, draw)
                companions = pick_companions(tab, screen, draw, shortlist)
                sizes = write_selection(tab, draw, shortlist, companions)
            check_balanced(funnel)
        finally:
            tab.cleanup()
    extra = {
        "companion_screening": companions.screening.as_dict(),
        "rounds": {"pool": draw.rounds, "companion": companions.rounds},
        "candidates": draw.candidates,
        "decoded_videos": screen.decoded,
        "video": None if draw.stats is None else vars(draw.stats),
        "timings": dict(runner.timings),
    }
    with runner.timed("record"):
        record_run(config, run, funnel, sizes, extra)
        run.publish(config.output_dir)
    print(
        f"curation: pool {draw.pool.height:,}, shortlist {sizes[0]:,}, companion {sizes[1]:,} "
        f"→ {config.output_dir}"
    )
    return CurationResult(
        config.output_dir,
        funnel,
        draw.pool.height,
        *sizes,
        timings=runner.timings,
        decoded_videos=screen.decoded,
    )
