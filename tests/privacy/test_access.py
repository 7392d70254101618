"""Access grants and download URLs: local tokens and presigned SigV4 URLs on a real S3 server."""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from curation.release import bundle
from curation.release.patch import patch_release
from privacy.access import (
    MAX_EXPIRY_S,
    AccessDenied,
    AccessDesk,
    AccessRequestError,
    create_token_secret,
)
from privacy.access_log import (
    AccessLog,
    LogTamperedError,
    create_signing_key,
    load_public_key,
    load_signing_key,
)
from privacy.blocklist import Blocklist
from storage.local import LocalStore
from synth.local_s3 import S3Server
from tests.curation.release.test_build import block, publish

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def desk_for(tmp_path: Path, store: object) -> AccessDesk:
    key = tmp_path / "keys" / "access-log.key"
    if not key.exists():
        create_signing_key(key)
    log = AccessLog(tmp_path / "access" / "access-log.jsonl", load_signing_key(key), 10)
    secret = create_token_secret(tmp_path / "keys" / "token.key")
    return AccessDesk(tmp_path / "access", log, store, "d", secret)


def cli_config(tmp_path: Path, **extra: object) -> list[str]:
    """`--config <file>` for the access commands, everything under tmp_path."""
    config = tmp_path / "access.yaml"
    doc = {
        "access_dir": str(tmp_path / "access"),
        "signing_key": str(tmp_path / "curator" / "access-log.key"),
        "token_secret": str(tmp_path / "curator" / "token.key"),
        "store": str(tmp_path / "store"),
        "dataset": "d",
        **extra,
    }
    config.write_text(json.dumps(doc))
    return ["--config", str(config)]


def approved(desk: AccessDesk, now: datetime = NOW) -> str:
    grant = desk.request(
        "Asha K", "IIT Delhi", "asha@iitd.example", "affect recognition", True, now
    )
    desk.approve(grant.id, "curator", days=30, now=now)
    return grant.id


def test_requests_are_checked_field_by_field(tmp_path: Path) -> None:
    desk = desk_for(tmp_path, LocalStore(tmp_path / "store"))
    with pytest.raises(AccessRequestError, match="terms"):
        desk.request("A", "B", "a@b.example", "research", False)
    with pytest.raises(AccessRequestError, match="email"):
        desk.request("A", "B", "not-an-address", "research", True)
    with pytest.raises(AccessRequestError, match="purpose is empty"):
        desk.request("A", "B", "a@b.example", "  ", True)


