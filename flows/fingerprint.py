"""Flow `fingerprint`: fingerprint the videos the store does not hold yet, in batches.

Reads a table of (post_id, media_sha256, media location); writes one new part to the
fingerprint store (curation/video/fingerprint_store.py). Batches run as Prefect tasks on Dask
through prefect-dask: a LocalCluster of `workers` processes by default, a remote scheduler when
`dask_address` is given, or in the flow's own process when `workers` is 0.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

import polars as pl
from prefect import flow, task
from prefect.cache_policies import NONE
from prefect.server.api.server import SubprocessASGIServer
from prefect.settings import PREFECT_API_URL
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from prefect_dask import DaskTaskRunner

from curation.config import VideoConfig
from curation.video import nudity
from curation.video.fingerprint import FingerprintSettings
from curation.video.fingerprint_store import (
    batches_to_do,
    fingerprint_batch,
    status_counts,
    store_version,
    write_part,
)
from curation.video.settings import settings_of
from storage.media import media_opener


@dataclass
class FingerprintResult:
    requested: int
    fingerprinted: int  # decoded in this run (the rest were in the store already)
    by_status: dict[str, int]


@task(cache_policy=NONE)
def fingerprint_task(
    items: list[tuple[int, str, str]], media_root: str, settings: FingerprintSettings
) -> pl.DataFrame:
    return fingerprint_batch(items, media_opener(media_root), settings)


def task_runner(config: VideoConfig) -> TaskRunner[Any]:
    if config.dask_address:
        return DaskTaskRunner(address=config.dask_address)
    if config.workers == 0:
        return ThreadPoolTaskRunner(max_workers=1)
    # The in-process scheduler's INFO lines (workers registering, closing…) drown the flow's.
    logging.getLogger("distributed").setLevel(logging.WARNING)
    # One single-threaded process per worker: decoding holds the GIL between FFmpeg calls.
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": config.workers,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,
            "silence_logs": logging.WARNING,  # the cluster's INFO lines drown the flow's own
            "env": {"PREFECT_API_URL": api_url_for_workers()},
        }
    )


def api_url_for_workers() -> str:
    """The Prefect API the flow reports to, for the worker processes. Without it each worker
    started a temporary server of its own (seconds of start-up per worker, contending with the
    decoding, and task runs recorded where nobody looks)."""
    url = PREFECT_API_URL.value()
    if url:
        return str(url)
    server = SubprocessASGIServer()  # the same temporary server the flow's own client starts
    server.start()
    return server.api_url


def fingerprint_videos(items: pl.DataFrame, config: VideoConfig) -> FingerprintResult:
    """Run the flow with the task runner the config asks for."""
    return fingerprint_flow.with_options(task_runner=task_runner(config))(items, config)


@flow(name="fingerprint", log_prints=True)
def fingerprint_flow(items: pl.DataFrame, config: VideoConfig) -> FingerprintResult:
    """`items`: post_id, media_sha256, location (relative to config.media_root)."""
    if config.store is None:
        raise ValueError("the fingerprint store must be set")
    if config.nudity_threshold is not None:
        nudity.require()
    settings = settings_of(config)
    version = store_version(settings)
    batches = batches_to_do(items, config.store, version, config.batch_size)
    futures = fingerprint_task.map(batches, str(config.media_root), settings)
    by_status: Counter[str] = Counter()
    for future in futures:
        # Each finished batch is stored at once: a later failure loses no finished work.
        done = future.result()
        write_part(config.store, done, version)
        by_status.update(status_counts(done))
    new = sum(len(b) for b in batches)
    print(f"fingerprints: {new:,} new of {items.height:,}; {dict(by_status)}")
    return FingerprintResult(items.height, new, dict(by_status))
