import hashlib
import os
import stat
from pathlib import Path

import polars as pl
import pytest

from curation.config import MaskingConfig
from privacy.keys import KEY_ENV, KeyUnavailableError, PseudonymKey, create_key_file, load_key
from privacy.masking import RELEASED_POST_COLUMNS, mask_posts
from privacy.pseudonyms import PseudonymCollisionError, pseudonym, pseudonymize
from tests.conftest import posts

KEY = PseudonymKey("k1", bytes(range(32)))


def test_key_from_file_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "k"
    assert create_key_file(path) and not create_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(load_key(path, "k1").secret) == 32
    monkeypatch.setenv(KEY_ENV, "ab" * 32)
    assert load_key(None, "k2") == PseudonymKey("k2", bytes.fromhex("ab" * 32))


@pytest.mark.parametrize(
    ("value", "message"), [("zz" * 32, "not hex"), ("ab" * 8, "shorter than 32")]
)
def test_bad_keys_are_refused_without_echoing_them(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv(KEY_ENV, value)
    with pytest.raises(KeyUnavailableError, match=message) as info:
        load_key(None, "k1")
    assert value not in str(info.value)


def test_no_key_says_where_to_put_one(tmp_path: Path) -> None:
    with pytest.raises(KeyUnavailableError, match=KEY_ENV):
        load_key(None, "k1")
    with pytest.raises(KeyUnavailableError, match="not found"):
        load_key(tmp_path / "missing", "k1")


def test_key_never_shows_in_repr() -> None:
    assert bytes(range(32)).hex() not in repr(KEY) + str(KEY)


def test_pseudonyms_are_keyed_stable_and_separate_kinds() -> None:
    other = PseudonymKey("k1", bytes(range(1, 33)))
    assert pseudonym(KEY, "video", 42, 16) == pseudonym(KEY, "video", 42, 16)
    assert pseudonym(KEY, "video", 42, 16) != pseudonym(other, "video", 42, 16)
    assert pseudonym(KEY, "video", 42, 16) != pseudonym(KEY, "creator", 42, 16)


def test_a_dictionary_of_ids_does_not_reverse_pseudonyms() -> None:
    # An attacker hashes every candidate ID with plain sha256: no pseudonym is found.
    ids = list(range(10_000))
    released = set(pseudonymize(pl.Series(ids), KEY, "video", 16).to_list())
    guesses = {hashlib.sha256(f"video:{i}".encode()).hexdigest()[:16] for i in ids}
    guesses |= {hashlib.sha256(str(i).encode()).hexdigest()[:16] for i in ids}
    assert not released & guesses


def test_collisions_are_detected() -> None:
    with pytest.raises(PseudonymCollisionError):
        pseudonymize(pl.Series(range(100)), KEY, "video", 1)


def test_masked_posts_carry_only_allowed_columns_and_coarse_dates() -> None:
    frame = posts(
        {"post_id": 1, "created_at": "2021-03-04T10:11:12.000Z"},
        {"post_id": 2, "creator_id": 200, "created_at": "2021-03-10T00:00:00.000Z"},
    )
    out = mask_posts(frame, KEY, MaskingConfig())
    assert out.columns == RELEASED_POST_COLUMNS
    assert set(out["published"]) == {"2021-W09", "2021-W10"}
    assert out["video_id"].to_list() == sorted(out["video_id"].to_list())  # order carries no time
    text = out.write_csv()
    for raw in ("10:11", "2021-03-04", "2021-03-10", "someone"):
        assert raw not in text
    # The platform URL (with the handle) is replaced by the template and the pseudonym only.
    assert out["media_url"].to_list() == [
        f"http://127.0.0.1:8000/media/{v}" for v in out["video_id"]
    ]
    assert not {"1", "2", "100", "200"} & (set(out["video_id"]) | set(out["creator_id"]))
    month = mask_posts(frame, KEY, MaskingConfig(date_granularity="month"))
    assert set(month["published"]) == {"2021-03"}


def test_key_file_is_outside_git(tmp_path: Path) -> None:
    # The demo key lives in the user's config folder, never under the repository.
    from flows.cli.demo import DEMO_KEY

    repo = Path(__file__).resolve().parents[2]
    assert repo not in DEMO_KEY.resolve().parents
    assert os.path.commonpath([repo, DEMO_KEY.resolve()]) != str(repo)


@pytest.mark.parametrize(
    "template", ["https://x/{post_id}.mp4", "https://x/{video_id}/{creator_id}", "https://x/a.mp4"]
)
def test_a_media_url_template_may_hold_only_the_video_pseudonym(template: str) -> None:
    with pytest.raises(ValueError, match="media_url_template"):
        MaskingConfig(media_url_template=template)
