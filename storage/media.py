"""Where media files come from: a local folder or an S3 bucket (read through boto3).

A media root is a folder path or `s3://bucket/prefix`. S3 settings come from boto3's standard
environment (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION),
which Dask worker processes inherit; transient errors are retried with backoff by boto3's
standard retry mode. Objects are read whole into memory: short videos are a few MB.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from storage.location import is_s3, list_files, s3_client, split_s3

MediaOpener = Callable[[str], "Path | BinaryIO"]


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
    return {location.rsplit("/", 1)[-1] for location in list_files(root, suffix)}
