"""Anchored heads catch what the signed head alone cannot: a log rolled back to an older,
validly signed state, or rewritten by someone holding the signing key."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from privacy.access_log import (
    AccessLog,
    LogTamperedError,
    create_signing_key,
    entry_hash,
    load_public_key,
    load_signing_key,
)
from privacy.anchors import HeadAnchors
from synth.local_s3 import S3Server


def new_log(tmp_path: Path, anchors: HeadAnchors) -> AccessLog:
    create_signing_key(tmp_path / "keys" / "log.key")
    return AccessLog(
        tmp_path / "log" / "access-log.jsonl",
        load_signing_key(tmp_path / "keys" / "log.key"),
        checkpoint_every=10,
        anchors=anchors,
    )


def fill(log: AccessLog, n: int) -> None:
    for i in range(n):
        log.append("urls_issued", f"g-{i % 3}", {"version": "1.0.0", "files": 3})


def test_checkpoints_anchor_the_head_and_a_rollback_is_caught(tmp_path: Path) -> None:
    anchors = HeadAnchors(str(tmp_path / "elsewhere"))
    log = new_log(tmp_path, anchors)
    public = load_public_key(tmp_path / "keys" / "log.pub")
    fill(log, 15)  # a checkpoint after entry 10 → anchored head seq 11
    backup = tmp_path / "backup"
    shutil.copytree(log.path.parent, backup)
    fill(log, 10)  # another checkpoint → anchored head seq 21
    assert [h["seq"] for h in anchors.heads()] == [11, 21]
    assert log.verify(public, anchors.heads()) == []
    # Restore the older log with its older head: both are validly signed.
    shutil.rmtree(log.path.parent)
    shutil.copytree(backup, log.path.parent)
    assert log.verify(public) == []  # the signed head alone cannot tell
    problems = log.verify(public, anchors.heads())
    assert problems == [
        "anchored head seq 21 is past the log's end (seq 16): "
        "the log was cut or rolled back after it was anchored"
    ]


def test_a_rewrite_by_the_key_holder_is_caught_below_an_anchor(tmp_path: Path) -> None:
    anchors = HeadAnchors(str(tmp_path / "elsewhere"))
    log = new_log(tmp_path, anchors)
    public = load_public_key(tmp_path / "keys" / "log.pub")
    fill(log, 12)
    log.anchor()
    assert log.anchor() == anchors.heads()[-1]  # anchoring the same head again is a no-op
    # Someone with the signing key drops entry 3 and re-signs a fresh chain.
    entries = [e for e in log.entries() if e["seq"] != 3 and e["event"] != "checkpoint"]
    log.path.unlink()
    log.head_path.unlink()
    plain = AccessLog(log.path, log.signing_key, checkpoint_every=10)
    for e in entries:
        plain.append(e["event"], e["actor"], e["details"])
    assert log.verify(public) == []
    problems = log.verify(public, anchors.heads())
    assert problems == [
        "seq 11 differs from its anchored head: the log was rewritten after it was anchored",
        "anchored head seq 13 is past the log's end (seq 12): "
        "the log was cut or rolled back after it was anchored",
    ]
    fill(log, 1)
    with pytest.raises(LogTamperedError, match="anchors another head"):
        log.anchor()  # the rewritten log's seq 13 clashes with the anchored one


def test_a_forged_anchor_does_not_verify(tmp_path: Path) -> None:
    folder = tmp_path / "elsewhere"
    log = new_log(tmp_path, HeadAnchors(str(folder)))
    fill(log, 3)
    head = log.anchor()
    assert head is not None
    forged = {**head, "seq": 2, "hash": log.entries()[1]["hash"]}
    HeadAnchors(str(folder)).put(forged)
    public = load_public_key(tmp_path / "keys" / "log.pub")
    assert log.verify(public, HeadAnchors(str(folder)).heads()) == [
        "anchored head seq 2: signature does not verify"
    ]
    assert entry_hash(log.entries()[1]) == forged["hash"]  # a real hash, just never signed


def test_anchors_on_s3_are_write_once_and_checked_from_the_command_line(
    tmp_path: Path, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in s3_server.env(s3_server.admin).items():
        monkeypatch.setenv(name, value)
    s3_server.client(s3_server.admin).create_bucket(Bucket="anchors")
    url = "s3://anchors/access-log"
    log = new_log(tmp_path, HeadAnchors(url))
    fill(log, 21)
    anchors = HeadAnchors(url)
    assert [h["seq"] for h in anchors.heads()] == [11, 21]
    assert anchors.put(anchors.heads()[0]) is False
    with pytest.raises(LogTamperedError, match="anchors another head"):
        anchors.put({**anchors.heads()[0], "hash": "0" * 64})
    config = tmp_path / "access.yaml"
    config.write_text(
        json.dumps(
            {
                "access_dir": str(log.path.parent),
                "signing_key": str(tmp_path / "keys" / "log.key"),
                "anchors": url,
                "checkpoint_every": 10,
            }
        )
    )
    runner = CliRunner()
    fill(log, 2)
    anchored = runner.invoke(app, ["access", "anchor", "--config", str(config)])
    assert anchored.exit_code == 0 and "anchored head seq 25" in anchored.output, anchored.output
    ok = runner.invoke(app, ["access", "verify", "--config", str(config)])
    assert ok.exit_code == 0 and "3 anchored heads" in ok.output, ok.output
    lines = log.path.read_text().splitlines()  # cut the log back to seq 16, head and all
    log.path.write_text("\n".join(lines[:16]) + "\n")
    head = {"seq": 16, "hash": json.loads(lines[15])["hash"]}
    from privacy.access_log import _signed

    assert log.signing_key is not None
    signature = log.signing_key.sign(_signed(16, head["hash"], "head")).hex()
    log.head_path.write_text(json.dumps({**head, "signature": signature}))
    bad = runner.invoke(app, ["access", "verify", "--config", str(config)])
    assert bad.exit_code == 1 and "past the log's end" in bad.output, bad.output


def test_concurrent_anchoring_of_one_head_never_raises_a_false_alarm(tmp_path: Path) -> None:
    """Several writers anchor the same head at the same moment (a barrier lines them up), for
    many heads: none may take another's half-written file for a different head."""
    import threading

    folder = tmp_path / "elsewhere"
    log = new_log(tmp_path, HeadAnchors(str(folder)))
    heads = []
    for _ in range(40):
        fill(log, 1)
        heads.append(log.head() or {})
    errors: list[Exception] = []
    barrier = threading.Barrier(6)

    def put() -> None:
        for head in heads:
            barrier.wait()
            try:
                HeadAnchors(str(folder)).put(head)
            except Exception as exc:
                errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    anchored = HeadAnchors(str(folder)).heads()
    assert [h["seq"] for h in anchored] == [h["seq"] for h in heads]
    assert {oct(p.stat().st_mode & 0o777) for p in folder.iterdir()} == {"0o444"}
