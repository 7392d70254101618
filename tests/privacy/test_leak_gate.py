import json
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from privacy.keys import PseudonymKey
from privacy.leak_gate import LeakError, check_bundle, needles_from_source, scan_bundle

SOURCE = pl.DataFrame(
    {
        "post_id": [1356463851683446784, 1356597720105615360],
        "creator_id": [3001670653, 3000258053],
        "created_at": ["2021-02-02T04:45:58.778Z", "2021-02-02T13:37:55.497Z"],
        "media_url": [
            "https://cdn.example/v/tanuso_3874_0c82e/1356463851683446784.mp4",
            "https://cdn.example/v/shdeya_7383_0a570/1356597720105615360.mp4",
        ],
        "caption": ["call +91 98765 43210 or write asha.k@mail.example", "hello @jomiku_6023_0759"],
    }
)
LEAKS = {  # kind → a value of that kind, as it would appear in a leaked file
    "post_id": "1356463851683446784",
    "creator_id": "3001670653",
    "handle": "@jomiku_6023_0759",
    "timestamp": "2021-02-02T04:45:58.778Z",
    "date": "2021-02-02",
    "email": "asha.k@mail.example",
    "phone": "+91-98765-43210",
}


def clean_bundle(root: Path) -> Path:
    root.mkdir()
    (root / "labeled").mkdir()
    pl.DataFrame({"video_id": ["a1b2c3d4e5f6a7b8"], "published": ["2021-W05"]}).write_parquet(
        root / "labeled" / "train-00000-of-00001.parquet"
    )
    (root / "README.md").write_text("# massiv 1.0.0\n\n1 video, published 2021-W05.\n")
    (root / "stats.json").write_text(json.dumps({"videos": 1}))
    return root


def test_a_clean_bundle_passes(tmp_path: Path) -> None:
    check_bundle(clean_bundle(tmp_path / "b"), needles_from_source(SOURCE, "week"))


@pytest.mark.parametrize("kind", sorted(LEAKS))
@pytest.mark.parametrize("where", ["cell", "parquet_metadata", "card", "json"])
def test_each_kind_of_leak_is_caught_and_reported_without_its_value(
    tmp_path: Path, kind: str, where: str
) -> None:
    root = clean_bundle(tmp_path / "b")
    value = LEAKS[kind]
    shard = root / "labeled" / "train-00000-of-00001.parquet"
    if where == "cell":
        pl.DataFrame({"video_id": ["x"], "note": [f"see {value}"]}).write_parquet(shard)
        expected = ("labeled/train-00000-of-00001.parquet", "note")
    elif where == "parquet_metadata":
        table = pa.table({"video_id": ["x"]}).replace_schema_metadata({"source": value})
        pq.write_table(table, shard)
        expected = ("labeled/train-00000-of-00001.parquet", "metadata")
    elif where == "card":
        (root / "README.md").write_text(f"# card\n\nContact: {value}\n")
        expected = ("README.md", "text")
    else:
        (root / "stats.json").write_text(json.dumps({"example": value}))
        expected = ("stats.json", "text")
    needles = needles_from_source(SOURCE, "week")
    hits = scan_bundle(root, needles)
    assert any((h.file, h.column, h.kind) == (*expected, kind) for h in hits), hits
    with pytest.raises(LeakError) as info:
        check_bundle(root, needles)
    assert expected[0] in str(info.value) and value not in str(info.value)


def test_dates_are_fine_when_the_release_shows_days(tmp_path: Path) -> None:
    root = clean_bundle(tmp_path / "b")
    (root / "README.md").write_text("published 2021-02-02\n")
    assert scan_bundle(root, needles_from_source(SOURCE, "day")) == []
    assert [h.kind for h in scan_bundle(root, needles_from_source(SOURCE, "week"))] == ["date"]


INDIC = pl.DataFrame(
    {
        "post_id": [1356463851683446785],
        "creator_id": [3001670654],
        "created_at": ["2021-02-02T04:45:58.778Z"],
        "caption": ["नया गाना @सोनू_गीत लिखें सोनू.गीत@डाक.भारत"],
    }
)


@pytest.mark.parametrize(
    ("kind", "value"),
    [("handle", "@सोनू_गीत"), ("handle", "सोनू_गीत"), ("email", "सोनू.गीत@डाक.भारत")],
)
@pytest.mark.parametrize("where", ["cell", "card"])
def test_handles_and_addresses_in_indic_scripts_are_caught(
    tmp_path: Path, kind: str, value: str, where: str
) -> None:
    # Python's \w stops at Indic vowel signs and viramas; the gate must take whole handles.
    root = clean_bundle(tmp_path / "b")
    if where == "cell":
        pl.DataFrame({"video_id": ["x"], "caption": [f"देखो {value} यहाँ"]}).write_parquet(
            root / "labeled" / "train-00000-of-00001.parquet"
        )
    else:
        (root / "README.md").write_text(f"# कार्ड\n\nसंपर्क: {value}\n", encoding="utf-8")
    hits = scan_bundle(root, needles_from_source(INDIC, "week"))
    assert any(h.kind == kind for h in hits), hits
    # An e-mail's domain is not taken for a handle: the card may name a mail host.
    needles = needles_from_source(INDIC, "week")
    assert "डाक.भारत" not in needles.by_kind["handle"]


GLUED = pl.DataFrame(
    {
        "post_id": [7212345678901234567],
        "creator_id": [3001670653],
        "created_at": ["2021-03-04T10:11:12.000Z"],
        "media_url": ["https://cdn.example/v/alice_k/7212345678901234567.mp4"],
        "caption": ["hi @alice_k call +91 98765 43210"],
    }
)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("post 7212345678901234567.", "post_id"),
        ("post_id:7212345678901234567", "post_id"),
        ('{"id":7212345678901234567}', "post_id"),
        ("(3001670653)", "creator_id"),
        ("dance ft. alice_k: 🎶", "handle"),
        ("alice_k.", "handle"),
        ("@alice_k!", "handle"),
        ("published on 2021-03-04.", "date"),
        ("at 2021-03-04T10:11:12Z", "date"),
        ("call 98765-43210", "phone"),
    ],
)
def test_values_glued_to_punctuation_are_found(tmp_path: Path, text: str, kind: str) -> None:
    root = clean_bundle(tmp_path / "b")
    (root / "README.md").write_text(f"# card\n\n{text}\n")
    needles = needles_from_source(GLUED, "week")
    assert any(h.kind == kind and h.file == "README.md" for h in scan_bundle(root, needles))
    # Kept as HMACs under the key, the needles find the same, and hold no value.
    keyed = needles.keyed(PseudonymKey("k1", bytes(range(32))))
    assert any(h.kind == kind for h in scan_bundle(root, keyed))
    assert "alice_k" not in keyed.table.write_csv() and "3001670653" not in keyed.table.write_csv()


def test_a_pseudonym_with_a_long_digit_run_is_not_taken_for_a_creator_id(tmp_path: Path) -> None:
    root = clean_bundle(tmp_path / "b")
    pl.DataFrame({"video_id": ["a3001670653bcdef"]}).write_parquet(
        root / "labeled" / "train-00000-of-00001.parquet"
    )
    assert scan_bundle(root, needles_from_source(GLUED, "week")) == []
