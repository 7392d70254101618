"""Where a flow's partition passes run: a local Dask cluster, a remote scheduler, or in process;
with a progress bar (rows per second) per stage and the stage timings kept for the funnel."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

T = TypeVar("T")
R = TypeVar("R")

_console = Console(stderr=True)


class Runner:
    """curation.partitions.Runner on a Dask client (None: in this process)."""

    def __init__(self, client: Any = None, show: bool = True) -> None:
        self.client = client
        self.show = show
        self.timings: dict[str, float] = {}
        self._bar: tuple[Progress, TaskID, int] | None = None

    @property
    def address(self) -> str | None:
        return None if self.client is None else str(self.client.scheduler.address)

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        step = self._bar[2] / max(len(items), 1) if self._bar else 0
        if self.client is None:
            out = []
            for item in items:
                out.append(fn(item))
                self._advance(step)
            return out
        from distributed import as_completed

        futures = self.client.map(fn, list(items), pure=False)
        for _ in as_completed(futures):
            self._advance(step)
        return list(self.client.gather(futures))

    def _advance(self, rows: float) -> None:
        if self._bar is not None:
            progress, task, total = self._bar
            done = progress.tasks[0].completed
            progress.update(task, completed=min(total, done + rows))

    @contextmanager
    def stage(self, name: str, rows: int) -> Iterator[None]:
        start = time.perf_counter()
        progress = Progress(
            TextColumn(f"{name:<26}"),
            BarColumn(),
            TextColumn("{task.completed:>13,.0f} rows"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            console=_console,
            disable=not self.show,
            transient=False,
        )
        with progress:
            task = progress.add_task(name, total=rows, rate="")
            self._bar = (progress, task, rows)
            try:
                yield
            finally:
                self._bar = None
                elapsed = time.perf_counter() - start
                rate = f"{rows / elapsed:>11,.0f} rows/s" if elapsed > 0 else ""
                progress.update(task, completed=rows, rate=rate)
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start


@contextmanager
def cluster(
    workers: int, address: str | None, env: dict[str, str] | None = None, show: bool = True
) -> Iterator[Runner]:
    """A Runner on the scheduler at `address`, else a LocalCluster of `workers` single-threaded
    processes (each polars pass gets its share of the cores), else in this process."""
    if address is None and workers == 0:
        yield Runner(None, show)
        return
    from distributed import Client, LocalCluster

    if address is not None:
        with Client(address) as client:
            yield Runner(client, show)
        return
    # Each worker gets its share of the cores, unless POLARS_MAX_THREADS says otherwise.
    threads = int(os.environ.get("POLARS_MAX_THREADS") or max(1, (os.cpu_count() or 1) // workers))
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.getLogger("distributed").getEffectiveLevel(),  # see engine_logs
            env={"POLARS_MAX_THREADS": str(threads), **(env or {})},
        ) as local,
        Client(local) as client,
    ):
        yield Runner(client, show)
