"""The site under load: 500 concurrent media redirects and 50 concurrent form submissions
against `massiv serve`'s app on uvicorn, 127.0.0.1, in its own process.

A release 1.0.0 (bench/access_load.py's rows: 2,000 labeled and 20,000 unlabeled, with its
media index) sits in a LocalStore; the platform's media store is a local folder, so the gateway
redirects to the site's own signed /platform-media links (presigning an S3 GET is a local HMAC
too: no request). The desk approves 20 grants and each gets an API token.

Media: 500 clients open one connection each, then all send `GET /media/{video_id}` at once
(Authorization: Bearer, a released video drawn at random; tokens taken in turn), for several
rounds. Server-side time is the app's own `Server-Timing` header (from the middleware's start to
the response: the wait for a worker thread, the grant check, the signed log's group commit);
client time is from the send to the 302. Forms: 50 clients fetch the access form (CSRF cookie
and token) and post it at once; then all 50 confirm their mailed links at once (each files a
request with the desk: one `access_requested` entry). A real SMTP server (aiosmtpd) takes the
mail.

Acceptance (criteria of the issue): every redirect 302 and exactly one `media_access` entry per
redirect, their URL hashes those the clients got; every form kept, mailed and filed once;
`AccessLog.verify` finds nothing wrong; p95 server-side ≤ 50 ms. A failure ends the run with
exit code 1, after writing the result.

    make bench-serve            # or: uv run python -m bench.serve
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.access_load import build_release, ms
from bench.common import ROOT, write_result

GRANTS = 20
ROOT_ENV = "MASSIV_BENCH_ROOT"
TARGET_P95_MS = 50.0


def site_config(root: Path, smtp_port: int) -> Any:
    from synth.site import site_config

    return site_config(
        root,
        smtp_port,
        form_posts_per_hour=100_000,  # every client here is 127.0.0.1
        media_root=str(root / "media"),
        takedowns=None,
    )


def bench_app() -> Any:
    """One server process's app, as `massiv serve` builds it (flows.web.app.app_from_env);
    when it shuts down, its group commit's counters go to <root>/commit-<pid>.json."""
    from contextlib import asynccontextmanager

    from flows.web.app import app_from_env

    app = app_from_env()
    commit, inner = app.state.gateway.commit, app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> Any:
        async with inner(a) as state:
            yield state
        stats = {"groups": commit.groups, "entries": commit.entries}
        (Path(os.environ[ROOT_ENV]) / f"commit-{os.getpid()}.json").write_text(json.dumps(stats))

    app.router.lifespan_context = lifespan
    return app


def serve(root: Path, port: int, smtp_port: int, workers: int) -> None:
    """The server: `massiv serve --workers N`'s uvicorn, on this bench's site."""
    import uvicorn

    from flows.web.app import CONFIG_ENV

    os.environ[CONFIG_ENV] = site_config(root, smtp_port).model_dump_json()
    os.environ[ROOT_ENV] = str(root)
    uvicorn.run(
        "bench.serve:bench_app",
        factory=True,
        workers=workers,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        backlog=2048,
    )


def prepare(root: Path) -> tuple[list[str], list[str]]:
    """The release, 20 approved grants with an API token each: (tokens, released video IDs)."""
    import polars as pl

    from privacy.access_log import create_signing_key
    from privacy.audit import open_desk
    from storage.local import LocalStore
    from storage.site_state import SiteState

    build_release(root / "store", 2_000, 20_000, 50_000, media=True)
    (root / "media").mkdir()
    config = site_config(root, 25)
    create_signing_key(config.access.signing_key)
    desk = open_desk(config.access)
    state = SiteState(config.state)
    tokens = []
    for i in range(GRANTS):
        grant = desk.request(f"R{i}", "Uni", f"r{i}@uni.example", "research", True)
        desk.approve(grant.id, "curator")
        tokens.append(state.new_api_token(grant.id))
    index = pl.read_parquet(LocalStore(root / "store").build("d", "1.0.0").media)
    return tokens, index["video_id"].to_list()


