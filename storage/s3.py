"""Release store on S3 (boto3), with the local store's commit protocol.

Layout under s3://<bucket>/<prefix>/<dataset>/:
    objects/ab/<sha256>               every file of every version, once (content-addressed)
    versions/<version>/manifest.json  a version; written last, by a conditional put
A version is published by uploading the objects its manifest lists that the bucket does not
hold yet, then putting the manifest with If-None-Match: "*". Until that put, no reader sees the
version (readers list manifests and follow them to objects); after it, every object it names is
there. Two publishers cannot both create a version: the second put fails with 412. A publisher
that died after its put and runs again finds the same manifest bytes and reports success.

Transient errors (503 SlowDown, timeouts, dropped connections) are retried with backoff by
botocore's standard retry mode. Credentials and endpoint come from the arguments or boto3's
standard environment (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from storage.local import VERSION_RE, VersionExistsError

MANIFEST = "manifest.json"
RETRIES = {"mode": "standard", "max_attempts": 6}
# Garbage collection deletes unlisted objects older than GC_GRACE; a publish refreshes any
# object it reuses that is older than REFRESH_AFTER, so the two can never meet mid-publish.
GC_GRACE = timedelta(days=1)
REFRESH_AFTER = timedelta(hours=12)


class S3StoreError(ValueError):
    """A bad s3:// location, or local bytes that do not match their manifest."""


def s3_client(endpoint: str | None = None, credentials: tuple[str, str] | None = None) -> Any:
    import boto3
    from botocore.config import Config

    # A session of its own: boto3's default session keeps the credentials it first found.
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=credentials[0] if credentials else None,
        aws_secret_access_key=credentials[1] if credentials else None,
        config=Config(
            retries=RETRIES,
            signature_version="s3v4",
            connect_timeout=5,
            read_timeout=30,
        ),
    )


def split_url(url: str) -> tuple[str, str]:
    """(bucket, prefix) of s3://bucket/prefix."""
    if not url.startswith("s3://"):
        raise S3StoreError(f"not an s3:// URL: {url}")
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise S3StoreError(f"no bucket in {url}")
    return bucket, prefix.strip("/")


def put_if_absent(client: Any, bucket: str, key: str, body: bytes, tries: int = 5) -> bool:
    """Create `key` only if it does not exist (If-None-Match: *): True if this call created
    it, False if it was there (412). AWS answers 409 ConditionalRequestConflict while another
    conditional write of the key is in flight, which botocore does not retry: retried here,
    and the loser then gets its 412."""
    for attempt in range(tries):
        try:
            client.put_object(
                Bucket=bucket,
                Key=key,
                Body=body,
                IfNoneMatch="*",
                ContentType="application/json",
            )
            return True
        except Exception as exc:
            code = _error_code(exc)
            if code in ("PreconditionFailed", "412"):
                return False
            if code not in ("ConditionalRequestConflict", "409") or attempt == tries - 1:
                raise
            time.sleep(0.2 * 2**attempt)
    raise AssertionError("unreachable")


def _error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


