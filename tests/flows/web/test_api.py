"""The site's API and `massiv fetch`: an API token downloads the current version through the
desk (each file logged), the bundle is checked before its folder appears, and the token goes
nowhere but the site."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar
from urllib.parse import quote

import httpx
import pytest
from typer.testing import CliRunner

from curation.config import SiteConfig
from flows.cli import app
from privacy.audit import open_desk
from storage.remote_release import FetchError, _inside, fetch_release
from storage.site_state import SiteState
from tests.flows.web.conftest import approved


@pytest.fixture(scope="module")
def grant(site: SiteConfig, server: str) -> str:
    return approved(site, "Lin")


def fetch(server: str, token: str, to: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["fetch", "--site", server, "--token", token, "--to", str(to)])
    return result.exit_code, " ".join(result.output.split())  # unwrapped


def test_fetch_downloads_the_current_version_checks_it_and_logs_every_file(
    site: SiteConfig, server: str, grant: str, tmp_path: Path
) -> None:
    token = SiteState(site.state).new_api_token(grant)
    desk = open_desk(site.access)
    before = len(desk.log.entries())
    code, out = fetch(server, token, tmp_path)
    assert code == 0, out
    folder = tmp_path / "d-1.0.1"  # 1.0.0 is withdrawn: the current version only
    assert "every file matches the manifest" in out and folder.is_dir()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {f["path"] for f in manifest["files"]} <= {
        str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()
    }
    assert not list(tmp_path.glob(".*.partial"))
    logged = desk.log.entries()[before:]
    issued = [e for e in logged if e["event"] == "urls_issued"]
    downloads = [e for e in logged if e["event"] == "download"]
    assert [(e["actor"], e["details"]["version"]) for e in issued] == [(grant, "1.0.1")]
    assert sorted(e["details"]["path"] for e in downloads) == sorted(
        f["path"] for f in manifest["files"]
    )
    assert {e["actor"] for e in downloads} == {grant}
    assert token not in json.dumps(logged)  # the log holds no bearer secret

    again_code, again = fetch(server, token, tmp_path)
    assert again_code == 2 and "is there already" in again


def test_a_bad_token_is_one_line_and_leaves_nothing(server: str, tmp_path: Path) -> None:
    code, out = fetch(server, "mv_not-a-token", tmp_path)
    assert code == 2
    assert "this API token is not valid (HTTP 401)" in out and "Traceback" not in out
    assert list(tmp_path.iterdir()) == []


def test_a_revoked_grant_fetches_nothing(site: SiteConfig, server: str, tmp_path: Path) -> None:
    grant = approved(site, "Rev")
    token = SiteState(site.state).new_api_token(grant)
    open_desk(site.access).revoke(grant, "curator", "left the project")
    code, out = fetch(server, token, tmp_path)
    assert code == 2 and "was revoked (left the project)" in out and "(HTTP 403)" in out
    assert list(tmp_path.iterdir()) == []


def test_another_holders_download_token_is_not_found(
    site: SiteConfig, server: str, grant: str
) -> None:
    desk = open_desk(site.access)
    theirs = next(iter(desk.issue(approved(site, "Eve")).values()))
    mine = SiteState(site.state).new_api_token(grant)
    r = httpx.get(
        f"{server}/api/download?token={quote(theirs, safe='')}",
        headers={"Authorization": f"Bearer {mine}"},
    )
    assert r.status_code == 404
    assert httpx.get(f"{server}/api/release").status_code == 401  # no token at all


@pytest.mark.parametrize("path", ["../escape", "/etc/passwd", "a/../../b", "a\\..\\b", ""])
def test_a_path_outside_the_release_is_refused(path: str, tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="outside the release"):
        _inside(tmp_path, path)


class HostileSite(http.server.BaseHTTPRequestHandler):
    """A site that lists two files and redirects the download of one elsewhere."""

    seen: ClassVar[list[tuple[str, str | None]]] = []
    data_link = "/redirect"

    def do_GET(self) -> None:
        HostileSite.seen.append((self.path, self.headers.get("Authorization")))
        if self.path == "/api/release":
            files = {"a.parquet": "/api/download?token=a", "data.parquet": HostileSite.data_link}
            listing = {"dataset": "d", "version": "9.9.9", "manifest": {}, "files": files}
            body = json.dumps(listing).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/elsewhere")
            self.end_headers()
        else:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hostile() -> Iterator[str]:
    HostileSite.seen, HostileSite.data_link = [], "/redirect"
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HostileSite)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


def test_a_redirect_never_carries_the_token_and_a_failed_fetch_leaves_no_release(
    hostile: str, tmp_path: Path
) -> None:
    with pytest.raises(FetchError, match="HTTP 302"):
        fetch_release(hostile, "mv_secret", tmp_path, lambda folder: [])
    assert "/elsewhere" not in [path for path, _ in HostileSite.seen]
    assert list(tmp_path.iterdir()) == []  # no release folder, no partial one


def test_a_bundle_that_fails_its_check_leaves_no_release(hostile: str, tmp_path: Path) -> None:
    HostileSite.data_link = "/api/download?token=b"
    with pytest.raises(FetchError, match=r"does not match its manifest: data.parquet: sha256"):
        fetch_release(hostile, "mv_secret", tmp_path, lambda folder: ["data.parquet: sha256"])
    assert list(tmp_path.iterdir()) == []
    sent = {auth for path, auth in HostileSite.seen}
    assert sent == {"Bearer mv_secret"}  # only to the site itself
