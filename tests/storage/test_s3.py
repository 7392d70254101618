"""The S3 release store against a real S3 server (SeaweedFS): commit protocol, crash safety at
every call, retries of transient errors, immutability."""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError

from curation.release import bundle
from privacy.blocklist import Blocklist
from storage.local import LocalStore, VersionExistsError
from storage.s3 import S3Store, s3_client
from synth.local_s3 import S3Server
from tests.curation.release.test_build import block, publish

BUCKET = "releases"
counter = itertools.count()


class Injected(RuntimeError):
    """A failure no retry can mend: the publisher dies at this call."""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two local versions to publish: 1.0.0 and its patch 1.0.1 (sharing most files)."""
    from curation.release.patch import patch_release

    store = LocalStore(tmp_path_factory.mktemp("local"))
    first = publish(store, "1.0.0", Blocklist.empty())
    second, _, _ = patch_release(
        store, "d", "1.0.0", "1.0.1", block(Blocklist.empty(), videos=[101])
    )
    return first, second


def fresh_store(server: S3Server, client: Any | None = None) -> S3Store:
    admin = client or s3_client(server.endpoint, server.admin)
    try:
        admin.create_bucket(Bucket=BUCKET)
    except Exception as exc:  # already made by an earlier test
        if "BucketAlready" not in type(exc).__name__ and "BucketAlready" not in str(exc):
            raise
    return S3Store(f"s3://{BUCKET}/run-{next(counter)}-{uuid.uuid4().hex[:6]}", admin)


def test_publish_verify_download_and_immutability(
    s3_server: S3Server, built: tuple[Path, Path], tmp_path: Path
) -> None:
    first, second = built
    store = fresh_store(s3_server)
    digest = store.publish(first, "d", "1.0.0")
    assert digest == bundle.sha256_file(first / "manifest.json")
    assert store.versions("d") == ["1.0.0"] and store.verify("d", "1.0.0") == []
    copy = store.download("d", "1.0.0", tmp_path / "copy")
    assert bundle.verify_bundle(copy) == []
    assert store.publish(first, "d", "1.0.0") == digest  # a rerun of the same build: fine
    # The patch uploads only the objects 1.0.0 does not share.
    calls: list[str] = []
    store.client.meta.events.register(
        "before-call.s3.PutObject", lambda **kw: calls.append(kw["model"].name)
    )
    store.publish(second, "d", "1.0.1")
    shared = {e["sha256"] for e in bundle.read_manifest(first)["files"]}
    new = {e["sha256"] for e in bundle.read_manifest(second)["files"]} - shared
    assert len(calls) == len(new) + 1  # + the manifest
    assert store.versions("d") == ["1.0.0", "1.0.1"] and store.verify("d", "1.0.1") == []
    with pytest.raises(VersionExistsError, match="immutable"):
        store.publish(second, "d", "1.0.0")  # another build under a published version
    assert store.read_manifest("d", "1.0.0") == bundle.read_manifest(first)


def test_a_tampered_object_is_found(s3_server: S3Server, built: tuple[Path, Path]) -> None:
    store = fresh_store(s3_server)
    store.publish(built[0], "d", "1.0.0")
    entry = bundle.read_manifest(built[0])["files"][0]
    store.client.put_object(Bucket=BUCKET, Key=store.object_key("d", entry["sha256"]), Body=b"x")
    assert any(entry["path"] in p for p in store.verify("d", "1.0.0"))


def test_a_failure_at_any_call_leaves_the_old_version_or_the_whole_new_one(
    s3_server: S3Server, built: tuple[Path, Path]
) -> None:
    first, second = built
    probe = fresh_store(s3_server)
    probe.publish(first, "d", "1.0.0")
    seen: list[str] = []
    probe.client.meta.events.register("before-call.s3", lambda **kw: seen.append(kw["model"].name))
    probe.publish(second, "d", "1.0.1")
    calls = len(seen)
    assert calls > 5
    for k in range(1, calls + 1):
        client = s3_client(s3_server.endpoint, s3_server.admin)
        store = fresh_store(s3_server, client)
        store.publish(first, "d", "1.0.0")

        def fail_at_k(
            k: int = k, count: itertools.count[int] = itertools.count(1), **kwargs: object
        ) -> None:
            if next(count) == k:
                raise Injected(f"call {k}")

        handler = client.meta.events.register("before-call.s3", fail_at_k)
        with pytest.raises(Injected):
            store.publish(second, "d", "1.0.1")
        client.meta.events.unregister("before-call.s3", handler)
        # Readers see 1.0.0 whole, and 1.0.1 either not at all or whole.
        assert store.verify("d", "1.0.0") == []
        assert store.versions("d") in (["1.0.0"], ["1.0.0", "1.0.1"])
        if "1.0.1" in store.versions("d"):
            assert store.verify("d", "1.0.1") == []
        # A rerun completes it.
        store.publish(second, "d", "1.0.1")
        assert store.versions("d") == ["1.0.0", "1.0.1"] and store.verify("d", "1.0.1") == []


class FakeRaw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, *args: object, **kwargs: object) -> Any:
        yield self.body

    def read(self, *args: object) -> bytes:
        return self.body


def test_transient_errors_are_retried(s3_server: S3Server, built: tuple[Path, Path]) -> None:
    client = s3_client(s3_server.endpoint, s3_server.admin)
    store = fresh_store(s3_server, client)
    sent = itertools.count(1)
    faults: list[str] = []

    def flaky(request: Any, **kwargs: object) -> AWSResponse | None:
        n = next(sent)
        # The first sends, and every tenth after: throttled, then the connection drops.
        if n <= 4 or n % 10 == 0:
            if n % 2:
                faults.append("503")
                body = b"<Error><Code>SlowDown</Code><Message>slow down</Message></Error>"
                return AWSResponse(request.url, 503, {}, FakeRaw(body))
            faults.append("dropped")
            raise ConnectionClosedError(endpoint_url=request.url)
        return None

    client.meta.events.register("before-send.s3", flaky)
    store.publish(built[0], "d", "1.0.0")
    client.meta.events.unregister("before-send.s3", flaky)
    assert "503" in faults and "dropped" in faults
    assert store.verify("d", "1.0.0") == []


def test_push_and_verify_from_the_command_line(
    s3_server: S3Server, built: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from flows.cli import app

    first = built[0]
    url = fresh_store(s3_server).url
    for name, value in s3_server.env(s3_server.admin).items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    store_root = str(first.parent.parent)
    pushed = runner.invoke(
        app, ["store", "push", "1.0.0", "--s3", url, "--store", store_root, "--dataset", "d"]
    )
    assert pushed.exit_code == 0, pushed.output
    ok = runner.invoke(app, ["verify", f"{url}/d/1.0.0"])
    assert ok.exit_code == 0 and "every file matches" in ok.output, ok.output
    # A read-only identity may verify, but not publish.
    for name, value in s3_server.env(s3_server.reader).items():
        monkeypatch.setenv(name, value)
    assert runner.invoke(app, ["verify", f"{url}/d/1.0.0"]).exit_code == 0
    denied = runner.invoke(
        app, ["store", "push", "1.0.1", "--s3", url, "--store", store_root, "--dataset", "d"]
    )
    assert denied.exit_code == 2, denied.output
    assert "S3 error" in denied.output and "AccessDenied" in denied.output
    # Wrong credentials: one clear line, no traceback.
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    wrong = runner.invoke(app, ["verify", f"{url}/d/1.0.0"])
    assert wrong.exit_code == 2 and "S3 error" in wrong.output
    assert "Traceback" not in wrong.output


KILLED_PUBLISHER = """
import sys, time
from pathlib import Path
from storage.s3 import S3Store, s3_client
client = s3_client(sys.argv[1], (sys.argv[2], sys.argv[3]))
client.meta.events.register("before-call.s3", lambda **kw: time.sleep(0.3))  # a slow link
print("started", flush=True)
S3Store(sys.argv[4], client).publish(Path(sys.argv[5]), "d", "1.0.1")
"""


def test_a_publisher_killed_mid_way_leaves_no_half_version(
    s3_server: S3Server, built: tuple[Path, Path], tmp_path: Path
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    first, second = built
    store = fresh_store(s3_server)
    store.publish(first, "d", "1.0.0")
    script = tmp_path / "publisher.py"
    script.write_text(KILLED_PUBLISHER)
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, str(script), s3_server.endpoint, *s3_server.admin, store.url, str(second)],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
    time.sleep(1.5)  # a few objects in, the manifest not yet
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    uploaded = [
        o["Key"]
        for page in store.client.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix=store.key("d", "objects")
        )
        for o in page.get("Contents", [])
    ]
    before = {e["sha256"] for e in bundle.read_manifest(first)["files"]}
    assert len(uploaded) > len(before)  # it did get some of 1.0.1's objects in
    assert store.versions("d") == ["1.0.0"] and store.verify("d", "1.0.0") == []
    store.publish(second, "d", "1.0.1")  # the rerun completes it
    assert store.versions("d") == ["1.0.0", "1.0.1"] and store.verify("d", "1.0.1") == []


def test_objects_of_purged_versions_and_failed_publishes_are_collected(
    s3_server: S3Server, built: tuple[Path, Path]
) -> None:
    from datetime import UTC, datetime, timedelta

    first, second = built
    store = fresh_store(s3_server)
    store.publish(first, "d", "1.0.0")
    store.publish(second, "d", "1.0.1")
    now = datetime.now(UTC)
    assert store.collect_garbage("d", now + timedelta(days=2)) == 0  # everything is listed
    store.mark_withdrawn("d", "1.0.0", {"reason": "opt-out", "purged_at": now.isoformat()})
    assert store.collect_garbage("d", now) == 0  # too young: a publisher may be at work
    only_first = {e["sha256"] for e in bundle.read_manifest(first)["files"]} - {
        e["sha256"] for e in bundle.read_manifest(second)["files"]
    }
    assert store.collect_garbage("d", now + timedelta(days=2)) == len(only_first) > 0
    assert store.verify("d", "1.0.1") == []
    assert all(not store.has_object("d", sha) for sha in only_first)


def test_bad_bytes_are_never_uploaded_and_a_wrong_object_is_replaced(
    s3_server: S3Server, built: tuple[Path, Path], tmp_path: Path
) -> None:
    import shutil

    from storage.s3 import S3StoreError

    first = built[0]
    copy = tmp_path / "copy"
    shutil.copytree(first, copy)
    entry = bundle.read_manifest(copy)["files"][0]
    (copy / entry["path"]).chmod(0o644)
    (copy / entry["path"]).write_bytes(b"corrupted")
    store = fresh_store(s3_server)
    with pytest.raises(S3StoreError, match="sha256 differs"):
        store.publish(copy, "d", "1.0.0")
    assert store.versions("d") == []
    # An object of the wrong size under a file's name (a bad earlier upload) is replaced.
    store.client.put_object(Bucket=BUCKET, Key=store.object_key("d", entry["sha256"]), Body=b"x")
    store.publish(first, "d", "1.0.0")
    assert store.verify("d", "1.0.0") == []


def test_a_bad_location_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from flows.cli import app

    out = CliRunner().invoke(app, ["verify", "s3://rel/1.0.0"])
    assert out.exit_code == 2 and "not an s3:// URL" in out.output and "Traceback" not in out.output


def test_a_conditional_put_conflict_is_retried(
    s3_server: S3Server, built: tuple[Path, Path]
) -> None:
    """AWS answers 409 ConditionalRequestConflict while another conditional write of the same
    key is in flight; botocore does not retry it, the store does."""
    client = s3_client(s3_server.endpoint, s3_server.admin)
    store = fresh_store(s3_server, client)
    conflicts: list[int] = []

    def conflict(request: Any, **kwargs: object) -> AWSResponse | None:
        if request.url.endswith("manifest.json") and request.method == "PUT" and not conflicts:
            conflicts.append(409)
            body = (
                b"<Error><Code>ConditionalRequestConflict</Code>"
                b"<Message>in flight</Message></Error>"
            )
            return AWSResponse(request.url, 409, {}, FakeRaw(body))
        return None

    client.meta.events.register("before-send.s3", conflict)
    store.publish(built[0], "d", "1.0.0")
    assert conflicts == [409] and store.verify("d", "1.0.0") == []


def test_a_garbage_collection_racing_a_publish_never_leaves_it_short(
    s3_server: S3Server, built: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Objects a failed publish left are old and unlisted. A publish that reuses them refreshes
    them; and a collection that had listed them just before still cannot leave the version
    with objects missing: the publisher puts back what went."""
    from datetime import UTC, datetime, timedelta

    import storage.s3 as s3store

    first, _ = built
    client = s3_client(s3_server.endpoint, s3_server.admin)
    store = fresh_store(s3_server, client)
    for entry in bundle.read_manifest(first)["files"]:  # a failed publish: objects, no manifest
        store._upload_if_needed(first, "d", entry)
    monkeypatch.setattr(s3store, "REFRESH_AFTER", timedelta(0))  # every reused object is "old"
    calls: list[str] = []
    collected: list[int] = []

    def watch(model: Any, params: dict[str, Any], **kwargs: object) -> None:
        calls.append(model.name)
        if model.name == "PutObject" and params["Key"].endswith("manifest.json") and not collected:
            # A collection that saw the objects as old and unlisted runs right now.
            later = datetime.now(UTC) + timedelta(days=2)
            other = S3Store(store.url, s3_client(s3_server.endpoint, s3_server.admin))
            collected.append(other.collect_garbage("d", later))

    client.meta.events.register("before-parameter-build.s3", watch)
    store.publish(first, "d", "1.0.0")
    files = len(bundle.read_manifest(first)["files"])
    assert calls.count("CopyObject") == files  # every reused object refreshed
    assert collected == [files]  # the collection took them all ...
    assert store.verify("d", "1.0.0") == []  # ... and the publisher put them back


