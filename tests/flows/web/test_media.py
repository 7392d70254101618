"""The media gateway: what every released media_url points at. A live grant gets a logged
redirect to a short-lived link of the platform's store; an opted-out or taken-down video is
410; anything else is refused without saying more. The video plays in Chromium."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest

from curation.config import SiteConfig
from curation.release.patch import patch_release
from privacy.access_log import AccessLog, load_public_key
from privacy.audit import open_desk
from privacy.blocklist import Blocklist
from privacy.pseudonyms import pseudonym
from storage.local import LocalStore
from storage.site_state import SiteState
from synth.release_rows import KEY
from synth.video.codec import make_person_clip
from tests.curation.release.test_build import block, publish
from tests.flows.web.conftest import Mailbox, approved, site_config


def video(i: int) -> str:
    return pseudonym(KEY, "video", i, 16)


PLAYS, OPTED_OUT, TAKEN_DOWN = 5, 3, 7  # raw post IDs of the published rows (0–11, 100–119)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox) -> SiteConfig:
    root = tmp_path_factory.mktemp("media")
    store = LocalStore(root / "store")
    publish(store, "1.0.0", Blocklist.empty())
    # The creator of video 3 opted out: 1.0.1 is the patch without it, 1.0.0 is withdrawn.
    patch_release(store, "d", "1.0.0", "1.0.1", block(Blocklist.empty(), videos=[OPTED_OUT]))
    store.withdraw("d", "1.0.0", "opt-out", 30, datetime(2026, 3, 1, tzinfo=UTC))
    index = pl.read_parquet(store.build("d", "1.0.1").media)
    sha = dict(zip(index["video_id"], index["media_sha256"], strict=True))
    media = root / "platform-media"
    make_person_clip(media / f"{sha[video(PLAYS)]}.mp4", seed=1, duration_s=2.0)
    pl.DataFrame({"post_id": [TAKEN_DOWN], "media_sha256": [sha[video(TAKEN_DOWN)]]}).write_csv(
        root / "takedowns.csv"
    )
    return site_config(root, mailbox, media_root=str(media), takedowns=root / "takedowns.csv")


@pytest.fixture(scope="module")
def grant(site: SiteConfig, server: str) -> str:
    return approved(site, "Ada")


def token_for(site: SiteConfig, grant_id: str) -> str:
    return SiteState(site.state).new_api_token(grant_id)


def get(server: str, path: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(server + path, headers=headers, follow_redirects=False)


def entries(site: SiteConfig, event: str) -> list[dict[str, Any]]:
    return [e for e in AccessLog(site.access.access_dir / "access-log.jsonl").entries()
            if e["event"] == event]  # fmt: skip


def test_a_granted_video_redirects_to_a_short_lived_link_and_is_logged(
    site: SiteConfig, server: str, grant: str
) -> None:
    token = token_for(site, grant)
    before = len(entries(site, "media_access"))
    r = get(server, f"/media/{video(PLAYS)}", token)
    assert r.status_code == 302 and r.headers["cache-control"] == "no-store"
    link = r.headers["location"]
    assert link.startswith("/platform-media/") and "expires=" in link and "sig=" in link
    clip = httpx.get(server + link)
    assert clip.status_code == 200 and clip.headers["content-type"] == "video/mp4"
    assert clip.content == next(Path(site.media_root).glob("*.mp4")).read_bytes()
    logged = entries(site, "media_access")[before:]
    assert [(e["actor"], e["details"]["video"], e["details"]["version"]) for e in logged] == [
        (grant, video(PLAYS), "1.0.1")
    ]
    assert "sig=" not in str(logged) and token not in str(logged)  # a hash, never the link


def test_an_opted_out_video_is_gone_and_so_is_one_the_platform_took_down(
    site: SiteConfig, server: str, grant: str
) -> None:
    token = token_for(site, grant)
    out = get(server, f"/media/{video(OPTED_OUT)}", token)
    down = get(server, f"/media/{video(TAKEN_DOWN)}", token)
    assert out.status_code == 410 and "opted out" in out.text
    assert down.status_code == 410 and "taken down" in down.text
    refused = {
        e["details"]["video"]: e["details"]["reason"] for e in entries(site, "media_refused")
    }
    assert set(refused) >= {video(OPTED_OUT), video(TAKEN_DOWN)}


def test_a_video_of_no_version_and_a_malformed_id_say_nothing_more(
    site: SiteConfig, server: str, grant: str
) -> None:
    token = token_for(site, grant)
    unknown = get(server, f"/media/{video(999)}", token)
    odd = get(server, "/media/..%2f..%2fetc%2fpasswd", token)
    assert unknown.status_code == 404 and unknown.text == '{"detail":"no such video"}'
    assert odd.status_code == 404


def test_no_token_a_wrong_token_and_a_revoked_grant_are_refused(
    site: SiteConfig, server: str
) -> None:
    assert get(server, f"/media/{video(PLAYS)}").status_code == 401
    assert get(server, f"/media/{video(PLAYS)}", "mv_not-a-token").status_code == 401
    desk = open_desk(site.access)
    g = desk.request("Bob", "Uni", "bob@uni.example", "research", True)
    desk.approve(g.id, "curator")
    token = token_for(site, g.id)
    assert get(server, f"/media/{video(PLAYS)}", token).status_code == 302
    desk.revoke(g.id, "curator", "left the project")
    r = get(server, f"/media/{video(PLAYS)}", token)
    assert r.status_code == 403 and "revoked" in r.text


def test_a_revocation_lands_while_viewers_keep_coming(site: SiteConfig, server: str) -> None:
    """60 clients open videos without pause; the curator's revocation still lands at once (the
    gateway's shared holds must not starve it) and nothing after it is let through."""
    grant = approved(site, "Cy")
    token = token_for(site, grant)
    answers: list[tuple[float, int]] = []
    revoked_at: list[float] = []
    stop = time.monotonic() + 8

    async def viewer() -> None:
        async with httpx.AsyncClient(base_url=server, timeout=30) as client:
            while time.monotonic() < stop:
                r = await client.get(
                    f"/media/{video(PLAYS)}", headers={"Authorization": f"Bearer {token}"}
                )
                answers.append((time.monotonic(), r.status_code))

    def revoke() -> float:
        while len(answers) < 200 and time.monotonic() < stop:  # the viewers are at it
            time.sleep(0.05)
        started = time.monotonic()
        open_desk(site.access).revoke(grant, "curator", "left the project")
        done = time.monotonic()
        revoked_at.append(done)
        return done - started

    async def load() -> float:
        waited = asyncio.get_running_loop().run_in_executor(None, revoke)
        await asyncio.gather(*(viewer() for _ in range(60)))
        return await waited

    took = asyncio.run(load())
    assert took < 3.0, f"the revocation waited {took:.1f} s behind the viewers"
    before = [code for at, code in answers if at < revoked_at[0] - took]
    after = [code for at, code in answers if at > revoked_at[0] + 1.0]  # in flight: the log
    assert before and set(before) == {302} and after and set(after) == {403}
    log = entries(site, "media_access")
    revoke_seq = next(e["seq"] for e in AccessLog(site.access.access_dir / "access-log.jsonl")
                      .entries() if e["event"] == "access_revoked" and e["actor"] == "curator"
                      and e["details"].get("grant") == grant)  # fmt: skip
    assert all(e["seq"] < revoke_seq for e in log if e["actor"] == grant)


