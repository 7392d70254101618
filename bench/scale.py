"""`massiv curate` end to end at platform scale, as a user runs it, beside a DuckDB scan.

For each export size (synthetic, cached under ~/.cache/massiv/bench/export-<posts>): the real
command `massiv curate --config <paper settings> --export … --output …` in a child process, at
the paper's settings (docs/paper-scale.yaml: a 1.5M pool, 55K shortlist, 100K companions; its
S3 media root replaced by the export's own media folder). Recorded: wall time; peak RSS as
wait4 reports it (the largest single process: the flow or one Dask worker) and as the sum over
the process tree, sampled every 0.2 s; bytes written (wait4's block count: every byte the tree
wrote, working files included); per-stage times; decoded videos; pool and companions. In the
same run, the baseline: one DuckDB scan of the columns curate reads, grouped by language ×
month. Targets (issue 14): 50M ≤ 5 min, ≤ 6 GB, ≤ 4× the scan; 200M ≤ 8 GB.

    make bench-scale                         # 10M, 50M, 200M
    uv run python -m bench.scale --posts 10000000 --workers 1 2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import yaml

from bench.common import ROOT, write_result

CACHE = Path(os.environ.get("MASSIV_BENCH_CACHE", Path.home() / ".cache" / "massiv" / "bench"))
SIZES = (10_000_000, 50_000_000, 200_000_000)
COLUMNS = (
    "post_id, creator_id, created_at, language, duration_s, view_count, like_count, share_count,"
    " comment_count, media_sha256, caption, hashtags, report_count, moderation_label"
)


def export_dir(posts: int) -> Path:
    """The cached synthetic export of `posts` posts (made once, seed 11)."""
    path = CACHE / f"export-{posts}"
    if not (path / "opt_out_requests.csv").is_file():
        shutil.rmtree(path, ignore_errors=True)
        subprocess.run(
            [sys.executable, "-m", "flows.cli", "synth", "export", "--out", str(path),
             "--posts", str(posts), "--seed", "11"],
            cwd=ROOT, check=True,
        )  # fmt: skip
    return path


def duckdb_scan(export: Path) -> dict[str, float]:
    """One scan of the columns curate reads, grouped by language × month, in a child process:
    its seconds and peak RSS. (Run in this process, its peak would be inherited by every child
    started after it: Linux passes a process's high-water RSS on through fork and exec, and
    wait4 would report DuckDB's peak as curate's.)"""
    cmd = [sys.executable, "-m", "bench.scale", "--scan", str(export)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError("the DuckDB scan failed")
    seconds = float((proc.stdout.read() if proc.stdout else "").strip())
    return {"duckdb_scan_s": round(seconds, 1), "duckdb_peak_rss_bytes": usage.ru_maxrss * 1024}


def scan_seconds(export: Path) -> float:
    import duckdb

    query = f"""
        SELECT language, substr(created_at, 1, 7) AS month, count(*) AS posts,
               count(DISTINCT media_sha256) AS media,
               sum(view_count + like_count + share_count + comment_count) AS interactions,
               max(length(caption) + length(hashtags)) AS text, max(report_count) AS reports,
               count(moderation_label) AS labelled, max(duration_s) AS longest,
               max(post_id) AS last_post, max(creator_id) AS last_creator
        FROM (SELECT {COLUMNS} FROM read_parquet('{export}/posts/*.parquet'))
        GROUP BY 1, 2
    """
    con = duckdb.connect()
    start = time.perf_counter()
    con.execute(query).fetchall()
    return time.perf_counter() - start


def tree_rss(pid: int) -> int:
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total


def run_curate(
    export: Path, workers: int, work: Path, threads: int | None = None
) -> dict[str, Any]:
    config = yaml.safe_load((ROOT / "docs" / "paper-scale.yaml").read_text())
    config["video"]["media_root"] = str(export / "media")
    config["workers"] = workers
    work.mkdir(parents=True, exist_ok=True)
    (work / "curate.yaml").write_text(yaml.safe_dump(config))
    output = work / "curation"
    cmd = [
        sys.executable, "-m", "flows.cli", "curate", "--config", str(work / "curate.yaml"),
        "--export", str(export), "--output", str(output),
    ]  # fmt: skip
    log = (work / "curate.log").open("w")
    start = time.perf_counter()
    env = {**os.environ, **({"POLARS_MAX_THREADS": str(threads)} if threads else {})}
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    peak_tree = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_tree
        while not done.is_set():
            peak_tree = max(peak_tree, tree_rss(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"curate failed; see {work / 'curate.log'}")
    funnel = json.loads((output / "funnel.json").read_text())
    return {
        "wall_s": round(wall, 1),
        "peak_rss_bytes": usage.ru_maxrss * 1024,  # Linux: KiB, the largest single process
        "peak_tree_rss_bytes": peak_tree,
        "bytes_written": usage.ru_oublock * 512,
        "output_bytes": sum(f.stat().st_size for f in output.resolve().rglob("*") if f.is_file()),
        "decoded_videos": funnel["decoded_videos"],
        "pool": next(s["kept"] for s in funnel["stages"] if s["stage"] == "quota"),
        "shortlist": funnel["shortlist"],
        "companions": funnel["companion"],
        "candidates": funnel["candidates"],
        "rounds": funnel["rounds"],
        "balanced": all(s["balanced"] for s in funnel["stages"]),
        "stages": {k: round(v, 1) for k, v in funnel["timings"].items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--workers", type=int, nargs="+", default=[2])
    parser.add_argument("--scan", type=Path, help=argparse.SUPPRESS)  # the child of duckdb_scan
    parser.add_argument("--one-worker-at", type=int, default=50_000_000,
                        help="also run with 1 worker at this size (speed-up figure)")  # fmt: skip
    args = parser.parse_args()
    if args.scan:
        print(scan_seconds(args.scan))
        return
    runs = []
    for posts in args.posts:
        export = export_dir(posts)
        scan = duckdb_scan(export)
        # At --one-worker-at, also one worker on all cores and one worker on one core: the
        # first is what a user gets, the second what one more worker (a core) adds.
        setups: list[tuple[int, int | None]] = [(n, None) for n in args.workers]
        if posts == args.one_worker_at:
            setups += [(1, None), (1, 1)]
        for n, threads in sorted(set(setups), key=lambda s: (s[0], s[1] or 0)):
            work = CACHE / "runs" / f"{posts}-{n}"
            shutil.rmtree(work, ignore_errors=True)
            found = run_curate(export, n, work, threads)
            export_bytes = sum(f.stat().st_size for f in (export / "posts").glob("*.parquet"))
            cores = threads or max(1, (os.cpu_count() or 1) // n)
            run = {"posts": posts, "workers": n, "threads_per_worker": cores, **found, **scan}
            run["vs_duckdb_scan"] = round(found["wall_s"] / scan["duckdb_scan_s"], 2)
            run["export_bytes"] = export_bytes
            print(json.dumps(run), flush=True)
            runs.append(run)
            shutil.rmtree(work / "curation.runs", ignore_errors=True)
    write_result("scale", {"runs": runs})


if __name__ == "__main__":
    main()