def test_store_push_carries_a_local_withdrawal_to_s3(
    s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from typer.testing import CliRunner

    from curation.release.patch import patch_release
    from flows.cli import app

    local = LocalStore(tmp_path / "local")
    publish(local, "1.0.0", Blocklist.empty())
    patch_release(local, "d", "1.0.0", "1.0.1", block(Blocklist.empty(), videos=[101]))
    local.withdraw("d", "1.0.0", "holds opted-out content", 30, datetime.now(UTC))
    url = fresh_store(s3_server).url
    for name, value in s3_server.env(s3_server.admin).items():
        monkeypatch.setenv(name, value)
    pushed = CliRunner().invoke(
        app, ["store", "push", "1.0.0", "--s3", url, "--store", str(local.root), "--dataset", "d"]
    )
    assert pushed.exit_code == 0, pushed.output
    assert "withdrawn" in pushed.output
    assert "1.0.0" in S3Store(url).withdrawn("d")


def test_a_collection_that_listed_before_a_publish_deletes_nothing_it_now_lists(
    s3_server: S3Server, built: tuple[Path, Path]
) -> None:
    """A collection lists a failed publish's objects as old and unlisted; the publish is then
    completed before the collection deletes: the collection reads the manifests again and
    spares them."""
    from datetime import UTC, datetime, timedelta

    first, _ = built
    store = fresh_store(s3_server)
    for entry in bundle.read_manifest(first)["files"]:  # a failed publish: objects, no manifest
        store._upload_if_needed(first, "d", entry)
    later = datetime.now(UTC) + timedelta(days=2)
    candidates = store.unlisted_objects("d", later, timedelta(days=1))
    assert len(candidates) == len(bundle.read_manifest(first)["files"])
    store.publish(first, "d", "1.0.0")  # meanwhile
    assert store.delete_unlisted("d", candidates, later, timedelta(days=1)) == 0
    assert store.verify("d", "1.0.0") == []
