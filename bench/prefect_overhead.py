"""Prefect's own overhead per flow run, apart from any data work.

Measures, in one process: the temporary server's start (paid once per `massiv` command when no
PREFECT_API_URL is set), then K runs of a flow with the same shape as `curate` (6 tasks doing
nothing) against that server, and K plain calls of the same functions. Overhead per flow run =
mean(flow) − mean(plain).

    make bench-prefect              # or: uv run python -m bench.prefect_overhead
"""

from __future__ import annotations

import os
import statistics
import time

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from prefect import flow, task
from prefect.cache_policies import NONE

from bench.common import write_result

RUNS = 10
TASKS = 6


@task(cache_policy=NONE)
def noop(i: int) -> int:
    return i


@flow
def shaped_like_curate() -> int:
    return sum(noop(i) for i in range(TASKS))


def plain() -> int:
    return sum(noop.fn(i) for i in range(TASKS))


def main() -> None:
    start = time.perf_counter()
    shaped_like_curate()  # the first run also starts the temporary server
    first = time.perf_counter() - start
    flow_runs, plain_runs = [], []
    for _ in range(RUNS):
        t = time.perf_counter()
        shaped_like_curate()
        flow_runs.append(time.perf_counter() - t)
        t = time.perf_counter()
        plain()
        plain_runs.append(time.perf_counter() - t)
    per_run = statistics.mean(flow_runs) - statistics.mean(plain_runs)
    write_result(
        "prefect_overhead",
        {
            "tasks_per_flow": TASKS,
            "runs": RUNS,
            "first_run_with_server_start_s": round(first, 2),
            "flow_run_mean_s": round(statistics.mean(flow_runs), 3),
            "flow_run_p95_s": round(sorted(flow_runs)[int(0.95 * (RUNS - 1))], 3),
            "plain_mean_s": round(statistics.mean(plain_runs), 6),
            "overhead_per_flow_run_s": round(per_run, 3),
            "overhead_per_task_s": round(per_run / TASKS, 4),
        },
    )


if __name__ == "__main__":
    main()
