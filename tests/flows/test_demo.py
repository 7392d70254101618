"""`massiv demo`, small, with its S3 and access half: the main job a newcomer runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from privacy.access_log import load_public_key
from privacy.audit import access_log

pytestmark = pytest.mark.slow


def test_the_demo_runs_end_to_end_with_s3_and_the_access_desk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.cli.common
    import flows.cli.demo
    import flows.cli.demo_s3

    monkeypatch.setattr(flows.cli.demo, "DEMO_KEY", tmp_path / "keys" / "pseudonym.key")
    monkeypatch.setattr(flows.cli.demo_s3, "DEMO_ACCESS_KEY", tmp_path / "keys" / "access-log.key")
    monkeypatch.setattr(flows.cli.common.console, "width", 2000)  # no line wrapped mid-word
    workdir = tmp_path / "demo"
    result = CliRunner().invoke(
        app, ["demo", "--workdir", str(workdir), "--posts", "300000", "--video-sources", "0"]
    )
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "denied: access request" in out and "was rejected" in out
    assert "holds 1.0.0, withdrawn" in out and "asks for 1.0.0 → denied" in out
    assert "after revocation → denied: grant" in out
    assert "1.0.1: every file matches the manifest" in out
    assert "anchored heads at s3://massiv-demo/access-log-anchors all in it" in out
    # After the demo, with the S3 server gone, the log still reads and verifies on its own.
    from curation.config import AccessConfig, load_config

    config = load_config(AccessConfig, workdir / "access.yaml")
    log = access_log(config, write=False)
    events = [e["event"] for e in log.entries()]
    for event in (
        "access_requested",
        "access_approved",
        "access_rejected",
        "urls_issued",
        "access_denied",
        "release_published",
        "opt_out_applied",
        "release_withdrawn",
        "access_revoked",
    ):
        assert event in events, event
    assert log.verify(load_public_key(tmp_path / "keys" / "access-log.pub")) == []
    report = CliRunner().invoke(app, ["access", "report", "--config", str(workdir / "access.yaml")])
    assert report.exit_code == 0 and "1.0.0" in report.output and "1.0.1" in report.output
