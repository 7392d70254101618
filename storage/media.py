"""Where media files come from: a local folder or an S3 bucket (read through boto3).

A media root is a folder path or `s3://bucket/prefix`. S3 settings come from boto3's standard
environment (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION),
which Dask worker processes inherit; transient errors are retried with backoff by boto3's
standard retry mode. Objects are read whole into memory: short videos are a few MB.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO

MediaOpener = Callable[[str], "Path | BinaryIO"]


def is_s3(root: str) -> bool:
    return root.startswith("s3://")


def split_s3(root: str) -> tuple[str, str]:
    bucket, _, prefix = root.removeprefix("s3://").partition("/")
    return bucket, prefix.strip("/")


@cache
def s3_client() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        config=Config(retries={"mode": "standard", "max_attempts": 5}, signature_version="s3v4"),
    )


def media_opener(root: str) -> MediaOpener:
    """A function from a location (a name under the root) to something PyAV can open."""
    if not is_s3(root):
        return lambda location: Path(root) / location
    bucket, prefix = split_s3(root)

    def open_object(location: str) -> BinaryIO:
        key = f"{prefix}/{location}" if prefix else location
        try:
            body = s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as exc:  # botocore's errors are not OSErrors; the batch wants one kind
            raise OSError(f"s3://{bucket}/{key}: {type(exc).__name__}") from exc
        return io.BytesIO(body)

    return open_object


def list_media(root: str, suffix: str = ".mp4") -> set[str]:
    """Names (relative to the root) of the media files present."""
    if not is_s3(root):
        folder = Path(root)
        return {p.name for p in folder.glob(f"*{suffix}")} if folder.is_dir() else set()
    bucket, prefix = split_s3(root)
    names: set[str] = set()
    pages = (
        s3_client()
        .get_paginator("list_objects_v2")
        .paginate(Bucket=bucket, Prefix=f"{prefix}/" if prefix else "")
    )
    for page in pages:
        for obj in page.get("Contents", []):
            name = obj["Key"][len(prefix) + 1 :] if prefix else obj["Key"]
            if name.endswith(suffix) and "/" not in name:
                names.add(name)
    return names
