"""Folders that are a local path or `s3://bucket/prefix`, for the tables the passes read and write.

Polars reads and writes s3:// itself; listing, deleting and uploading go through boto3. Both
take their settings from boto3's standard environment (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION), which Dask worker processes inherit. Locations are
strings: a `Path` would fold `s3://` into `s3:/`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl

Location = str | Path


def is_s3(location: Location) -> bool:
    return str(location).startswith("s3://")


def split_s3(location: Location) -> tuple[str, str]:
    """(bucket, key prefix without slashes at either end) of s3://bucket/prefix."""
    bucket, _, prefix = str(location).removeprefix("s3://").partition("/")
    return bucket, prefix.strip("/")


def s3_client() -> Any:
    """A client for boto3's environment as it is now (one per distinct environment: a boto3
    session keeps the credentials it first found)."""
    names = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE")
    return _client(tuple(os.environ.get(n) for n in names))


@cache
def _client(_environment: tuple[str | None, ...]) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        config=Config(retries={"mode": "standard", "max_attempts": 5}, signature_version="s3v4"),
    )


def join(root: Location, *names: str) -> str:
    """`root/name/…` as a string, local or s3://."""
    if is_s3(root):
        return "/".join([str(root).rstrip("/"), *names])
    return str(Path(root).joinpath(*names))


def _keys(root: Location) -> Iterator[tuple[str, int]]:
    """(key, size) of every object under an s3:// folder."""
    bucket, prefix = split_s3(root)
    pages = (
        s3_client()
        .get_paginator("list_objects_v2")
        .paginate(Bucket=bucket, Prefix=f"{prefix}/" if prefix else "")
    )
    for page in pages:
        for obj in page.get("Contents", []):
            yield obj["Key"], int(obj["Size"])


def list_files(root: Location, suffix: str = ".parquet", recursive: bool = False) -> list[str]:
    """Locations of the files in a folder whose names end in `suffix`, sorted."""
    if not is_s3(root):
        folder = Path(root)
        found = folder.rglob(f"*{suffix}") if recursive else folder.glob(f"*{suffix}")
        return sorted(str(p) for p in found if p.is_file())
    bucket, prefix = split_s3(root)
    start = len(prefix) + 1 if prefix else 0
    names = [k[start:] for k, _ in _keys(root)]
    return sorted(
        f"s3://{bucket}/{prefix + '/' if prefix else ''}{name}"
        for name in names
        if name.endswith(suffix) and (recursive or "/" not in name)
    )


def exists(location: Location) -> bool:
    if not is_s3(location):
        return Path(location).exists()
    bucket, key = split_s3(location)
    try:
        s3_client().head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        if _status(exc) == 404:
            return False
        raise
    return True


def _status(exc: Exception) -> int | None:
    response = getattr(exc, "response", None) or {}
    code = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(code) if code else None


def write_parquet(frame: pl.DataFrame, location: Location) -> None:
    if not is_s3(location):
        Path(location).parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(str(location))


def sink_parquet(frame: pl.LazyFrame, location: Location) -> None:
    if not is_s3(location):
        Path(location).parent.mkdir(parents=True, exist_ok=True)
    frame.sink_parquet(str(location))


def read_bytes(location: Location) -> bytes:
    if not is_s3(location):
        return Path(location).read_bytes()
    bucket, key = split_s3(location)
    return bytes(s3_client().get_object(Bucket=bucket, Key=key)["Body"].read())


def write_bytes(location: Location, body: bytes) -> None:
    if not is_s3(location):
        Path(location).write_bytes(body)
        return
    bucket, key = split_s3(location)
    s3_client().put_object(Bucket=bucket, Key=key, Body=body)


def sha256(location: Location) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    if is_s3(location):
        bucket, key = split_s3(location)
        body = s3_client().get_object(Bucket=bucket, Key=key)["Body"]
        for block in iter(lambda: body.read(1 << 20), b""):
            digest.update(block)
    else:
        with Path(location).open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def remove_tree(root: Location) -> None:
    """Delete a folder and everything under it (nothing when it is not there)."""
    if not is_s3(root):
        shutil.rmtree(root, ignore_errors=True)
        return
    bucket, _ = split_s3(root)
    keys = [k for k, _ in _keys(root)]
    for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1,000 keys
        batch = [{"Key": k} for k in keys[start : start + 1000]]
        s3_client().delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})


def upload_tree(
    local: Path, root: str, last: str | None = None, skip: tuple[str, ...] = ()
) -> None:
    """Every file under `local` (but those named in `skip`) to the s3:// folder `root`, the file
    named `last` (relative to `local`) after all the others: readers that wait for it see a
    whole folder."""
    bucket, prefix = split_s3(root)
    files = sorted(p for p in local.rglob("*") if p.is_file() and p.name not in skip)
    files.sort(key=lambda p: p.relative_to(local).as_posix() == last)  # stable: `last` goes last
    for path in files:
        key = f"{prefix}/{path.relative_to(local).as_posix()}".lstrip("/")
        s3_client().upload_file(str(path), bucket, key)


def download_tree(root: str, local: Path) -> list[Path]:
    """Every object under the s3:// folder `root` into `local`, keeping the relative paths."""
    bucket, prefix = split_s3(root)
    start = len(prefix) + 1 if prefix else 0
    written = []
    for key, _ in _keys(root):
        target = local / key[start:]
        target.parent.mkdir(parents=True, exist_ok=True)
        s3_client().download_file(bucket, key, str(target))
        written.append(target)
    return written
