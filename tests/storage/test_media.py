"""Media from a local folder or a real S3 server (SeaweedFS), fingerprinted the same way."""

from collections.abc import Iterator
from pathlib import Path

import botocore.exceptions
import numpy as np
import pytest

from curation.video.fingerprint import FingerprintSettings, fingerprint_video
from curation.video.fingerprint_store import fingerprint_batch
from storage import media
from synth.local_s3 import S3Server
from tests.curation.video.test_fingerprint import write_clip


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    for name, value in s3_server.env(s3_server.reader).items():
        monkeypatch.setenv(name, value)
    yield s3_server  # storage.location keeps one client per environment: no cache to clear


def upload(server: S3Server, bucket: str, files: dict[str, bytes]) -> None:
    admin = server.client(server.admin)
    admin.create_bucket(Bucket=bucket)
    for key, data in files.items():
        admin.put_object(Bucket=bucket, Key=key, Body=data)


def test_local_and_s3_media_give_the_same_fingerprints(s3_env: S3Server, tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "a.mp4").read_bytes()
    upload(s3_env, "media-a", {"v/a.mp4": clip, "v/notes.txt": b"-", "v/deeper/b.mp4": clip})
    root = "s3://media-a/v"
    assert media.list_media(root) == {"a.mp4"}
    from_s3 = fingerprint_video(media.media_opener(root)("a.mp4"))
    local = fingerprint_video(tmp_path / "a.mp4")
    assert np.array_equal(from_s3.hashes, local.hashes)


def test_a_missing_object_is_a_reason_not_a_crash(s3_env: S3Server) -> None:
    upload(s3_env, "media-b", {})
    rows = fingerprint_batch(
        [(1, "x", "gone.mp4")], media.media_opener("s3://media-b"), FingerprintSettings()
    )
    assert rows["status"].to_list() == ["media_unavailable"]
    assert rows["detail"].to_list() == ["s3://media-b/gone.mp4: NoSuchKey"]


def test_the_server_enforces_credentials(s3_server: S3Server) -> None:
    upload(s3_server, "media-c", {"a.mp4": b"x"})
    intruder = s3_server.client(("nobody", "wrong"))
    with pytest.raises(botocore.exceptions.ClientError):
        intruder.get_object(Bucket="media-c", Key="a.mp4")
    reader = s3_server.client(s3_server.reader)
    assert reader.get_object(Bucket="media-c", Key="a.mp4")["Body"].read() == b"x"
    with pytest.raises(botocore.exceptions.ClientError):
        reader.put_object(Bucket="media-c", Key="b.mp4", Body=b"y")  # read-only identity
