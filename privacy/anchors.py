"""Anchors: write-once copies of the access log's signed head, kept away from the log.

The signed head stops anyone without the signing key from cutting the log short. It cannot stop
someone who restores an older log together with its older head: both verify. So every
checkpoint, and every flow run that logged something, copies the head to a second place the
log's host cannot rewrite (an S3 prefix with other credentials, ideally under S3 Object Lock, or
a folder on another machine), one file per seq, never overwritten. `massiv access verify` then
checks that every anchored head is still in the log: a log rolled back, cut, or rewritten and
re-signed below an anchor no longer verifies.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from storage.files import fsync_dir

PREFIX = "head-"


class LogTamperedError(RuntimeError):
    """The access log does not verify; the message says where."""


def _name(seq: int) -> str:
    return f"{PREFIX}{seq:012d}.json"


def _body(head: dict[str, Any]) -> bytes:
    return (
        json.dumps({k: head[k] for k in ("seq", "hash", "signature")}, sort_keys=True) + "\n"
    ).encode()


class HeadAnchors:
    """Anchors under `url`: s3://bucket/prefix (conditional puts) or a local folder."""

    def __init__(self, url: str, client: Any | None = None) -> None:
        self.url = url
        self.client = None
        if url.startswith("s3://"):
            from storage.s3 import s3_client, split_url

            self.bucket, self.prefix = split_url(url)
            self.client = client or s3_client()
        else:
            self.folder = Path(url)

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def put(self, head: dict[str, Any]) -> bool:
        """Anchor one signed head; False when that exact head was anchored already. Another
        head under the same seq means the log was rewritten: LogTamperedError."""
        body, name = _body(head), _name(int(head["seq"]))
        if self.client is None:
            # Written whole under a private name, then linked in: the link is atomic and never
            # replaces a file, so a reader (or a crash) never meets a half-written anchor.
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=self.folder)
            tmp = Path(tmp_name)
            with os.fdopen(fd, "wb") as fh:
                fh.write(body)
                fh.flush()
                os.fsync(fh.fileno())
            tmp.chmod(0o444)  # an anchor is never written again
            try:
                os.link(tmp, self.folder / name)
            except FileExistsError:
                return self._same(name, (self.folder / name).read_bytes(), body)
            finally:
                tmp.unlink()
            fsync_dir(self.folder)
            return True
        from storage.s3 import put_if_absent

        if put_if_absent(self.client, self.bucket, self._key(name), body):
            return True
        there = self.client.get_object(Bucket=self.bucket, Key=self._key(name))["Body"].read()
        return self._same(name, there, body)

    def _same(self, name: str, there: bytes, body: bytes) -> bool:
        if there != body:
            raise LogTamperedError(
                f"{self.url}/{name} anchors another head for this seq: the log was rewritten "
                "after it was anchored (run `massiv access verify`)"
            )
        return False

    def heads(self) -> list[dict[str, Any]]:
        """Every anchored head, by seq."""
        bodies: list[bytes] = []
        if self.client is None:
            if self.folder.is_dir():
                bodies = [p.read_bytes() for p in sorted(self.folder.glob(f"{PREFIX}*.json"))]
        else:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._key(PREFIX)
            )
            keys = sorted(o["Key"] for page in pages for o in page.get("Contents", []))
            bodies = [
                self.client.get_object(Bucket=self.bucket, Key=k)["Body"].read() for k in keys
            ]
        return [json.loads(b) for b in bodies]
