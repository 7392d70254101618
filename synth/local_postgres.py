"""A real Postgres server on this machine, for the tests: Debian's (`make postgres` installs it),
in a temporary folder, on 127.0.0.1 only and a free port, with a password, stopped on exit."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

USER, PASSWORD, DATABASE = "massiv", "massiv-postgres-secret", "massiv"
START_TIMEOUT_S = 120  # the machine is shared: a first start may be slow


def postgres_bin() -> Path:
    """The newest installed version's binaries (Debian keeps them off PATH)."""
    found = sorted(
        (Path(d) for d in glob.glob("/usr/lib/postgresql/*/bin") if Path(d, "initdb").is_file()),
        key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0,
    )
    if not found:
        raise FileNotFoundError(
            "Postgres is not installed (/usr/lib/postgresql/*/bin): `make postgres` installs "
            "Debian's postgresql package"
        )
    return found[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:] if log.is_file() else ""


@contextmanager
def local_postgres() -> Iterator[str]:
    """A postgresql:// URL of an empty database on a new server; its user may create more."""
    bindir = postgres_bin()
    # Postgres refuses to run as root: then it runs as Debian's `postgres` user (Popen's
    # user=, no runuser in between, so our SIGINT reaches it), in a folder of its own under
    # /tmp (pytest's folders are closed to other users).
    as_root = os.geteuid() == 0
    user = "postgres" if as_root else None
    groups: list[int] | None = [] if as_root else None  # not root's supplementary groups
    workdir = Path(tempfile.mkdtemp(prefix="massiv-postgres-"))
    data, log = workdir / "data", workdir / "postgres.log"
    try:
        (workdir / "password").write_text(PASSWORD + "\n")
        if as_root:
            shutil.chown(workdir, user="postgres", group="postgres")
            shutil.chown(workdir / "password", user="postgres", group="postgres")
        initdb = [str(bindir / "initdb"), "-D", str(data), f"--username={USER}"]
        initdb += [f"--pwfile={workdir / 'password'}", "--auth=scram-sha-256", "--auth-local=trust"]
        initdb += ["--encoding=UTF8", "--no-locale", "--no-sync"]
        done = subprocess.run(
            initdb, capture_output=True, user=user, group=user, extra_groups=groups
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{done.stderr.decode(errors='replace')}")
        port = free_port()
        command = [str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(data)]
        command += ["-c", "listen_addresses=127.0.0.1"]
        # A test server: a crash loses nothing of value, and fsyncs would make it slow.
        command += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        with log.open("w") as out:
            proc = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                user=user,
                group=user,
                extra_groups=groups,
            )
        try:
            base = f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{port}"
            _wait_until_up(f"{base}/postgres", proc, log)
            with psycopg.connect(f"{base}/postgres", autocommit=True) as db:
                db.execute(f"CREATE DATABASE {DATABASE}")
            yield f"{base}/{DATABASE}"
        finally:
            proc.send_signal(signal.SIGINT)  # "fast" shutdown: ends the sessions, then stops
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            psycopg.connect(url, connect_timeout=5).close()
            return
        except psycopg.OperationalError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Postgres did not start; its log:\n{_tail(log)}") from None
            time.sleep(0.2)