def test_a_grant_downloads_the_current_version_and_every_step_is_logged(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    first = publish(store, "1.0.0", Blocklist.empty())
    desk = desk_for(tmp_path, store)
    grant = desk.request("Asha K", "IIT Delhi", "asha@iitd.example", "affect", True, NOW)
    with pytest.raises(AccessDenied, match="not approved yet"):
        desk.issue(grant.id, now=NOW)
    desk.approve(grant.id, "curator", days=30, now=NOW)
    urls = desk.issue(grant.id, now=NOW)
    assert set(urls) == {f["path"] for f in bundle.read_manifest(first)["files"]}
    path, token = next((p, u) for p, u in urls.items() if p.endswith(".parquet"))
    got = desk.fetch(token, tmp_path / "dl" / path, now=NOW)
    assert got.read_bytes() == (first / path).read_bytes()
    # The log has every step, verifies, and holds no token.
    events = [e["event"] for e in desk.log.entries()]
    assert {
        "access_requested",
        "access_denied",
        "access_approved",
        "urls_issued",
        "download",
    } <= set(events)
    text = desk.log.path.read_text()
    assert all(u not in text for u in urls.values()) and "sig=" not in text
    assert desk.log.verify(load_public_key(tmp_path / "keys" / "access-log.pub")) == []
    assert desk.report() == [
        {
            "grant": grant.id,
            "name": "Asha K",
            "email": "asha@iitd.example",
            "version": "1.0.0",
            "issuances": 1,
            "last_issued": NOW.isoformat(timespec="seconds"),
        }
    ]


def test_denials_say_why(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    desk = desk_for(tmp_path, store)
    grant = approved(desk)
    with pytest.raises(AccessDenied, match="no version"):
        desk.issue(grant, now=NOW)
    publish(store, "1.0.0", Blocklist.empty())
    token = next(iter(desk.issue(grant, now=NOW).values()))
    with pytest.raises(AccessDenied, match="no access grant"):
        desk.issue("g-nobody", now=NOW)
    with pytest.raises(AccessDenied, match="expired"):
        desk.issue(grant, now=NOW + timedelta(days=31))  # the grant ran out
    with pytest.raises(AccessDenied, match="token has expired"):
        desk.fetch(token, tmp_path / "x", now=NOW + timedelta(hours=2))  # 1 h by default
    with pytest.raises(AccessDenied, match="not valid"):
        desk.fetch(token.replace("path=", "path=x"), tmp_path / "x", now=NOW)
    other = desk.request("B", "C", "b@c.example", "research", True, NOW)
    desk.reject(other.id, "curator", "no institutional approval", NOW)
    with pytest.raises(AccessDenied, match="rejected"):
        desk.issue(other.id, now=NOW)
    desk.revoke(grant, "curator", "terms breached", NOW)
    with pytest.raises(AccessDenied, match="revoked"):
        desk.issue(grant, now=NOW)
    with pytest.raises(AccessDenied, match="revoked"):
        desk.fetch(token, tmp_path / "x", now=NOW)  # a token issued before is dead too
    with pytest.raises(AccessRequestError, match="cannot be approved"):
        desk.approve(grant, "curator")


def test_a_withdrawn_version_is_never_served(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    publish(store, "1.0.0", Blocklist.empty())
    desk = desk_for(tmp_path, store)
    grant = approved(desk)
    old_token = next(iter(desk.issue(grant, now=NOW).values()))
    patch_release(store, "d", "1.0.0", "1.0.1", block(Blocklist.empty(), videos=[101]))
    store.withdraw("d", "1.0.0", "holds opted-out content", 30, NOW)
    assert "version=1.0.1" in next(iter(desk.issue(grant, now=NOW).values()))
    with pytest.raises(AccessDenied, match="withdrawn"):
        desk.issue(grant, version="1.0.0", now=NOW)
    with pytest.raises(AccessDenied, match="withdrawn"):
        desk.fetch(old_token, tmp_path / "x", now=NOW)


def test_url_lifetimes_are_capped(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    publish(store, "1.0.0", Blocklist.empty())
    desk = desk_for(tmp_path, store)
    grant = approved(desk)
    for asked, granted in [(None, 3600), (60, 60), (10**9, MAX_EXPIRY_S)]:
        token = next(iter(desk.issue(grant, expires_in=asked, now=NOW).values()))
        expires = int(parse_qs(urlparse(token).query)["expires"][0])
        assert expires - int(NOW.timestamp()) == granted


def test_presigned_urls_are_sigv4_capped_and_expire_for_real(
    tmp_path: Path, s3_server: S3Server
) -> None:
    from storage.s3 import S3Store, s3_client

    local = LocalStore(tmp_path / "store")
    first = publish(local, "1.0.0", Blocklist.empty())
    client = s3_client(s3_server.endpoint, s3_server.admin)
    client.create_bucket(Bucket="access-test")
    remote = S3Store("s3://access-test/rel", client)
    remote.publish(first, "d", "1.0.0")
    desk = desk_for(tmp_path, remote)
    grant = approved(desk, datetime.now(UTC))  # presigned URLs live in real time
    urls = desk.issue(grant, expires_in=10**9)  # asks for years: gets 7 days
    path, url = next((p, u) for p, u in urls.items() if p.endswith(".parquet"))
    query = parse_qs(urlparse(url).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert int(query["X-Amz-Expires"][0]) == MAX_EXPIRY_S
    assert "X-Amz-Signature" in query and "X-Amz-Credential" in query
    body = urllib.request.urlopen(url, timeout=10).read()
    assert (
        hashlib.sha256(body).hexdigest() == hashlib.sha256((first / path).read_bytes()).hexdigest()
    )
    short = desk.issue(grant, expires_in=1)[path]
    time.sleep(2.5)
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(short, timeout=10)
    assert denied.value.code == 403


def test_the_curator_and_a_researcher_from_the_command_line(tmp_path: Path) -> None:
    import re

    from typer.testing import CliRunner

    from flows.cli import app

    store = LocalStore(tmp_path / "store")
    first = publish(store, "1.0.0", Blocklist.empty())
    run = CliRunner().invoke
    c = cli_config(tmp_path, checkpoint_every=3)
    filed = run(
        app,
        [
            "access",
            "request",
            "--name",
            "Asha",
            "--institution",
            "IITD",
            "--email",
            "asha@iitd.example",
            "--purpose",
            "affect",
            "--accept-terms",
            *c,
        ],
    )
    assert filed.exit_code == 0, filed.output
    grant = re.search(r"g-[0-9a-f]{12}", filed.output).group(0)  # type: ignore[union-attr]
    refused = run(app, ["access", "urls", grant, *c])
    assert refused.exit_code == 2 and "not approved yet" in refused.output
    assert run(app, ["access", "approve", grant, "--curator", "cur", *c]).exit_code == 0
    listed = run(app, ["access", "urls", grant, *c])
    assert listed.exit_code == 0, listed.output
    path, token = next(
        line.split("\t") for line in listed.output.splitlines() if line.startswith("labeled/")
    )
    fetched = run(app, ["access", "fetch", token, "--out", str(tmp_path / "dl.parquet"), *c])
    assert fetched.exit_code == 0, fetched.output
    assert (tmp_path / "dl.parquet").read_bytes() == (first / path).read_bytes()
    report = run(app, ["access", "report", *c])
    assert grant in report.output and "1.0.0" in report.output
    assert run(app, ["access", "verify", *c]).exit_code == 0
    log = tmp_path / "access" / "access-log.jsonl"
    log.write_text(log.read_text().replace('"cur"', '"intruder"'))
    tampered = run(app, ["access", "verify", *c])
    assert tampered.exit_code == 1 and "content changed" in tampered.output


def test_a_url_never_outlives_its_grant(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    publish(store, "1.0.0", Blocklist.empty())
    desk = desk_for(tmp_path, store)
    grant = desk.request("A", "B", "a@b.example", "research", True, NOW)
    desk.approve(grant.id, "curator", days=1, now=NOW)
    token = next(iter(desk.issue(grant.id, expires_in=7 * 24 * 3600, now=NOW).values()))
    expires = int(parse_qs(urlparse(token).query)["expires"][0])
    assert expires == int((NOW + timedelta(days=1)).timestamp())
    bare = AccessDesk(desk.folder, desk.log, store, "d")  # no token secret: nothing redeems
    with pytest.raises(AccessDenied, match="no token secret"):
        bare.fetch(token, tmp_path / "x", now=NOW)


def test_no_decision_lands_without_its_log_entry(tmp_path: Path) -> None:
    """The entry is written before the change: when the log refuses (here, a head that does
    not match), the grant stays as it was and no download leaves."""
    store = LocalStore(tmp_path / "store")
    publish(store, "1.0.0", Blocklist.empty())
    desk = desk_for(tmp_path, store)
    grant = desk.request("A", "B", "a@b.example", "research", True, NOW)
    token = next(iter(desk.issue(approved(desk), now=NOW).values()))
    head = desk.log.head_path
    good = head.read_text()
    head.write_text(good.replace('"seq": ', '"seq": 1', 1))  # an altered head
    with pytest.raises(LogTamperedError):
        desk.approve(grant.id, "curator", now=NOW)
    assert desk.stored_grants()[grant.id].status == "requested"
    with pytest.raises(LogTamperedError):
        desk.request("C", "D", "c@d.example", "research", True, NOW)
    assert len(desk.stored_grants()) == 2
    with pytest.raises(LogTamperedError):  # grant states come from the log: it fails closed
        desk.grants()
    with pytest.raises(LogTamperedError):
        desk.fetch(token, tmp_path / "out" / "file", NOW)
    assert not (tmp_path / "out" / "file").exists()
    head.write_text(good)
    desk.approve(grant.id, "curator", now=NOW)
    assert desk.grants()[grant.id].status == "approved"


def test_only_the_current_version_is_issued_and_every_denial_is_logged(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    desk = desk_for(tmp_path, store)
    grant = approved(desk)
    with pytest.raises(AccessDenied, match="no version of d is available"):
        desk.issue(grant, now=NOW)
    publish(store, "1.0.0", Blocklist.empty())
    patch_release(store, "d", "1.0.0", "1.0.1", block(Blocklist.empty(), videos=[101]))
    with pytest.raises(
        AccessDenied, match=r"1\.0\.0 is superseded.*current version only \(1\.0\.1\)"
    ):
        desk.issue(grant, version="1.0.0", now=NOW)  # superseded, though not withdrawn
    with pytest.raises(AccessDenied, match="not published"):
        desk.issue(grant, version="9.9.9", now=NOW)
    for version in ("1.0.0", "1.0.1"):
        store.withdraw("d", version, "test", 30, NOW)
    with pytest.raises(AccessDenied, match=r"1\.0\.1 was withdrawn \(test\)$"):
        desk.issue(grant, version="1.0.1", now=NOW)
    with pytest.raises(AccessDenied, match="no version of d is available"):
        desk.issue(grant, now=NOW)
    denials = [e["details"]["reason"] for e in desk.log.entries() if e["event"] == "access_denied"]
    assert len(denials) == 5 and all(denials)


def test_a_token_redeems_only_at_its_own_datasets_desk(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    publish(store, "1.0.0", Blocklist.empty())
    desk = desk_for(tmp_path, store)
    token = next(iter(desk.issue(approved(desk), now=NOW).values()))
    other = AccessDesk(desk.folder, desk.log, store, "other", desk.token_secret)
    with pytest.raises(AccessDenied, match="another dataset"):
        other.fetch(token, tmp_path / "x", now=NOW)


def test_a_revocation_lands_before_or_after_a_download_never_between(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A curator revokes (another process) while a download is being logged: the revocation
    waits for the download's lock, so the log reads download, then revoked; never a download
    after a revocation."""
    import threading

    store = LocalStore(tmp_path / "store")
    publish(store, "1.0.0", Blocklist.empty())
    desk = desk_for(tmp_path, store)
    grant = approved(desk)
    token = next(iter(desk.issue(grant, now=NOW).values()))
    curator = desk_for(tmp_path, store)
    real_append = desk.log.append
    waited: list[bool] = []

    def append(event: str, *args: object, **kwargs: object) -> dict[str, object]:
        if event == "download" and not waited:
            revoker = threading.Thread(target=curator.revoke, args=(grant, "curator", "ended"))
            revoker.start()
            revoker.join(timeout=1.0)
            waited.append(revoker.is_alive())  # still waiting for the lock
            threads.append(revoker)
        return real_append(event, *args, **kwargs)  # type: ignore[arg-type]

    threads: list[threading.Thread] = []
    monkeypatch.setattr(desk.log, "append", append)
    desk.fetch(token, tmp_path / "dl" / "file", now=NOW)
    threads[0].join()
    assert waited == [True]
    events = [e["event"] for e in curator.log.entries()]
    assert events[-2:] == ["download", "access_revoked"]
    with pytest.raises(AccessDenied, match="revoked"):
        desk.fetch(token, tmp_path / "dl" / "again", now=NOW)