def test_an_altered_or_expired_platform_link_is_refused(
    site: SiteConfig, server: str, grant: str
) -> None:
    link = get(server, f"/media/{video(PLAYS)}", token_for(site, grant)).headers["location"]
    path, query = link.split("?")
    params = dict(p.split("=") for p in query.split("&"))
    other = f"{path[:-10]}{'0' * 6}.mp4?{query}"  # another object under the same signature
    late = f"{path}?expires={int(params['expires']) - 3600}&sig={params['sig']}"
    assert httpx.get(server + other).status_code == 403
    assert httpx.get(server + late).status_code == 403


def test_nothing_is_served_while_the_version_is_unchecked_against_an_opt_out_batch(
    site: SiteConfig, server: str, grant: str
) -> None:
    store = LocalStore(site.access.store)
    token = token_for(site, grant)
    store.require_batch("d", 99)  # an opt-out run saved batch 99 and was killed before the check
    try:
        r = get(server, f"/media/{video(PLAYS)}", token)
        assert r.status_code == 403 and "not yet checked against opt-out batch 99" in r.text
    finally:
        store.mark_checked("d", ["1.0.1"], 99)
    assert get(server, f"/media/{video(PLAYS)}", token).status_code == 302


def test_the_log_stays_valid(site: SiteConfig, server: str, grant: str) -> None:
    log = AccessLog(site.access.access_dir / "access-log.jsonl")
    assert log.verify(load_public_key(site.access.signing_key.with_suffix(".pub"))) == []


def test_a_signed_in_researcher_plays_a_video_in_chromium(
    site: SiteConfig, server: str, grant: str, browser: Any
) -> None:
    session = SiteState(site.state).open_session(f"researcher:{grant}")
    context = browser.new_context()
    context.add_cookies([{"name": "massiv_session", "value": session, "url": server}])
    page = context.new_page()
    page.goto(server + "/researcher")
    links = page.locator("ul.videos a")
    assert links.count() >= 1
    page.goto(server + f"/media/{video(PLAYS)}")
    page.wait_for_function(
        "() => { const v = document.querySelector('video'); return v && v.readyState >= 2 }",
        timeout=15_000,
    )
    duration = page.evaluate("() => document.querySelector('video').duration")
    assert 1.5 < duration < 2.5
    context.close()
