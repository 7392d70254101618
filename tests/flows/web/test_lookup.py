""" "Am I in it?" on real video files: a link or an upload is answered yes when it is, or
near-duplicates, a released video, and no otherwise; nothing else about the dataset is said.
Uploads that are too big, too long, not video, without CSRF or too frequent are refused."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest

from curation.config import CurateConfig, SiteConfig, VideoConfig
from curation.video.fingerprint_store import fingerprint_batch, store_version, write_part
from curation.video.settings import settings_of
from privacy.blocklist import Blocklist
from storage.local import LocalStore
from synth.video.codec import make_person_clip
from synth.video.edits import apply_edits
from tests.curation.release.test_build import publish
from tests.flows.web.conftest import Mailbox, site_config
from tests.flows.web.test_browser import new_page

PLATFORM = "https://sharevideo.example"
RELEASED, COPY, STRANGER, UNSEEN_COPY, PLAIN = 1, 2, 3, 4, 5  # post IDs of the export


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    made = {"source": folder / "source.mp4", "stranger": folder / "stranger.mp4"}
    make_person_clip(made["source"], seed=11, duration_s=8.0)
    make_person_clip(made["stranger"], seed=12, duration_s=8.0)
    edits = {"crop10": folder / "crop.mp4", "logo": folder / "logo.mp4"}
    apply_edits(made["source"], edits, seed=3)
    return made | edits


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox, clips: dict[str, Path]
) -> SiteConfig:
    """One release; its first video's media is `source` (fingerprinted by curation). The
    export: post 1 is that video, 2 a file curation fingerprinted as a copy, 3 an unrelated
    video, 4 a copy curation never saw (only in the media store), 5 a post of the release's
    media file without any fingerprint."""
    root = tmp_path_factory.mktemp("lookup")
    store = LocalStore(root / "store")
    publish(store, "1.0.0", Blocklist.empty())
    shas = pl.read_parquet(store.build("d", "1.0.0").media)["media_sha256"].to_list()
    released = shas[0]
    media = root / "export" / "media"
    media.mkdir(parents=True)
    files = {released: clips["source"], "c" * 64: clips["crop10"], "e" * 64: clips["stranger"]}
    files |= {"a" * 64: clips["logo"]}
    for sha, clip in files.items():
        (media / f"{sha}.mp4").write_bytes(clip.read_bytes())
    posts = [(RELEASED, released), (COPY, "c" * 64), (STRANGER, "e" * 64)]
    posts += [(UNSEEN_COPY, "a" * 64), (PLAIN, shas[1])]
    (root / "export" / "posts").mkdir()
    pl.DataFrame(posts, schema=["post_id", "media_sha256"], orient="row").write_parquet(
        root / "export" / "posts" / "part-00000.parquet"
    )
    video = VideoConfig(store=root / "fingerprints")
    settings = settings_of(video)
    items = [(i, sha, f"{sha}.mp4") for i, sha in enumerate([released, "c" * 64, "e" * 64])]
    rows = fingerprint_batch(items, lambda name: media / name, settings)
    assert rows["status"].to_list() == ["ok"] * 3
    write_part(root / "fingerprints", rows, store_version(settings))
    run = root / "curation"
    run.mkdir()
    curate = CurateConfig(export_dir=root / "export", video=video)
    (run / "run.json").write_text(json.dumps({"config": curate.model_dump(mode="json")}))
    return site_config(
        root,
        mailbox,
        export_dir=root / "export",
        curation_dir=run,
        media_root=str(media),
        platform_url=PLATFORM,
        upload_max_mb=4,
        upload_max_s=20,
        lookups_per_hour=30,
    )


def csrf(client: httpx.Client, path: str = "/am-i-in-it") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found
    return found.group(1)


def ask(
    client: httpx.Client, link: str = "", clip: Path | bytes | None = None, token: str | None = None
) -> httpx.Response:
    data = {"csrf_token": csrf(client) if token is None else token, "link": link}
    if clip is None:
        return client.post("/am-i-in-it", data=data, files={"clip": ("", b"")})
    body = clip if isinstance(clip, bytes) else clip.read_bytes()
    return client.post("/am-i-in-it", data=data, files={"clip": ("clip.mp4", body, "video/mp4")})


def answer(r: httpx.Response) -> str:
    assert r.status_code == 200, r.text
    found = re.search(r'id="answer">([^<]+)<', r.text)
    assert found
    return found.group(1).split(":")[0]


def link(post_id: int) -> str:
    return f"{PLATFORM}/@someone/video/{post_id}"


@pytest.fixture
def client(server: str) -> httpx.Client:
    return httpx.Client(base_url=server, timeout=60)


def test_links_are_found_by_their_file_or_as_near_duplicates(client: httpx.Client) -> None:
    assert answer(ask(client, link(RELEASED))) == "Yes"  # the released file itself
    assert answer(ask(client, link(PLAIN))) == "Yes"  # released, never fingerprinted
    assert answer(ask(client, link(COPY))) == "Yes"  # a copy curation fingerprinted
    assert answer(ask(client, link(UNSEEN_COPY))) == "Yes"  # a copy fingerprinted just now
    assert answer(ask(client, link(STRANGER))) == "No"
    assert answer(ask(client, link(999))) == "No"  # not on the platform: no more said


def test_uploads_are_matched_by_their_pixels(client: httpx.Client, clips: dict[str, Path]) -> None:
    assert answer(ask(client, clip=clips["crop10"])) == "Yes"
    assert answer(ask(client, clip=clips["logo"])) == "Yes"
    assert answer(ask(client, clip=clips["stranger"])) == "No"


def test_a_yes_offers_the_opt_out_form_filled_in(client: httpx.Client) -> None:
    page = ask(client, link(RELEASED)).text
    target = re.search(r'href="(/opt-out\?links=[^"]+)"', page)
    assert target
    form = client.get(target.group(1).replace("&amp;", "&")).text
    assert f">{link(RELEASED)}</textarea>" in form


def test_the_answer_says_nothing_else(client: httpx.Client, site: SiteConfig) -> None:
    index = pl.read_parquet(LocalStore(site.access.store).build("d", "1.0.0").media)
    yes, no = ask(client, link(RELEASED)).text, ask(client, link(STRANGER)).text
    for page in (yes, no):
        for value in index["video_id"].to_list() + index["media_sha256"].to_list():
            assert value not in page


def test_hostile_uploads_get_a_clear_refusal(
    client: httpx.Client, clips: dict[str, Path], tmp_path: Path
) -> None:
    not_video = ask(client, clip=b"\x00\x00\x00\x18ftypmp42" + b"junk" * 5000)
    assert not_video.status_code == 400 and "could not be read as a video" in not_video.text
    big = ask(client, clip=b"\x00" * (5 << 20))
    assert big.status_code == 413 and "larger than 4 MB" in big.text
    long = tmp_path / "long.mp4"
    make_person_clip(long, seed=5, duration_s=25.0, fps=5)
    too_long = ask(client, clip=long)
    assert too_long.status_code == 400 and "too long" in too_long.text
    both = ask(client, link(RELEASED), clips["logo"])
    assert both.status_code == 400 and "not both" in both.text
    odd = ask(client, "https://elsewhere.example/@x/video/1")
    assert odd.status_code == 400 and "not a link to a video" in odd.text
    forged = ask(client, link(RELEASED), token="forged")
    assert forged.status_code == 403
    chunked = client.post(
        "/am-i-in-it", content=iter([b"x"]), headers={"content-type": "multipart/form-data"}
    )
    assert chunked.status_code == 411


def test_a_creator_checks_a_clip_and_opts_out_in_chromium(
    server: str, browser: Any, clips: dict[str, Path], tmp_path: Path
) -> None:
    page, shots = new_page(browser, tmp_path)
    page.goto(f"{server}/am-i-in-it")
    page.screenshot(path=str(shots / "am-i-in-it-form.png"), full_page=True)
    page.set_input_files("input[name=clip]", str(clips["logo"]))
    page.click("button[type=submit]")
    assert page.inner_text("#answer").startswith("Yes")
    page.screenshot(path=str(shots / "am-i-in-it-answer.png"), full_page=True)
    page.goto(f"{server}/am-i-in-it")
    page.fill("input[name=link]", link(RELEASED))
    page.click("button[type=submit]")
    page.click("text=Take it out of the dataset")
    assert page.input_value("textarea[name=links]") == link(RELEASED)
    page.close()


# Last: it spends the address's allowance.
def test_checks_are_rate_limited(server: str, site: SiteConfig) -> None:
    client = httpx.Client(base_url=server, timeout=60)
    codes = [ask(client, link(STRANGER)).status_code for _ in range(site.lookups_per_hour + 1)]
    assert 429 in codes and codes[0] == 200