class S3Store:
    def __init__(self, url: str, client: Any | None = None) -> None:
        self.url = url
        self.bucket, self.prefix = split_url(url)
        self.client = client or s3_client()

    def key(self, dataset: str, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, dataset, *parts) if p)

    def object_key(self, dataset: str, sha256: str) -> str:
        return self.key(dataset, "objects", sha256[:2], sha256)

    def manifest_key(self, dataset: str, version: str) -> str:
        return self.key(dataset, "versions", version, MANIFEST)

    def versions(self, dataset: str) -> list[str]:
        """Published versions: those whose manifest is in the bucket, in version order."""
        prefix = self.key(dataset, "versions") + "/"
        found = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            for obj in page.get("Contents", []):
                version, _, name = obj["Key"][len(prefix) :].partition("/")
                if name == MANIFEST and VERSION_RE.match(version):
                    found.append(version)
        return sorted(found, key=lambda v: tuple(int(x) for x in v.split(".")))

    def manifest_bytes(self, dataset: str, version: str) -> bytes | None:
        try:
            got = self.client.get_object(
                Bucket=self.bucket, Key=self.manifest_key(dataset, version)
            )
        except Exception as exc:
            if _error_code(exc) in ("NoSuchKey", "404"):
                return None
            raise
        return bytes(got["Body"].read())

    def read_manifest(self, dataset: str, version: str) -> dict[str, Any]:
        data = self.manifest_bytes(dataset, version)
        if data is None:
            raise FileNotFoundError(f"{dataset} {version} is not published in {self.url}")
        return dict(json.loads(data))

    def _head(self, dataset: str, sha256: str) -> dict[str, Any] | None:
        try:
            return dict(
                self.client.head_object(Bucket=self.bucket, Key=self.object_key(dataset, sha256))
            )
        except Exception as exc:
            if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def object_size(self, dataset: str, sha256: str) -> int | None:
        """The stored object's size, None when it is not there."""
        got = self._head(dataset, sha256)
        return None if got is None else int(got["ContentLength"])

    def has_object(self, dataset: str, sha256: str) -> bool:
        return self.object_size(dataset, sha256) is not None

    def publish(self, folder: Path, dataset: str, version: str) -> str:
        """Publish a local version folder (a staged or locally published build): objects
        first, the manifest last and only if no such version exists. Returns the manifest's
        sha256. Running it again after a failure completes the same version."""
        manifest = (folder / MANIFEST).read_bytes()
        doc = json.loads(manifest)
        for entry in doc["files"]:
            self._upload_if_needed(folder, dataset, entry)
        created = put_if_absent(
            self.client, self.bucket, self.manifest_key(dataset, version), manifest
        )
        # Not created: someone published this version. Fine if it is this very build (a rerun
        # after a lost response), an error otherwise.
        if not created and self.manifest_bytes(dataset, version) != manifest:
            raise VersionExistsError(
                f"{dataset} {version} is already published in {self.url}; published "
                "versions are immutable: release a new version instead"
            )
        # A garbage collection that listed the bucket before the refreshes above may still
        # delete an object it saw as old and unlisted: put back any that went.
        for entry in doc["files"]:
            if not self.has_object(dataset, entry["sha256"]):
                self._upload_if_needed(folder, dataset, entry)
        return hashlib.sha256(manifest).hexdigest()

    def _upload_if_needed(self, folder: Path, dataset: str, entry: dict[str, Any]) -> bool:
        """Upload one file unless its object is there whole; True if it was uploaded. An old
        object that is reused is refreshed (copied onto itself, server-side): it may belong
        only to purged versions or a failed publish, and the garbage collection spares only
        objects younger than its grace."""
        there = self._head(dataset, entry["sha256"])
        if there is not None and int(there["ContentLength"]) == entry["bytes"]:
            # There, and whole (its name is its content's sha256).
            if there["LastModified"] < datetime.now(UTC) - REFRESH_AFTER:
                key = self.object_key(dataset, entry["sha256"])
                self.client.copy_object(
                    Bucket=self.bucket,
                    Key=key,
                    CopySource={"Bucket": self.bucket, "Key": key},
                    MetadataDirective="REPLACE",
                )
            return False
        # One PutObject per file (release files are a few MB): every call is the client's own,
        # retried by its policy, and visible to its event hooks. The bytes are checked against
        # the manifest first: a bad local copy must not become the object.
        data = (folder / entry["path"]).read_bytes()
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise S3StoreError(
                f"{folder / entry['path']}: sha256 differs from its manifest; not uploaded"
            )
        self.client.put_object(
            Bucket=self.bucket, Key=self.object_key(dataset, entry["sha256"]), Body=data
        )
        return True

    def verify(self, dataset: str, version: str) -> list[str]:
        """Every problem found checking the version's objects against its manifest."""
        try:
            doc = self.read_manifest(dataset, version)
        except FileNotFoundError as exc:
            return [str(exc)]
        problems = []
        for entry in doc["files"]:
            key = self.object_key(dataset, entry["sha256"])
            try:
                body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            except Exception as exc:
                if _error_code(exc) in ("NoSuchKey", "404"):
                    problems.append(f"{entry['path']}: missing (s3://{self.bucket}/{key})")
                    continue
                raise
            if len(body) != entry["bytes"]:
                problems.append(
                    f"{entry['path']}: {len(body)} bytes, manifest says {entry['bytes']}"
                )
            elif hashlib.sha256(body).hexdigest() != entry["sha256"]:
                problems.append(f"{entry['path']}: sha256 differs from the manifest")
        return problems

    def withdrawn(self, dataset: str) -> dict[str, dict[str, Any]]:
        """Withdrawal marks (withdrawn/<version>.json), as the local store keeps them."""
        prefix = self.key(dataset, "withdrawn") + "/"
        marks = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            for obj in page.get("Contents", []):
                body = self.client.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read()
                marks[obj["Key"][len(prefix) :].removesuffix(".json")] = json.loads(body)
        return marks

    def mirror_withdrawn(self, dataset: str, marks: dict[str, dict[str, Any]]) -> list[str]:
        """Bring the bucket's withdrawal marks up to `marks` (the local store's); returns the
        versions whose mark was written. Run before any upload, so a withdrawn version stops
        being served even when an upload fails."""
        there = self.withdrawn(dataset)
        changed = [v for v, mark in marks.items() if there.get(v) != mark]
        for version in changed:
            self.mark_withdrawn(dataset, version, marks[version])
        return changed

    def coverage(self, dataset: str) -> dict[str, Any]:
        """The local store's coverage.json as last mirrored (see storage.local.unchecked_batch)."""
        try:
            body = self.client.get_object(
                Bucket=self.bucket, Key=self.key(dataset, "coverage.json")
            )
        except self.client.exceptions.NoSuchKey:
            return {}
        return dict(json.loads(body["Body"].read()))

    def mirror_coverage(self, dataset: str, coverage: dict[str, Any]) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=self.key(dataset, "coverage.json"),
            Body=json.dumps(coverage, sort_keys=True).encode(),
            ContentType="application/json",
        )

    def mark_withdrawn(self, dataset: str, version: str, mark: dict[str, Any]) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=self.key(dataset, "withdrawn", f"{version}.json"),
            Body=json.dumps(mark, sort_keys=True).encode(),
            ContentType="application/json",
        )

    def collect_garbage(self, dataset: str, now: datetime, grace: timedelta = GC_GRACE) -> int:
        """Delete objects no kept version lists: those of purged versions (their withdrawal
        mark says purged_at), and those a failed publish left. Only objects older than `grace`,
        so a publisher still uploading keeps its own. Returns how many went."""
        return self.delete_unlisted(dataset, self.unlisted_objects(dataset, now, grace), now, grace)

    def _listed(self, dataset: str) -> set[str]:
        """The sha256 of every object a kept (not purged) version lists."""
        marks = self.withdrawn(dataset)
        listed: set[str] = set()
        for version in self.versions(dataset):
            if not marks.get(version, {}).get("purged_at"):
                listed |= {e["sha256"] for e in self.read_manifest(dataset, version)["files"]}
        return listed

    def unlisted_objects(self, dataset: str, now: datetime, grace: timedelta) -> list[str]:
        """Keys of objects no kept version lists and older than `grace`: the candidates."""
        listed = self._listed(dataset)
        prefix = self.key(dataset, "objects") + "/"
        return [
            obj["Key"]
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for obj in page.get("Contents", [])
            if obj["Key"].rsplit("/", 1)[-1] not in listed and obj["LastModified"] < now - grace
        ]

    def delete_unlisted(
        self, dataset: str, candidates: list[str], now: datetime, grace: timedelta
    ) -> int:
        """Delete the candidates that are still unlisted and old. Listing a large bucket takes
        a while, and a publish may meanwhile have listed or refreshed an object: so the
        manifests are read again and each object's age checked again right before it goes."""
        listed = self._listed(dataset)
        gone = []
        for key in candidates:
            if key.rsplit("/", 1)[-1] in listed:
                continue
            try:
                modified = self.client.head_object(Bucket=self.bucket, Key=key)["LastModified"]
            except Exception as exc:
                if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                    continue
                raise
            if modified < now - grace:
                gone.append({"Key": key})
        for start in range(0, len(gone), 1000):  # DeleteObjects takes 1,000 keys at most
            self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": gone[start : start + 1000], "Quiet": True}
            )
        return len(gone)

    def download(self, dataset: str, version: str, dest: Path) -> Path:
        """A local copy of a published version (its files and manifest) in `dest`."""
        manifest = self.manifest_bytes(dataset, version)
        if manifest is None:
            raise FileNotFoundError(f"{dataset} {version} is not published in {self.url}")
        for entry in json.loads(manifest)["files"]:
            path = dest / entry["path"]
            path.parent.mkdir(parents=True, exist_ok=True)
            got = self.client.get_object(
                Bucket=self.bucket, Key=self.object_key(dataset, entry["sha256"])
            )
            path.write_bytes(got["Body"].read())
        (dest / MANIFEST).write_bytes(manifest)
        return dest
