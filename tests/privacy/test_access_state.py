"""A grant's state follows from the signed log: editing grants.json brings no revoked grant back
and extends none, and `access verify` reports the edit (the red-team case of issue 15)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from flows.cli import app
from privacy.blocklist import Blocklist
from storage.local import LocalStore
from tests.curation.release.test_build import publish
from tests.privacy.test_access import cli_config


def revoked_grant_with_token(tmp_path: Path, c: list[str]) -> tuple[str, str]:
    run = CliRunner().invoke
    filed = run(
        app,
        ["access", "request", "--name", "Asha", "--institution", "IITD", "--email",
         "asha@iitd.example", "--purpose", "affect", "--accept-terms", *c],
    )  # fmt: skip
    grant = re.search(r"g-[0-9a-f]{12}", filed.output).group(0)  # type: ignore[union-attr]
    assert (
        run(app, ["access", "approve", grant, "--curator", "cur", "--days", "1", *c]).exit_code == 0
    )
    listed = run(app, ["access", "urls", grant, *c])
    token = next(line.split("\t")[1] for line in listed.output.splitlines() if "\t" in line)
    revoked = run(app, ["access", "revoke", grant, "--curator", "cur", "--reason", "misuse", *c])
    assert revoked.exit_code == 0, revoked.output
    return grant, token


def test_editing_grants_json_brings_no_revoked_grant_back(tmp_path: Path) -> None:
    publish(LocalStore(tmp_path / "store"), "1.0.0", Blocklist.empty())
    c = cli_config(tmp_path)
    grant, token = revoked_grant_with_token(tmp_path, c)
    grants = tmp_path / "access" / "grants.json"
    doc = json.loads(grants.read_text())
    doc[grant].update(status="approved", expires_at="2099-01-01T00:00:00+00:00")
    grants.write_text(json.dumps(doc))  # the attack: one edited file

    run = CliRunner().invoke
    urls = run(app, ["access", "urls", grant, *c])
    assert urls.exit_code == 2 and "revoked (misuse)" in urls.output
    fetched = run(app, ["access", "fetch", token, "--out", str(tmp_path / "dl"), *c])
    assert fetched.exit_code == 2 and "revoked" in fetched.output
    assert not (tmp_path / "dl").exists()
    verified = run(app, ["access", "verify", *c])
    assert verified.exit_code == 1
    assert f"{grant}: grants.json says status = 'approved', the signed log 'revoked'" in (
        verified.output.replace("\n", "")
    )
    assert "expires_at = '2099-01-01" in verified.output.replace("\n", "")


def test_a_log_edited_to_drop_the_revocation_stops_the_desk(tmp_path: Path) -> None:
    """Editing the log instead breaks its chain: the desk refuses everything (fails closed)."""
    publish(LocalStore(tmp_path / "store"), "1.0.0", Blocklist.empty())
    c = cli_config(tmp_path)
    grant, token = revoked_grant_with_token(tmp_path, c)
    log = tmp_path / "access" / "access-log.jsonl"
    log.write_text(log.read_text().replace('"access_revoked"', '"access_approved"'))
    run = CliRunner().invoke
    urls = run(app, ["access", "urls", grant, *c])
    assert urls.exit_code == 2 and "does not follow the entry before it" in urls.output
    fetched = run(app, ["access", "fetch", token, "--out", str(tmp_path / "dl"), *c])
    assert fetched.exit_code == 2 and not (tmp_path / "dl").exists()
