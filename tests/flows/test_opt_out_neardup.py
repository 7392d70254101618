"""Near-duplicates of an opted-out video, on real video files: blocked by the opt-out run among
the release's candidates, and excluded by every later curation run's video stage."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from curation.config import CurateConfig, OptOutConfig, SamplingConfig, ShortlistConfig, VideoConfig
from curation.video.neardup import match_references
from flows.curate import curate
from flows.opt_out import OptOutResult, opt_out
from privacy.blocklist import load_blocked_frames, load_blocklist, mac
from privacy.keys import create_key_file, load_key
from privacy.opt_out import load_evidence
from storage.runs import CurationRun
from synth.export import synthesize_export

pytestmark = pytest.mark.slow


def curate_config(export: Path, out: Path, opt_out_folder: Path, key: Path) -> CurateConfig:
    return CurateConfig(
        export_dir=export,
        output_dir=out,
        sampling=SamplingConfig(pool_size=30_000),
        shortlist=ShortlistConfig(size=2_500, companion_size=0),
        video=VideoConfig(workers=0, store=out.parent / "fingerprints"),
        opt_out_dir=opt_out_folder,
        key_file=key,
    )


def test_copies_of_an_opted_out_video_are_blocked_now_and_later(
    harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    searched: list[int] = []  # opted-out videos each near-duplicate search was run for

    def spy(frames: pl.DataFrame, references: pl.DataFrame, settings: object) -> pl.DataFrame:
        searched.append(references["video"].n_unique())
        return match_references(frames, references, settings)  # type: ignore[arg-type]

    monkeypatch.setattr("curation.release.copies.match_references", spy)
    export, opt_out_folder, key_file = tmp_path / "export", tmp_path / "optout", tmp_path / "key"
    synthesize_export(export, 3_000, seed=5, video_sources=1)
    create_key_file(key_file)
    key = load_key(key_file, "k1")
    curate(curate_config(export, tmp_path / "cur", opt_out_folder, key_file))

    posts = pl.read_parquet(export / "posts").join(
        pl.read_parquet(export / "media_truth.parquet"), on="media_sha256"
    )
    source = posts.filter(pl.col("source_id").is_not_null())["source_id"].mode()[0]
    copies = posts.filter(pl.col("source_id") == source)
    shortlist = pl.read_parquet(tmp_path / "cur" / "shortlist.parquet")
    folded = pl.read_parquet(tmp_path / "cur" / "exclusions" / "video.parquet").filter(
        pl.col("reason") == "near_duplicate"
    )
    kept = copies.filter(pl.col("post_id").is_in(shortlist["post_id"].implode()))
    gone = copies.filter(pl.col("post_id").is_in(folded["post_id"].implode()))
    assert kept.height == 1 and gone.height >= 3  # one representative, its copies folded in
    requested = gone.row(0, named=True)
    handle = pl.read_parquet(export / "creators").filter(
        pl.col("creator_id") == requested["creator_id"]
    )["handle"][0]
    requests = tmp_path / "requests.json"
    requests.write_text(
        '[{"request_id": "r1", "received_at": "2022-01-05T10:00:00Z", '
        '"requester_email": "a@mail.example", "scope": "video", "target": '
        f'"https://sharevideo.example/@{handle}/video/{requested["post_id"]}"}}]'
    )

    def run_opt_out(folder: Path) -> OptOutResult:
        return opt_out(
            OptOutConfig(
                requests=requests,
                export_dir=export,
                curation_dir=tmp_path / "cur",
                opt_out_dir=folder,
                store=tmp_path / "releases",
                key_file=key_file,
            )
        )

    result = run_opt_out(opt_out_folder)
    # The opted-out copy was never a candidate, but the representative of its cluster is; the
    # run saw the video, so its saved clusters answered and no search ran.
    assert result.requests == {"matched": 1} and result.near_duplicates == 1
    assert searched == []
    expected = {
        mac(key, "video", requested["post_id"]): "opt_out_video",
        mac(key, "media", requested["media_sha256"]): "opt_out_media",  # its exact re-uploads
        mac(key, "video", kept["post_id"][0]): "near_duplicate",
    }
    entries = load_blocklist(opt_out_folder).entries
    assert dict(zip(entries["mac"], entries["reason"], strict=True)) == expected
    assert load_evidence(opt_out_folder)["near_duplicates"].to_list() == [1]
    frames = load_blocked_frames(opt_out_folder)
    assert frames is not None and frames["mac"].to_list() == [
        mac(key, "video", requested["post_id"])
    ]

    # The next curation run: both blocklisted posts leave at the blocklist stage, and the
    # cluster's other copies (re-uploads) at the video stage, as copies of an opted-out video.
    curate(curate_config(export, tmp_path / "cur2", opt_out_folder, key_file))
    blocked = pl.read_parquet(tmp_path / "cur2" / "exclusions" / "blocklist.parquet")
    assert set(blocked["post_id"]) == {requested["post_id"], kept["post_id"][0]}
    video = pl.read_parquet(tmp_path / "cur2" / "exclusions" / "video.parquet")
    withdrawn = video.filter(pl.col("reason") == "opted_out_near_duplicate")
    assert withdrawn.height >= 2
    assert set(withdrawn["post_id"]) <= set(copies["post_id"])
    remaining = pl.concat(
        pl.read_parquet(tmp_path / "cur2" / f"{t}.parquet") for t in ("pool", "companion")
    )
    assert not set(remaining["post_id"]) & (set(withdrawn["post_id"]) | set(blocked["post_id"]))

    # Without the saved clusters the video counts as unseen: one search, the same answer.
    CurationRun(tmp_path / "cur").neardup_clusters.unlink()
    again = run_opt_out(tmp_path / "optout-without-clusters")
    assert searched == [1] and again.near_duplicates == 1
    entries = load_blocklist(tmp_path / "optout-without-clusters").entries
    assert dict(zip(entries["mac"], entries["reason"], strict=True)) == expected
