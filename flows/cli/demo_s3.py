"""The S3 half of `massiv demo`: releases on a real S3 server on this machine, and the desk
that presigns their URLs.

SeaweedFS runs on 127.0.0.1 with enforced credentials (synth/local_s3.py). The flows publish
with the admin identity; the desk presigns with the read-only one, so a URL it issues can never
write. The log's signed heads are anchored in the same server under another prefix: in
production that is storage the log's host cannot rewrite (another account, Object Lock).
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from curation.config import AccessConfig
from privacy.access import AccessDesk
from privacy.access_log import create_signing_key
from privacy.audit import access_log
from storage.s3 import S3Store, s3_client
from synth.local_s3 import S3Server, seaweedfs

DEMO_ACCESS_KEY = Path.home() / ".config" / "massiv" / "demo-access-log.key"
BUCKET = "massiv-demo"


@dataclass(frozen=True)
class DemoS3:
    server: S3Server
    releases: str  # s3:// URL the flows publish to
    access: AccessConfig
    access_config_file: Path  # the same AccessConfig as YAML, for `massiv access … --config`


@contextmanager
def demo_s3(workdir: Path, store: Path) -> Iterator[DemoS3]:
    """A SeaweedFS server with a bucket, boto3's environment pointing at it (admin identity),
    and an access config whose log is anchored in the bucket. Stopped and restored after."""
    if not DEMO_ACCESS_KEY.exists():
        create_signing_key(DEMO_ACCESS_KEY)
    (workdir / "s3").mkdir(parents=True)
    with seaweedfs(workdir / "s3") as server:
        env = server.env(server.admin)
        saved = {name: os.environ.get(name) for name in env}
        os.environ.update(env)
        try:
            server.client(server.admin).create_bucket(Bucket=BUCKET)
            access = AccessConfig(
                access_dir=workdir / "access",
                signing_key=DEMO_ACCESS_KEY,
                store=store,
                s3_url=f"s3://{BUCKET}/releases",
                anchors=f"s3://{BUCKET}/access-log-anchors",
                checkpoint_every=20,
            )
            config_file = workdir / "access.yaml"
            config_file.write_text(yaml.safe_dump(access.model_dump(mode="json")))
            yield DemoS3(server, f"s3://{BUCKET}/releases", access, config_file)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def demo_desk(setup: DemoS3) -> AccessDesk:
    """The curator's desk: presigns with the read-only identity."""
    reader = s3_client(setup.server.endpoint, setup.server.reader)
    store = S3Store(setup.releases, client=reader)
    return AccessDesk(
        setup.access.access_dir, access_log(setup.access), store, setup.access.dataset
    )


def download(
    urls: dict[str, str], manifest: dict[str, Any], dest: Path, advance: Callable[[int], None]
) -> int:
    """What a researcher does with the URLs: GET each file and check its sha256 against the
    manifest. Returns the bytes fetched."""
    expected = {f["path"]: f["sha256"] for f in manifest["files"]}
    total = 0
    for path, url in sorted(urls.items()):
        with urllib.request.urlopen(url, timeout=60) as response:
            body = response.read()
        if hashlib.sha256(body).hexdigest() != expected[path]:
            raise RuntimeError(f"{path}: downloaded bytes do not match the manifest")
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
        total += len(body)
        advance(1)
    return total