def cpu_s(pid: int, children: bool = True) -> float:
    """User + system CPU seconds so far of process `pid` (and its children) (/proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    if not children:
        return own
    kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return own + sum(cpu_s(int(c)) for c in kids)


def server_s(response: Answer | httpx.Response, metric: str = "app") -> float:
    found = re.search(rf"{metric};dur=([\d.]+)", response.headers.get("server-timing", ""))
    if not found:
        raise RuntimeError("an answer without Server-Timing")
    return float(found.group(1)) / 1e3


async def burst(
    clients: list[httpx.AsyncClient], requests: list[tuple[str, dict[str, Any]]]
) -> list[tuple[httpx.Response, float]]:
    """Client i sends request i; every client on its own open connection, all at once."""

    async def one(client: httpx.AsyncClient, method: str, kw: dict[str, Any]) -> Any:
        start = time.perf_counter()
        response = await client.request(method, **kw)
        return response, time.perf_counter() - start

    return await asyncio.gather(
        *(one(c, method, kw) for c, (method, kw) in zip(clients, requests, strict=True))
    )


@dataclass
class Answer:
    status_code: int
    headers: dict[str, str]


class RawConnection:
    """One keep-alive HTTP/1.1 connection, as light as a client can be: httpx's own CPU would
    take most of a core from the server on this 2-core machine."""

    def __init__(self, host: str, reader: asyncio.StreamReader, writer: Any) -> None:
        self.host, self.reader, self.writer = host, reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> RawConnection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(f"{host}:{port}", reader, writer)

    async def get(self, path: str, headers: dict[str, str]) -> tuple[Answer, float]:
        start = time.perf_counter()
        lines = [f"GET {path} HTTP/1.1", f"Host: {self.host}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        status, *fields = head.split("\r\n")
        answer = Answer(int(status.split()[1]), {})
        for field in filter(None, fields):
            name, _, value = field.partition(":")
            answer.headers[name.strip().lower()] = value.strip()
        if "chunked" in answer.headers.get("transfer-encoding", ""):
            raise RuntimeError(f"{path}: chunked answers are not read here")
        await self.reader.readexactly(int(answer.headers.get("content-length", "0")))
        return answer, time.perf_counter() - start

    def close(self) -> None:
        self.writer.close()


async def media_load(
    port: int, tokens: list[str], videos: list[str], clients: int, rounds: int
) -> dict[str, Any]:
    rng = random.Random(7)
    pool = await asyncio.gather(*(RawConnection.open("127.0.0.1", port) for _ in range(clients)))
    got: list[tuple[Answer, float]] = []
    walls = []
    try:
        for _ in range(rounds):
            picks = [(tokens[i % len(tokens)], rng.choice(videos)) for i in range(clients)]
            start = time.perf_counter()
            got += await asyncio.gather(
                *(
                    c.get(f"/media/{v}", {"Authorization": f"Bearer {t}"})
                    for c, (t, v) in zip(pool, picks, strict=True)
                )
            )
            walls.append(time.perf_counter() - start)
    finally:
        for c in pool:
            c.close()
    statuses = Counter(r.status_code for r, _ in got)
    return {
        "clients": clients,
        "rounds": rounds,
        "redirects": statuses.get(302, 0),
        "statuses": dict(statuses),
        "server_ms": ms([server_s(r) for r, _ in got]),
        "gateway_ms": ms([server_s(r, "gateway") for r, _ in got]),
        "client_ms": ms([c for _, c in got]),
        "redirects_per_s": round(len(got) / sum(walls), 1),
        "burst_wall_s": [round(w, 3) for w in walls],
        "locations": [r.headers.get("location", "") for r, _ in got],
    }


async def form_load(base: str, mailbox: Any, clients: int) -> dict[str, Any]:
    pool = [httpx.AsyncClient(base_url=base, timeout=120) for _ in range(clients)]
    try:
        pages = await asyncio.gather(*(c.get("/access") for c in pool))
        forms = []
        for i, page in enumerate(pages):
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token, "no CSRF token on the access form"
            fields = {
                "csrf_token": token.group(1),
                "name": f"Load {i}",
                "institution": "Uni",
                "email": f"load{i}@uni.example",
                "purpose": "research on short videos",
                "terms": "yes",
            }
            forms.append(("POST", {"url": "/access", "data": fields}))
        posted = await burst(pool, forms)
        links = [mailbox.link(f"load{i}@uni.example") for i in range(clients)]
        confirm_pages = await asyncio.gather(*(c.get(p) for c, p in zip(pool, links, strict=True)))
        confirms = []
        for link, page in zip(links, confirm_pages, strict=True):
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token, "no CSRF token on the confirmation page"
            confirms.append(("POST", {"url": link, "data": {"csrf_token": token.group(1)}}))
        confirmed = await burst(pool, confirms)
    finally:
        await asyncio.gather(*(c.aclose() for c in pool))
    return {
        "clients": clients,
        "posted": dict(Counter(r.status_code for r, _ in posted)),
        "confirmed": dict(Counter(r.status_code for r, _ in confirmed)),
        "post_server_ms": ms([server_s(r) for r, _ in posted]),
        "confirm_server_ms": ms([server_s(r) for r, _ in confirmed]),
        "post_client_ms": ms([c for _, c in posted]),
    }


def check(
    root: Path, media: dict[str, Any], warm: list[str], forms: dict[str, Any], mails: int
) -> list[str]:
    from privacy.access_log import AccessLog, hash_url, load_public_key
    from privacy.audit import open_desk

    config = site_config(root, 25)
    log = AccessLog(config.access.access_dir / "access-log.jsonl")
    entries = list(log.entries())
    logged = Counter(e["details"]["url_sha256"] for e in entries if e["event"] == "media_access")
    given = Counter(hash_url(url) for url in media["locations"] + warm)
    failures = []
    expected = media["clients"] * media["rounds"]
    if media["redirects"] != expected:
        failures.append(f"{media['redirects']} of {expected} media requests redirected")
    if logged != given:
        failures.append(
            f"{sum(logged.values())} media_access entries for {sum(given.values())} redirects,"
            f" {len(set(given) - set(logged))} redirects not logged"
        )
    problems = log.verify(load_public_key(config.access.signing_key.with_suffix(".pub")))
    failures += [f"log: {p}" for p in problems]
    n = forms["clients"]
    if forms["posted"] != {303: n} or forms["confirmed"] != {303: n}:
        failures.append(f"forms posted {forms['posted']}, confirmed {forms['confirmed']}")
    if mails != n:
        failures.append(f"{mails} confirmation e-mails for {n} forms")
    filed = [e for e in entries if e["event"] == "access_requested"]
    load_grants = {g.id for g in open_desk(config.access).grants().values()
                   if g.email.startswith("load")}  # fmt: skip
    if len(filed) != GRANTS + n or len(load_grants) != n:
        failures.append(f"{len(load_grants)} of {n} confirmed forms filed with the desk")
    if media["server_ms"]["p95"] > TARGET_P95_MS:
        failures.append(f"server-side p95 {media['server_ms']['p95']} ms > {TARGET_P95_MS} ms")
    return failures


def run(workers: int, args: argparse.Namespace) -> dict[str, Any]:
    """One server with `workers` processes under the whole load; its figures and failures."""
    from synth.local_smtp import free_port, smtp_server

    with tempfile.TemporaryDirectory(prefix="massiv-serve-bench-") as tmp, smtp_server() as mailbox:
        root = Path(tmp)
        tokens, videos = prepare(root)
        port = free_port()
        command = [sys.executable, "-m", "bench.serve", "--serve", str(root), "--port", str(port)]
        command += ["--smtp-port", str(mailbox.port), "--workers", str(workers)]
        server = subprocess.Popen(command, cwd=ROOT)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for(base, server)
            # A warm-up round per process (imports, first reads of the store), not counted.
            warm = asyncio.run(media_load(port, tokens, videos, 20 * workers, 1))
            cpu = cpu_s(server.pid), cpu_s(os.getpid(), children=False), time.perf_counter()
            media = asyncio.run(media_load(port, tokens, videos, args.clients, args.rounds))
            media["cpu_s"] = {
                "wall": round(time.perf_counter() - cpu[2], 2),
                "server": round(cpu_s(server.pid) - cpu[0], 2),
                "clients": round(cpu_s(os.getpid(), children=False) - cpu[1], 2),
            }
            forms = asyncio.run(form_load(base, mailbox, args.forms))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
        counts = [json.loads(p.read_text()) for p in root.glob("commit-*.json")]
        groups, entries = sum(c["groups"] for c in counts), sum(c["entries"] for c in counts)
        failures = check(root, media, warm["locations"], forms, len(mailbox.messages))
        log_bytes = os.path.getsize(root / "access" / "access-log.jsonl")
    media.pop("locations")
    return {
        "workers": workers,
        "media": media,
        "group_commit": {
            "processes": len(counts),
            "groups": groups,
            "entries": entries,
            "mean_group": round(entries / groups, 1) if groups else None,
        },
        "forms": forms,
        "log_bytes": log_bytes,
        "failures": failures,
    }


def wait_for(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(base + "/static/site.css").status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            raise SystemExit("the site did not start")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--smtp-port", type=int, default=25, help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--forms", type=int, default=50)
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve, args.port, args.smtp_port, args.workers)
    runs = [run(workers, args) for workers in (1, 2)]
    doc = {
        "setup": "massiv serve's app on uvicorn, 127.0.0.1; the clients on the same 2 cores",
        "target_p95_ms": TARGET_P95_MS,
        "runs": runs,
    }
    write_result("serve", doc)
    if any(r["failures"] for r in runs):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
