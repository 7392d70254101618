"""What the flows share: a step is a plain function run as a named Prefect task; and the
console shows the flows' own lines, not the engine's routine ones."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from prefect import task
from prefect.cache_policies import NONE

from storage.exclusions import StageCount

T = TypeVar("T")


def step(name: str, fn: Callable[..., T], *args: Any) -> T:
    """Run `fn(*args)` as a Prefect task named after its stage; print a stage's funnel line."""
    result = task(name=name, cache_policy=NONE)(fn)(*args)
    if isinstance(result, StageCount):
        print(result.summary())
    return result


class RoutineStates(logging.Filter):
    """Drops the engine's "Beginning flow run …" and "Finished in state Completed()" lines (the
    states stay in Prefect's UI); failures, retries and the flows' prints still show."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not message.startswith(("Finished in state Completed", "Beginning "))


for _name in ("prefect.task_runs", "prefect.flow_runs"):
    logging.getLogger(_name).addFilter(RoutineStates())


def engine_logs(verbose: bool) -> None:
    """Prefect's and Dask's own INFO lines (server start-up, cluster connections) only when
    asked for; the flows' lines and every warning still show."""
    level = logging.INFO if verbose else logging.WARNING
    # distributed sets its own level from dask's config when it is first imported (after this
    # runs: the cluster imports it lazily), and so do the worker processes: say it there too.
    os.environ["DASK_LOGGING__DISTRIBUTED"] = logging.getLevelName(level).lower()
    if "dask" in sys.modules:
        import dask

        dask.config.set({"logging.distributed": logging.getLevelName(level).lower()})
    for name in ("prefect", "distributed", "prefect.task_runner.dask"):
        logging.getLogger(name).setLevel(level)
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logging.getLogger(name).setLevel(logging.INFO)


engine_logs(verbose=False)  # the CLI's --verbose turns them back on
