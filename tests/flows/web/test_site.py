"""The homepage over a real store: versions with their status, the card, escaping, headers."""

from __future__ import annotations

from fastapi.testclient import TestClient

from curation.config import SiteConfig
from flows.web.app import create_app
from privacy.config import AccessConfig
from storage.local import LocalStore


def test_the_homepage_lists_every_version_with_its_status(
    site: SiteConfig, access: AccessConfig
) -> None:
    page = TestClient(create_app(site)).get("/")
    assert page.status_code == 200
    html = page.text
    assert "1.0.1</td>" in html and "<td>current</td>" in html
    assert "withdrawn: holds opted-out content; superseded by 1.0.1" in html
    assert "research use only" in html
    assert 'href="/versions/1.0.1/croissant.json"' in html


def test_store_text_is_escaped_and_every_response_has_the_security_headers(
    site: SiteConfig,
) -> None:
    page = TestClient(create_app(site)).get("/")
    assert "<script>alert" not in page.text  # the withdrawal reason, as the curator typed it
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    missing = TestClient(create_app(site)).get("/versions/9.9.9/croissant.json")
    assert (
        missing.status_code == 404
        and "frame-ancestors" in missing.headers["content-security-policy"]
    )


def test_files_are_served_only_from_a_version_and_never_outside_it(
    site: SiteConfig, access: AccessConfig
) -> None:
    client = TestClient(create_app(site))
    croissant = client.get("/versions/1.0.1/croissant.json")
    store = LocalStore(access.store)
    expected = (store.version_dir("d", "1.0.1") / "croissant.json").read_bytes()
    assert croissant.status_code == 200 and croissant.content == expected
    for path in (
        "/versions/1.0.1/figures/..%2F..%2F..%2Fwithdrawn.json",
        "/versions/1.0.1/figures/%2E%2E%2Fmanifest.json",
        "/versions/..%2F..%2Fd/croissant.json",
        "/versions/1.0.1/figures/manifest.json",
    ):
        assert client.get(path).status_code == 404, path


def test_a_purged_version_shows_and_serves_nothing_but_its_status(
    site: SiteConfig, access: AccessConfig
) -> None:
    client = TestClient(create_app(site))
    store = LocalStore(access.store)
    marks = store.withdrawn("d")
    assert client.get("/versions/1.0.0/croissant.json").status_code == 200  # withdrawn, kept
    marks["1.0.0"]["purged_at"] = "2026-04-01T00:00:00+00:00"
    store._write_json(store.root / "d" / "withdrawn.json", marks)
    try:
        assert client.get("/versions/1.0.0/croissant.json").status_code == 404
        assert "<td>purged: holds opted-out" in client.get("/").text
    finally:
        del marks["1.0.0"]["purged_at"]
        store._write_json(store.root / "d" / "withdrawn.json", marks)
