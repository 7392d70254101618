from pathlib import Path

import av
import numpy as np
import polars as pl
import pytest

from synth import video as sv
from synth.video.clips import SlideTemplate

FPS = 15
EDITS = ["half_size", "mirror", "trim3", "speed_0_8", "reencode"]


def make_corpus(out: Path) -> pl.DataFrame:
    done: list[int] = []
    path = sv.synthesize_corpus(
        out, 2, 3, seed=11, fps=FPS, min_s=5, max_s=6, edits=EDITS, progress=done.append
    )
    corpus = pl.read_parquet(path)
    assert sum(done) == len(corpus)
    return corpus


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    make_corpus(out)
    return out


@pytest.fixture(scope="module")
def corpus(corpus_dir: Path) -> pl.DataFrame:
    return pl.read_parquet(corpus_dir / "corpus.parquet")


def frames(path: Path) -> list[np.ndarray]:
    return list(sv.read_frames(path))


def middle(path: Path) -> np.ndarray:
    decoded = frames(path)
    return decoded[len(decoded) // 2].astype(np.float32)


def row(corpus: pl.DataFrame, clip_id: str) -> dict:
    return corpus.filter(pl.col("clip_id") == clip_id).row(0, named=True)


def test_schema_and_ground_truth(corpus: pl.DataFrame) -> None:
    assert corpus.schema == pl.Schema(sv.CORPUS_SCHEMA)
    assert corpus["clip_id"].is_unique().all()
    assert len(corpus) == 2 * (1 + len(EDITS)) + 3
    sources = corpus.filter(pl.col("source_id").is_not_null())
    assert sorted(sources["edit"].unique()) == sorted(["original", *EDITS])
    assert (sources["group"] == sources["source_id"]).all()
    distractors = corpus.filter(pl.col("source_id").is_null())
    assert set(distractors["edit"]) == {"distractor", "lookalike_slideshow", "lookalike_setting"}
    looks = distractors.filter(pl.col("edit").str.starts_with("lookalike"))
    assert looks["group"].null_count() == 0


def test_files_decode_with_recorded_size_and_duration(
    corpus: pl.DataFrame, corpus_dir: Path
) -> None:
    for r in corpus.iter_rows(named=True):
        path = corpus_dir / r["path"]
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            assert (stream.codec_context.width, stream.codec_context.height) == (
                r["width"],
                r["height"],
            )
            n = sum(1 for _ in container.decode(video=0))
        assert n / FPS == pytest.approx(r["duration_s"])
        if r["edit"] != "trim3":
            assert 5 - 0.1 <= r["duration_s"] * (0.8 if r["edit"] == "speed_0_8" else 1) <= 6.1


def test_edit_geometry_and_timing(corpus: pl.DataFrame) -> None:
    src = row(corpus, "s0000")
    assert (src["width"], src["height"]) == (540, 960)
    assert row(corpus, "s0000-half_size")["width"] == 270
    assert row(corpus, "s0000-half_size")["height"] == 480
    assert row(corpus, "s0000-trim3")["duration_s"] == pytest.approx(src["duration_s"] - 3)
    assert row(corpus, "s0000-speed_0_8")["duration_s"] == pytest.approx(
        src["duration_s"] * 1.25, abs=2 / FPS
    )
    assert row(corpus, "s0000-reencode")["duration_s"] == src["duration_s"]


def test_mirror_is_flipped_source(corpus_dir: Path) -> None:
    src = middle(corpus_dir / "videos/s0000.mp4")
    mirrored = middle(corpus_dir / "videos/s0000-mirror.mp4")
    flipped_diff = float(np.abs(mirrored[:, ::-1] - src).mean())
    assert flipped_diff < 4.0  # codec noise only
    assert float(np.abs(mirrored - src).mean()) > 4 * flipped_diff


def test_sources_look_different(corpus: pl.DataFrame, corpus_dir: Path) -> None:
    originals = corpus.filter(pl.col("edit").is_in(["original", "distractor"]))["path"]
    mids = [middle(corpus_dir / p) for p in originals]
    for i in range(len(mids)):
        for j in range(i + 1, len(mids)):
            # codec noise is ~2; unrelated sources measured 24–90 (median 58)
            assert float(np.abs(mids[i] - mids[j]).mean()) > 15


def test_same_seed_same_corpus(corpus: pl.DataFrame, corpus_dir: Path, tmp_path: Path) -> None:
    again = make_corpus(tmp_path)
    assert again.equals(corpus)
    for p in ["videos/s0001.mp4", "videos/s0001-speed_0_8.mp4", "videos/t000-0.mp4"]:
        a, b = frames(corpus_dir / p), frames(tmp_path / p)
        assert len(a) == len(b)
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_every_edit_function(tmp_path: Path) -> None:
    src = sv.make_source_clip(tmp_path / "src.mp4", seed=5, duration_s=4, fps=8)
    assert (src.width, src.height, src.n_frames) == (540, 960, 32)
    sizes = {"half_size": (270, 480)}
    counts = {"trim3": 8, "speed_0_8": 40, "speed_1_25": 26}
    for name in sv.EDITS:
        info = getattr(sv, name)(src.path, tmp_path / f"{name}.mp4", seed=1)
        probed = sv.probe(info.path)
        assert (probed.width, probed.height) == sizes.get(name, (540, 960)), name
        assert probed.n_frames == info.n_frames == counts.get(name, 32), name
        assert probed.fps == 8


def test_slideshow_template_shared_pictures_differ(tmp_path: Path) -> None:
    a = frames(sv.make_slideshow_clip(tmp_path / "a.mp4", 3, seed=1, duration_s=1.5).path)[10]
    b = frames(sv.make_slideshow_clip(tmp_path / "b.mp4", 3, seed=2, duration_s=1.5).path)[10]
    x0, y0, ww, wh = SlideTemplate(3).win
    diff = np.abs(a.astype(np.float32) - b)
    assert float(diff[: y0 - 80].mean()) < 3  # same background, title and decoration
    assert float(diff[y0 : y0 + wh, x0 : x0 + ww].mean()) > 20  # different pictures


def test_unknown_edit_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown edits"):
        sv.synthesize_corpus(tmp_path, 1, 0, seed=1, edits=["sepia"])


def test_the_cli_writes_a_corpus_with_its_ground_truth(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from flows.cli import app

    out = tmp_path / "corpus"
    args = ["synth", "videos", "--out", str(out), "--sources", "1", "--distractors", "1"]
    result = CliRunner().invoke(app, [*args, "--workers", "1"])
    assert result.exit_code == 0, result.output
    corpus = pl.read_parquet(out / "corpus.parquet")
    assert corpus.height == 1 + len(sv.EDITS) + 1
    assert corpus["source_id"].null_count() == 1  # the distractor has no source
    assert all((out / p).is_file() for p in corpus["path"])
