"""Access desk under load: 200 concurrent URL issuances and downloads from 127.0.0.1.

A release 1.0.0 (synth/release_rows.py: 2,000 labeled and 80,000 unlabeled, so two unlabeled
shards of about 1.2 MB each) is built into a LocalStore and pushed with `S3Store.publish` to a
real S3 server, SeaweedFS on 127.0.0.1 (synth/local_s3.py: credentials enforced; the desk
presigns with the read-only identity). An AccessDesk with an AccessLog (its Ed25519 signing key
in a folder apart from the log, a checkpoint every 50 entries) files and approves 20 grants.

Then 200 sessions are submitted at once to a pool (the pool's size is how many run at the same
time: 32 threads, or 16 processes): each session calls `desk.issue(grant)` (grants taken in
turn), which appends one `urls_issued` entry, and downloads one unlabeled shard through its URL
with urllib, checking its sha256 against the manifest. Every worker has its own AccessDesk,
AccessLog and S3 client, as separate processes on separate machines would; only the log file
(and its flock) is shared. Pools: threads, processes (spawned, so nothing is shared but the
files: does the GIL limit the threads?), and serial (one worker: the uncontended baseline). The
same runs on the LocalStore, with signed tokens redeemed by `desk.fetch` (which logs a
`download` entry too, so twice the appends).

The timer of an issuance covers `desk.issue`; of a download, the GET (or `fetch`) and the sha256
check. Throughput is sessions over the wall time of the whole load (issuance and download).
Also recorded: per issuance, the S3 requests the desk made and what each kind took (boto3 event
hooks; presigning timed too); the log's append (lock wait included) and how long the lock was
held (tail read, write, fsync, signed head); the share of the wall the lock was held, and the
machine's CPU busy share over the load (/proc/stat; SeaweedFS runs on the same machine).

Acceptance (criterion of the issue): no log entry lost (exactly one `urls_issued` entry per
session, their URL hashes those the sessions got; locally one `download` entry per fetch), the
checkpoints due written, and `AccessLog.verify(public key)` returns nothing. Any failure is
written to the result and ends the run with exit code 1.

    make bench-access            # or: uv run python -m bench.access_load
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import multiprocessing
import os
import queue
import shutil
import statistics
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import write_result

DATASET = "d"  # synth/release_rows.py's dataset name
VERSION = "1.0.0"
BUCKET = "massiv-access-bench"
CONFIGS = [f"{s}-{p}" for s in ("s3", "local") for p in ("serial", "threads", "processes")]


# Release ------------------------------------------------------------------------------------


def build_release(
    root: Path, labeled: int, unlabeled: int, shard_rows: int, media: bool = False
) -> Path:
    """A published local version (synth/release_rows.py's row shapes, bigger), its folder;
    with `media`, its index of platform media objects too (for the media gateway)."""
    from curation.release.build import changelog_entry, publish_release
    from privacy.blocklist import Blocklist
    from storage.local import LocalStore
    from synth.release_rows import AGREEMENT, media_index, release_header, rows

    header = release_header(VERSION)
    labeled_rows = rows(range(0, labeled), max(1, labeled // 5), "labeled")
    unlabeled_rows = rows(
        range(1_000_000, 1_000_000 + unlabeled), max(1, unlabeled // 8), "unlabeled"
    )
    path, _, _ = publish_release(
        LocalStore(root),
        header,
        labeled_rows,
        unlabeled_rows,
        AGREEMENT,
        [],
        lambda counts: changelog_entry(VERSION, None, counts, []),
        Blocklist.empty(),
        None,
        shard_rows,
        5_000,
        media=media_index(labeled_rows, unlabeled_rows) if media else None,
    )
    return path


# One desk per worker ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """What a worker needs to build its own desk (picklable, for spawned processes)."""

    kind: str  # s3 | local
    access_dir: Path
    key_path: Path
    token_path: Path
    checkpoint_every: int
    store_root: Path | None = None  # local
    endpoint: str | None = None  # s3
    credentials: tuple[str, str] | None = None
    url: str | None = None
    # Signed heads anchored on S3 at every checkpoint (write-once; needs a writing identity).
    anchors: str | None = None
    anchor_credentials: tuple[str, str] | None = None


def head_anchors(setup: Setup) -> Any:
    from privacy.anchors import HeadAnchors
    from storage.s3 import s3_client

    if setup.anchors is None:
        return None
    return HeadAnchors(setup.anchors, s3_client(setup.endpoint, setup.anchor_credentials))


def timed_log(path: Path, key: Any, every: int, anchors: Any = None) -> Any:
    """An AccessLog that keeps how long each of its appends took (lock wait included)."""
    from privacy.access_log import AccessLog

    class TimedLog(AccessLog):
        appends: list[float]  # each append, lock wait included
        holds: list[float]  # each time the lock was held (read tail, write, fsync, head)

        def append(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            start = time.perf_counter()
            try:
                return super().append(*args, **kwargs)
            finally:
                self.appends.append(time.perf_counter() - start)

        @contextmanager
        def _locked(self, mode: int = fcntl.LOCK_EX) -> Iterator[Any]:
            with super()._locked(mode) as fh:
                start = time.perf_counter()
                try:
                    yield fh
                finally:
                    self.holds.append(time.perf_counter() - start)

    log = TimedLog(path, key, every, anchors)
    log.appends, log.holds = [], []
    return log


class Meter:
    """What a desk's S3 client did: (operation, seconds) of every call, presigning included."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []

    def hook(self, client: Any) -> None:
        def before(context: dict[str, Any], **_: Any) -> None:
            context["bench_start"] = time.perf_counter()

        def after(model: Any, context: dict[str, Any], **_: Any) -> None:
            self.calls.append((model.name, time.perf_counter() - context["bench_start"]))

        client.meta.events.register("before-call.s3", before)
        client.meta.events.register("after-call.s3", after)
        presign = client.generate_presigned_url

        def timed_presign(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return presign(*args, **kwargs)
            finally:
                self.calls.append(("presign", time.perf_counter() - start))

        client.generate_presigned_url = timed_presign


def make_desk(setup: Setup) -> tuple[Any, Meter]:
    """(desk, its S3 meter) — a desk, log and store client of its own."""
    from privacy.access import AccessDesk, create_token_secret
    from privacy.access_log import load_signing_key

    log = timed_log(
        setup.access_dir / "access-log.jsonl",
        load_signing_key(setup.key_path),
        setup.checkpoint_every,
        head_anchors(setup),
    )
    meter = Meter()
    store: Any
    if setup.kind == "s3":
        from storage.s3 import S3Store, s3_client

        assert setup.url is not None
        client = s3_client(setup.endpoint, setup.credentials)
        meter.hook(client)
        store = S3Store(setup.url, client)
    else:
        from storage.local import LocalStore

        assert setup.store_root is not None
        store = LocalStore(setup.store_root)
    secret = create_token_secret(setup.token_path)
    return AccessDesk(setup.access_dir, log, store, DATASET, secret), meter


def session(
    desk: Any, meter: Meter, job: tuple[int, str, str, str], scratch: Path
) -> dict[str, Any]:
    """One researcher's visit: URLs issued for a grant, then one file downloaded and checked."""
    from privacy.access_log import hash_url

    i, grant, path, sha = job
    calls, holds = len(meter.calls), len(desk.log.holds)
    start = time.perf_counter()
    urls = desk.issue(grant)
    issued = time.perf_counter()
    append_s, hold_s = desk.log.appends[-1], desk.log.holds[-1]
    s3_calls: dict[str, list[float]] = {}
    for op, seconds in meter.calls[calls:]:
        s3_calls.setdefault(op, []).append(seconds)
    if urls[path].startswith("http"):
        with urllib.request.urlopen(urls[path], timeout=60) as response:
            body = response.read()
    else:
        dest = scratch / f"{i}.bin"
        desk.fetch(urls[path], dest)
        body = dest.read_bytes()
        dest.unlink()
    ok = hashlib.sha256(body).hexdigest() == sha
    done = time.perf_counter()
    log_lock_s = sum(desk.log.holds[holds:])  # the issuance's append, and fetch's locally
    return {
        "i": i,
        "start": start,
        "issued": issued,
        "done": done,
        "issue_s": issued - start,
        "append_s": append_s,
        "hold_s": hold_s,
        "log_lock_s": log_lock_s,
        "s3_requests": sum(len(v) for op, v in s3_calls.items() if op != "presign"),
        "s3_calls": {op: (len(v), sum(v)) for op, v in s3_calls.items()},
        "download_s": done - issued,
        "bytes": len(body),
        "sha_ok": ok,
        "url_sha256": sorted(hash_url(u) for u in urls.values()),
        "pid": os.getpid(),
    }


_DESK: tuple[Any, Meter, Path] | None = None


def _init_process(setup: Setup, scratch: Path) -> None:
    global _DESK
    desk, meter = make_desk(setup)
    _DESK = (desk, meter, scratch)


def _ready(_: int) -> int:
    time.sleep(0.2)
    return os.getpid()


def _process_session(job: tuple[int, str, str, str]) -> dict[str, Any]:
    assert _DESK is not None
    desk, meter, scratch = _DESK
    return session(desk, meter, job, scratch)


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, all CPUs (Linux; (0, 0) elsewhere)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def run_threads(
    setup: Setup, jobs: list[tuple[int, str, str, str]], workers: int, scratch: Path
) -> tuple[list[dict[str, Any]], float, float, float | None]:
    """(results, wall s of the load, s to build the workers' desks, machine CPU busy share)."""
    start = time.perf_counter()
    desks: queue.Queue[tuple[Any, Meter]] = queue.Queue()
    for _ in range(workers):
        desks.put(make_desk(setup))
    setup_s = time.perf_counter() - start

    def one(job: tuple[int, str, str, str]) -> dict[str, Any]:
        desk, meter = desks.get()  # a desk is one worker's: never two sessions at once
        try:
            return session(desk, meter, job, scratch)
        finally:
            desks.put((desk, meter))

    with ThreadPoolExecutor(workers) as pool:
        cpu = cpu_ticks()
        start = time.perf_counter()
        results = list(pool.map(one, jobs))
        wall = time.perf_counter() - start
        busy = busy_share(cpu, cpu_ticks())
    return results, wall, setup_s, busy


def busy_share(before: tuple[int, int], after: tuple[int, int]) -> float | None:
    total = after[1] - before[1]
    return round((after[0] - before[0]) / total, 2) if total > 0 else None


def run_processes(
    setup: Setup, jobs: list[tuple[int, str, str, str]], workers: int, scratch: Path
) -> tuple[list[dict[str, Any]], float, float, float | None]:
    start = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers, _init_process, (setup, scratch)) as pool:
        pool.map(_ready, range(workers), chunksize=1)  # every worker up, its desk built
        setup_s = time.perf_counter() - start
        cpu = cpu_ticks()
        start = time.perf_counter()
        results = pool.map(_process_session, jobs, chunksize=1)
        wall = time.perf_counter() - start
        busy = busy_share(cpu, cpu_ticks())
    return results, wall, setup_s, busy


# Checks and figures -----------------------------------------------------------------------------


def checkpoints_due(entries: int, every: int) -> int:
    """How many checkpoints a log of `entries` (non-checkpoint) appends holds."""
    seq = due = 0
    for _ in range(entries):
        seq += 1
        if seq % every == 0:
            seq += 1
            due += 1
    return due


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def ms(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(pct(values, 50) * 1000, 1),
        "p95": round(pct(values, 95) * 1000, 1),
        "p99": round(pct(values, 99) * 1000, 1),
        "max": round(max(values) * 1000, 1),
        "mean": round(statistics.fmean(values) * 1000, 1),
    }


def peak_in_flight(spans: list[tuple[float, float]]) -> int:
    events = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def check_log(setup: Setup, results: list[dict[str, Any]], entries_before: int) -> dict[str, Any]:
    from privacy.access_log import AccessLog, load_public_key

    log = AccessLog(setup.access_dir / "access-log.jsonl", None, setup.checkpoint_every)
    entries = log.entries()
    anchors = head_anchors(setup)
    anchored = anchors.heads() if anchors is not None else None
    problems = log.verify(load_public_key(setup.key_path.with_suffix(".pub")), anchored)
    events = Counter(e["event"] for e in entries)
    issued = [e for e in entries if e["event"] == "urls_issued"]
    logged_urls = Counter(tuple(e["details"]["url_sha256"]) for e in issued)
    session_urls = Counter(tuple(r["url_sha256"]) for r in results)
    appended = len(entries) - events["checkpoint"]
    due = checkpoints_due(appended, setup.checkpoint_every)
    downloads_expected = len(results) if setup.kind == "local" else 0
    download_hashes = {e["details"]["url_sha256"] for e in entries if e["event"] == "download"}
    every_issued = {h for r in results for h in r["url_sha256"]}
    lost = (
        len(issued) != len(results)
        or logged_urls != session_urls
        or events["download"] != downloads_expected
        or not download_hashes <= every_issued
        or appended != entries_before + len(results) + downloads_expected
    )
    return {
        "entries": len(entries),
        "events": dict(sorted(events.items())),
        "urls_issued_expected": len(results),
        "downloads_logged_expected": downloads_expected,
        "checkpoints": events["checkpoint"],
        "checkpoints_due": due,
        "last_seq": entries[-1]["seq"] if entries else 0,
        "no_entry_lost": not lost and events["checkpoint"] == due,
        "anchored_heads": len(anchored) if anchored is not None else None,
        "chain_valid": problems == [],
        "verify_problems": problems[:10],
        "log_bytes": log.path.stat().st_size,
    }


def s3_calls(results: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per S3 operation (and presigning): calls per issuance, and the ms they took per
    issuance (mean, p95)."""
    ops = sorted({op for r in results for op in r["s3_calls"]})
    out = {}
    for op in ops:
        counts = [r["s3_calls"].get(op, (0, 0.0))[0] for r in results]
        took = [r["s3_calls"].get(op, (0, 0.0))[1] for r in results]
        out[op] = {
            "calls": round(statistics.fmean(counts), 2),
            "mean_ms": round(statistics.fmean(took) * 1000, 1),
            "p95_ms": round(pct(took, 95) * 1000, 1),
        }
    return out


def run_config(
    name: str,
    setup: Setup,
    pool: str,
    workers: int,
    sessions: int,
    grants: int,
    files: list[tuple[str, str, int]],
    work: Path,
) -> dict[str, Any]:
    """File and approve the grants with a fresh log, run the sessions, check the log."""
    desk, _ = make_desk(setup)
    now = datetime.now(UTC)
    ids = []
    for g in range(grants):
        grant = desk.request(
            f"Researcher {g}", "Bench University", f"r{g}@bench.example", "load test", True, now
        )
        desk.approve(grant.id, "curator", days=30, now=now)
        ids.append(grant.id)
    entries_before = len(desk.log.entries())
    jobs = [
        (i, ids[i % grants], files[i % len(files)][0], files[i % len(files)][1])
        for i in range(sessions)
    ]
    scratch = work / f"scratch-{name}"
    scratch.mkdir(parents=True)
    runner = run_processes if pool == "processes" else run_threads
    results, wall, setup_s, busy = runner(setup, jobs, workers, scratch)
    log = check_log(setup, results, entries_before)
    issue = [r["issue_s"] for r in results]
    out = {
        "store": setup.kind,
        "pool": pool,
        "workers": workers,
        "sessions": sessions,
        "grants": grants,
        "worker_setup_s": round(setup_s, 2),
        "wall_s": round(wall, 3),
        "issuances_per_s": round(sessions / wall, 1),
        "issue_ms": ms(issue),
        "log_append_ms": ms([r["append_s"] for r in results]),
        "issue_ms_outside_log_append": ms([r["issue_s"] - r["append_s"] for r in results]),
        "log_lock_held_ms": ms([r["hold_s"] for r in results]),
        # share of the wall time the log's lock was held: near 1, the lock is the bottleneck
        "log_lock_busy_share": round(sum(r["log_lock_s"] for r in results) / wall, 2),
        "machine_cpu_busy_share": busy,
        "s3_requests_per_issuance": (
            sorted(set(r["s3_requests"] for r in results)) if setup.kind == "s3" else None
        ),
        "s3_calls_per_issuance": s3_calls(results) if setup.kind == "s3" else None,
        "download_ms": ms([r["download_s"] for r in results]),
        "downloaded_mb": round(sum(r["bytes"] for r in results) / 1e6, 1),
        "downloads_sha256_ok": all(r["sha_ok"] for r in results),
        "peak_sessions_in_flight": peak_in_flight([(r["start"], r["done"]) for r in results]),
        "peak_issuances_in_flight": peak_in_flight([(r["start"], r["issued"]) for r in results]),
        "worker_processes": len({r["pid"] for r in results}),
        "log": log,
    }
    out["ok"] = bool(log["no_entry_lost"] and log["chain_valid"] and out["downloads_sha256_ok"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--grants", type=int, default=20)
    parser.add_argument("--threads", type=int, default=32, help="thread-pool size")
    parser.add_argument("--processes", type=int, default=16, help="process-pool size")
    parser.add_argument("--checkpoint-every", type=int, default=50)
    parser.add_argument("--labeled", type=int, default=2_000)
    parser.add_argument("--unlabeled", type=int, default=80_000)
    parser.add_argument("--shard-rows", type=int, default=40_000)
    parser.add_argument(
        "--configs",
        nargs="+",
        default=CONFIGS,
        choices=CONFIGS,
        help="STORE-POOL; serial: the same sessions one at a time (the uncontended baseline)",
    )
    parser.add_argument("--keep", type=Path, help="keep the work folder here instead of /tmp")
    args = parser.parse_args()

    from privacy.access_log import create_signing_key
    from storage.s3 import S3Store, s3_client
    from synth.local_s3 import seaweedfs

    work = Path(tempfile.mkdtemp(prefix="massiv-access-load-"))
    total = time.perf_counter()
    try:
        start = time.perf_counter()
        local_root = work / "store"
        folder = build_release(local_root, args.labeled, args.unlabeled, args.shard_rows)
        build_s = time.perf_counter() - start
        manifest = json.loads((folder / "manifest.json").read_text())
        shards = [
            (f["path"], f["sha256"], f["bytes"])
            for f in manifest["files"]
            if f["path"].startswith("unlabeled/")
        ]
        keys = work / "curator"  # the signing key, apart from the logs and the store
        create_signing_key(keys / "access-log.key")
        (work / "weed").mkdir()
        configs: dict[str, Any] = {}
        with seaweedfs(work / "weed") as server:
            start = time.perf_counter()
            admin = s3_client(server.endpoint, server.admin)
            admin.create_bucket(Bucket=BUCKET)
            url = f"s3://{BUCKET}/releases"
            S3Store(url, admin).publish(folder, DATASET, VERSION)
            push_s = time.perf_counter() - start
            for name in args.configs:
                kind, pool = name.split("-")
                setup = Setup(
                    kind=kind,
                    access_dir=work / f"access-{name}",
                    key_path=keys / "access-log.key",
                    token_path=keys / "token.key",
                    checkpoint_every=args.checkpoint_every,
                    store_root=local_root if kind == "local" else None,
                    endpoint=server.endpoint if kind == "s3" else None,
                    credentials=server.reader if kind == "s3" else None,
                    url=url if kind == "s3" else None,
                    anchors=f"s3://{BUCKET}/anchors-{name}" if kind == "s3" else None,
                    anchor_credentials=server.admin if kind == "s3" else None,
                )
                workers = {"serial": 1, "threads": args.threads}.get(pool, args.processes)
                configs[name] = run_config(
                    name, setup, pool, workers, args.sessions, args.grants, shards, work
                )
                c = configs[name]
                print(
                    f"{name}: {c['issuances_per_s']}/s, issue p95 {c['issue_ms']['p95']} ms, "
                    f"ok {c['ok']}",
                    flush=True,
                )
        ok = all(c["ok"] for c in configs.values())
        doc = {
            "release": {
                "dataset": DATASET,
                "version": VERSION,
                "files": len(manifest["files"]),
                "bytes": sum(f["bytes"] for f in manifest["files"]),
                "downloaded_files": [{"path": p, "bytes": b} for p, _, b in shards],
                "build_s": round(build_s, 2),
                "push_to_s3_s": round(push_s, 2),
            },
            "s3": "SeaweedFS on 127.0.0.1 (synth/local_s3.py); presigned read-only",
            "checkpoint_every": args.checkpoint_every,
            "configs": configs,
            "issuances_per_s": {
                store: {
                    pool: configs[f"{store}-{pool}"]["issuances_per_s"]
                    for pool in ("serial", "threads", "processes")
                    if f"{store}-{pool}" in configs
                }
                for store in ("s3", "local")
            },
            "total_s": round(time.perf_counter() - total, 1),
            "target": {
                "sessions": args.sessions,
                "no_entry_lost": True,
                "chain_valid": True,
            },
            "met": {
                "no_entry_lost": all(c["log"]["no_entry_lost"] for c in configs.values()),
                "chain_valid": all(c["log"]["chain_valid"] for c in configs.values()),
                "downloads_sha256_ok": all(c["downloads_sha256_ok"] for c in configs.values()),
            },
        }
        write_result("access_load", doc)
    finally:
        if args.keep:
            shutil.copytree(work, args.keep, dirs_exist_ok=True)
        shutil.rmtree(work, ignore_errors=True)

    print()
    for name, c in configs.items():
        s3 = (
            f"; {'/'.join(map(str, c['s3_requests_per_issuance']))} S3 requests per issuance"
            if c["s3_requests_per_issuance"]
            else ""
        )
        pool = "serial" if c["pool"] == "serial" else f"{c['workers']} {c['pool']}"
        print(
            f"{name} ({pool}, {c['sessions']} sessions over {c['grants']} "
            f"grants): {c['issuances_per_s']} issuances/s, wall {c['wall_s']:.2f} s; issue p50 "
            f"{c['issue_ms']['p50']} / p95 {c['issue_ms']['p95']} / p99 {c['issue_ms']['p99']} "
            f"ms (log append p95 {c['log_append_ms']['p95']} ms, lock held p95 "
            f"{c['log_lock_held_ms']['p95']} ms, lock busy {c['log_lock_busy_share']:.0%} of the "
            f"wall, CPU busy {c['machine_cpu_busy_share'] or 0:.0%}{s3}); download p50 "
            f"{c['download_ms']['p50']} / p95 {c['download_ms']['p95']} ms "
            f"({c['downloaded_mb']} MB); log {c['log']['entries']} entries "
            f"({c['log']['events'].get('urls_issued', 0)} urls_issued, "
            f"{c['log']['checkpoints']} checkpoints of {c['log']['checkpoints_due']} due), "
            f"chain {'valid' if c['log']['chain_valid'] else 'BROKEN'}, "
            f"{'no entry lost' if c['log']['no_entry_lost'] else 'ENTRIES LOST'}"
        )
    print(
        f"acceptance ({args.sessions} concurrent issuances + downloads): no entry lost "
        f"{'met' if doc['met']['no_entry_lost'] else 'NOT met'}; chain valid "
        f"{'met' if doc['met']['chain_valid'] else 'NOT met'}; downloads' sha256 "
        f"{'ok' if doc['met']['downloads_sha256_ok'] else 'WRONG'}"
    )
    if not ok:
        raise SystemExit("access load: a log entry was lost, the chain broke or a download differs")


if __name__ == "__main__":
    main()
