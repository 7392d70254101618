"""Both flows end to end under Prefect's test harness, on a small synthetic export."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from curation.config import (
    BundleConfig,
    CurateConfig,
    OptOutConfig,
    ReleaseConfig,
    SamplingConfig,
    ShortlistConfig,
)
from curation.release import bundle
from flows.cli import app
from flows.cli.synth import _annotations
from flows.curate import CurationResult, curate
from flows.release import release
from privacy.keys import create_key_file
from storage.local import LocalStore, VersionExistsError
from synth.export import synthesize_export
from synth.local_s3 import S3Server

pytestmark = pytest.mark.slow
DATA = ("labeled", "unlabeled")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="module")
def curated(harness: None, workdir: Path) -> CurationResult:
    synthesize_export(workdir / "export", 40_000, seed=11)
    cfg = CurateConfig(
        export_dir=workdir / "export",
        output_dir=workdir / "curation",
        sampling=SamplingConfig(pool_size=4_000),
        shortlist=ShortlistConfig(size=300, companion_size=500),
    )
    result = curate(cfg)
    _annotations(workdir / "curation", workdir / "export" / "annotations", seed=11)
    create_key_file(workdir / "key")
    return result


def opt_out_config(workdir: Path, requests: Path, folder: Path, store: Path) -> OptOutConfig:
    """The opt-out flow over this module's export and curation run."""
    return OptOutConfig(
        requests=requests,
        export_dir=workdir / "export",
        curation_dir=workdir / "curation",
        opt_out_dir=folder,
        store=store,
        key_file=workdir / "key",
    )


def release_config(workdir: Path, store: str, **changes: object) -> ReleaseConfig:
    settings: dict[str, object] = {
        "curation_dir": workdir / "curation",
        "annotations_dir": workdir / "export" / "annotations",
        "store": workdir / store,
        "key_file": workdir / "key",
        "opt_out_dir": workdir / f"optout-{store}",  # not the default under the repo's data/
    }
    return ReleaseConfig(**{**settings, **changes})


def test_curate_funnel_adds_up_and_writes_every_table(
    curated: CurationResult, workdir: Path
) -> None:
    out = workdir / "curation"
    funnel = json.loads((out / "funnel.json").read_text())
    stages = ["ingest", "window", "sensitive", "dedup", "sampling", "blocklist", "video", "quota"]
    assert [s["stage"] for s in funnel["stages"]] == stages
    assert all(s["input"] == s["kept"] + s["excluded"] for s in funnel["stages"])
    for before, after in zip(funnel["stages"], funnel["stages"][1:], strict=False):
        assert after["input"] == before["kept"]
    assert funnel["stages"][0]["input"] == 40_000
    assert curated.pool == 4_000 and curated.shortlist == 300 and 0 < curated.companion <= 500
    quarantine = pl.read_parquet(out / "quarantine.parquet")
    assert quarantine.height == funnel["stages"][0]["excluded"]
    assert quarantine["exclusion_reason"].null_count() == 0 and "caption" in quarantine.columns
    for stage in stages:
        excluded = pl.read_parquet(out / "exclusions" / f"{stage}.parquet")
        assert excluded.height == next(
            s["excluded"] for s in funnel["stages"] if s["stage"] == stage
        )
    dedup = pl.read_parquet(out / "exclusions" / "dedup.parquet")
    assert dedup["detail"].null_count() == 0  # every duplicate names its representative
    shortlist = pl.read_parquet(out / "shortlist.parquet")
    companion = pl.read_parquet(out / "companion.parquet")
    assert not set(shortlist["post_id"]) & set(companion["post_id"])
    assert set(companion["creator_id"]) <= set(shortlist["creator_id"])
    link = workdir / "curation"
    assert link.is_symlink() and (link.resolve() / "run.json").is_file()
    assert link.resolve().parent == workdir / "curation.runs"


def test_release_is_deterministic_verifiable_and_leak_free(
    curated: CurationResult, workdir: Path
) -> None:
    first = release(release_config(workdir, "store_a"))
    second = release(release_config(workdir, "store_b"))
    assert first.manifest_sha256 == second.manifest_sha256
    files = sorted(p.relative_to(first.path) for p in first.path.rglob("*") if p.is_file())
    assert files == sorted(
        p.relative_to(second.path) for p in second.path.rglob("*") if p.is_file()
    )
    assert all((first.path / f).read_bytes() == (second.path / f).read_bytes() for f in files)
    assert bundle.verify_bundle(first.path) == []

    manifest = bundle.read_manifest(first.path)
    assert manifest["counts"]["labeled"] == sum(
        manifest["counts"][s] for s in ("train", "validation", "test")
    )
    assert manifest["key_version"] == "k1" and len(manifest["inputs"]) == 8  # gold set, funnel
    labeled = pl.read_parquet(first.path / "labeled")
    assert labeled.height == manifest["counts"]["labeled"] > 0
    # The gold gate removed the weak candidates, and the agreement left lands near the paper's.
    assert manifest["annotations"]["annotators_failing_gold"] >= 1
    alpha = dict(
        pl.read_parquet(first.path / "agreement.parquet")
        .filter(pl.col("scope") == "taxonomy")
        .select("task", "alpha")
        .iter_rows()
    )
    for task, paper in {
        "concept": 0.77,
        "audio_type": 0.59,
        "video_type": 0.62,
        "affect": 0.40,
    }.items():
        assert alpha[task] == pytest.approx(paper, abs=0.08), task
    # Creator-disjoint splits.
    splits = pl.concat(
        [
            pl.read_parquet(first.path / "labeled" / f.name).with_columns(
                split=pl.lit(f.name.split("-")[0])
            )
            for f in (first.path / "labeled").iterdir()
        ]
    )
    assert splits.group_by("creator_id").agg(pl.col("split").n_unique())["split"].max() == 1

    # No wall-clock time in the manifest: the same build tomorrow gives the same bytes.
    manifest_text = (first.path / "manifest.json").read_text()
    assert not re.search(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}", manifest_text)

    # No raw identifier, handle, URL, exact timestamp or caption with personal data in any
    # released value or file; captions are released scrubbed.
    source = pl.concat(
        [
            pl.read_parquet(workdir / "curation" / n)
            for n in ("shortlist.parquet", "companion.parquet")
        ]
    )
    creators = pl.read_parquet(workdir / "export" / "creators")
    tables = [pl.read_parquet(p) for p in first.path.rglob("*.parquet")]
    values: set[object] = set()
    for table in tables:
        for column in table.columns:
            values |= set(table[column].to_list())
    text = "".join(t.write_csv() for t in tables) + "".join(
        (first.path / f).read_text() for f in files if f.suffix in (".md", ".json")
    )
    raw_ids = set(source["post_id"]) | set(source["creator_id"])
    assert not raw_ids & values and not {str(i) for i in raw_ids} & values
    epoch_ms = set(source["created_ts"].dt.epoch("ms"))
    assert not epoch_ms & values
    assert not re.search(r"\d{2}:\d{2}:\d{2}", text)  # no time of day anywhere
    handles = creators.filter(pl.col("creator_id").is_in(list(raw_ids)))["handle"]
    captions = source["caption"].filter(source["caption"].str.contains(r"@|\d{4}"))
    assert captions.len() > 20
    for raw in [*source["created_at"], *source["media_url"], *captions, *handles]:
        assert raw not in text
    released_captions = labeled["caption"].drop_nulls()
    assert released_captions.len() > 0
    assert released_captions.str.contains("@user|<email>|<phone>").any()


def test_published_versions_are_immutable(curated: CurationResult, workdir: Path) -> None:
    release(release_config(workdir, "store_c"))
    with pytest.raises(VersionExistsError):
        release(release_config(workdir, "store_c"))
    # Another split seed would deal creators differently: a patch keeps the parent's splits.
    reseeded = BundleConfig(split_seed=1)
    patch = release(
        release_config(workdir, "store_c", version="1.0.1", parent="1.0.0", bundle=reseeded)
    )
    changelog = (patch.path / "CHANGELOG.md").read_text()
    assert changelog.index("## 1.0.1") < changelog.index("## 1.0.0")

    def splits(version: str) -> pl.DataFrame:
        folder = workdir / "store_c" / "massiv" / version / "labeled"
        return pl.concat(
            pl.read_parquet(f, columns=["creator_id"]).with_columns(split=pl.lit(f.name[:4]))
            for f in sorted(folder.glob("*.parquet"))
        ).unique()

    both = splits("1.0.0").join(splits("1.0.1"), on="creator_id", suffix="_patch")
    assert both.height > 0 and (both["split"] == both["split_patch"]).all()
    fresh = release(release_config(workdir, "store_c2", bundle=reseeded))
    assert fresh.path.is_dir()  # the same seed without a parent deals differently
    moved = splits("1.0.0").join(
        pl.concat(
            pl.read_parquet(f, columns=["creator_id"]).with_columns(split=pl.lit(f.name[:4]))
            for f in sorted((fresh.path / "labeled").glob("*.parquet"))
        ).unique(),
        on="creator_id",
        suffix="_fresh",
    )
    assert (moved["split"] != moved["split_fresh"]).any()


def test_a_crash_mid_release_leaves_no_half_version(
    curated: CurationResult, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*args: object, **kwargs: object) -> str:
        raise OSError("disk full (injected)")

    monkeypatch.setattr(bundle, "write_manifest", crash)
    with pytest.raises(OSError, match="injected"):
        release(release_config(workdir, "store_d"))
    store = LocalStore(workdir / "store_d")
    assert store.versions("massiv") == []
    assert not any((workdir / "store_d" / "massiv" / ".staging").iterdir())
    monkeypatch.undo()
    assert bundle.verify_bundle(release(release_config(workdir, "store_d")).path) == []


def test_cli_verify(curated: CurationResult, workdir: Path) -> None:
    path = release(release_config(workdir, "store_e")).path
    runner = CliRunner()
    assert runner.invoke(app, ["verify", str(path)]).exit_code == 0
    (path / "CHANGELOG.md").write_text("tampered\n")
    result = runner.invoke(app, ["verify", str(path)])
    assert result.exit_code == 1 and "CHANGELOG.md" in result.output


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["curate", "--export", "/nonexistent/export"], "error: no posts in the export"),
        (
            ["release", "--store", "/tmp/x", "--key-file", "/nonexistent/key"],
            "error: pseudonym key file not found",
        ),
    ],
)
def test_user_errors_end_in_one_line(args: list[str], message: str) -> None:
    result = cli(*args)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr


def test_bad_config_file_names_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("sampling:\n  pool_size: 0\n")
    result = cli("curate", "--config", str(bad))
    assert result.returncode == 2
    assert "sampling.pool_size" in result.stderr and "c.yaml" in result.stderr


def test_an_export_of_only_bad_rows_curates_to_an_empty_pool(harness: None, tmp_path: Path) -> None:
    from tests.conftest import raw_posts

    (tmp_path / "export" / "posts").mkdir(parents=True)
    raw_posts(*({"post_id": i, "language": "xx"} for i in range(1, 51))).write_parquet(
        tmp_path / "export" / "posts" / "part-00000.parquet"
    )
    result = curate(CurateConfig(export_dir=tmp_path / "export", output_dir=tmp_path / "cur"))
    assert [c.kept for c in result.funnel] == [0] * 8
    assert result.funnel[0].by_reason == {"unknown_language": 50}
    assert result.shortlist == 0 and result.companion == 0
    assert pl.read_parquet(tmp_path / "cur" / "quarantine.parquet").height == 50


def test_the_bundle_documents_itself_and_loads_anywhere(
    curated: CurationResult, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import duckdb
    import pandas as pd
    import pyarrow.dataset as ds
    import yaml

    path = release(release_config(workdir, "store_f")).path
    manifest = bundle.read_manifest(path)
    counts = manifest["counts"]
    # The card: a Hugging Face YAML header, then the datasheet sections.
    card = (path / "README.md").read_text()
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["license"] == "other" and header["annotations_creators"] == ["expert-generated"]
    assert {c["config_name"] for c in header["configs"]} == {"labeled", "unlabeled"}
    languages = set(pl.read_parquet(path / "labeled")["language"]) | set(
        pl.read_parquet(path / "unlabeled")["language"]
    )
    assert len(header["language"]) == len(languages) >= 9  # k-anonymity may drop a rare one
    assert header["size_categories"] == ["n<1K"]
    for section in (
        "Motivation",
        "Composition",
        "Collection",
        "Preprocessing and labeling",
        "Uses",
        "Distribution",
        "Maintenance",
    ):
        assert f"\n## {section}\n" in card
    figures = sorted(p.name for p in (path / "figures").iterdir())
    assert figures == sorted(
        ["funnel.png", "concept_affect.png", "concept_trend.png"]
        + [f"labels_{t}.png" for t in ("concept", "affect", "audio_type", "video_type", "language")]
    )
    assert all((path / "figures" / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in figures)
    listed = {f["path"] for f in manifest["files"]}
    assert {f"figures/{f}" for f in figures} | {"README.md", "stats.json", "LICENSE.md"} <= listed
    stats = json.loads((path / "stats.json").read_text())
    assert stats["labeled"]["videos"] == counts["labeled"]
    assert stats["splits"] == {s: counts[s] for s in ("train", "validation", "test")}
    assert stats["annotators_who_passed_onboarding"] > 0
    # No custom code: each tool reads the shards as they are.
    labeled = path / "labeled"
    rows = duckdb.execute(f"select count(*) from '{labeled}/*.parquet'").fetchall()
    assert rows == [(counts["labeled"],)]
    assert pl.scan_parquet(labeled / "train-*.parquet").collect().height == counts["train"]
    frame = pd.read_parquet(labeled)
    assert len(frame) == counts["labeled"] and "concept" in frame.columns
    assert ds.dataset(labeled, format="parquet").count_rows() == counts["labeled"]
    # Hugging Face datasets finds the splits from the card's configs, offline.
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(workdir / "hf"))
    from datasets import load_dataset

    loaded = load_dataset(str(path))
    assert {k: v.num_rows for k, v in loaded.items()} == {
        s: counts[s] for s in ("train", "validation", "test")
    }
    unlabeled = load_dataset(str(path), "unlabeled", split="train")
    assert unlabeled.num_rows == counts["unlabeled"]


def test_croissant_validates_and_loads_records_offline(
    curated: CurationResult, workdir: Path
) -> None:
    import itertools

    import mlcroissant as mlc

    path = release(release_config(workdir, "store_g")).path
    doc = json.loads((path / "croissant.json").read_text())
    manifest = bundle.read_manifest(path)
    sha = {f["path"]: f["sha256"] for f in manifest["files"]}
    objects = [d for d in doc["distribution"] if d["@type"] == "cr:FileObject"]
    assert objects and all(o["sha256"] == sha[o["contentUrl"]] for o in objects)
    assert doc["rai:annotationsPerItem"] == "3" and doc["rai:dataReleaseMaintenancePlan"]
    dataset = mlc.Dataset(jsonld=path / "croissant.json")  # validates; raises on any error
    records = list(itertools.islice(dataset.records(record_set="labeled"), 5))
    assert len(records) == 5 and {"video_id", "concept"} <= {k.split("/")[-1] for k in records[0]}


def test_the_leak_gate_stops_a_release_that_would_publish_a_raw_id(
    curated: CurationResult, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from privacy.leak_gate import LeakError

    raw = str(pl.read_parquet(workdir / "curation" / "shortlist.parquet")["post_id"][0])

    def leaky_card(*args: object, **kwargs: object) -> str:  # a bug that pastes a raw ID
        return f"# card\n\nexample post: {raw}\n"

    monkeypatch.setattr("curation.release.build.dataset_card", leaky_card)
    with pytest.raises(LeakError) as info:
        release(release_config(workdir, "store_h"))
    assert "README.md [text]: 1 post_id" in str(info.value) and raw not in str(info.value)
    assert LocalStore(workdir / "store_h").versions("massiv") == []  # nothing published


def test_opt_outs_patch_the_release_withdraw_the_old_one_and_stay_out(
    curated: CurationResult, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.opt_out import opt_out
    from privacy.keys import load_key
    from privacy.opt_out import load_evidence
    from privacy.pseudonyms import pseudonym

    opt_out_folder, store = workdir / "optout", workdir / "store_o"
    first = release(release_config(workdir, "store_o", opt_out_dir=opt_out_folder))
    key = load_key(workdir / "key", "k1")

    def released(path: Path) -> pl.DataFrame:
        return pl.concat(
            [pl.read_parquet(path / t, columns=["video_id", "creator_id"]) for t in DATA]
        )

    before = released(first.path)
    source = pl.concat(
        [
            pl.read_parquet(workdir / "curation" / f"{t}.parquet")
            for t in ("shortlist", "companion")
        ],
        how="diagonal_relaxed",
    ).with_columns(
        pl.col("post_id")
        .map_elements(lambda i: pseudonym(key, "video", i, 16), pl.String)
        .alias("vid")
    )
    source = source.filter(pl.col("vid").is_in(before["video_id"].implode()))
    handles = dict(
        pl.read_parquet(workdir / "export" / "creators").select("creator_id", "handle").iter_rows()
    )
    videos = source.head(3)
    creator = source.filter(~pl.col("creator_id").is_in(videos["creator_id"].implode()))[
        "creator_id"
    ][0]
    url = "https://sharevideo.example/@{}/video/{}"
    # A post that lost exact dedup to a released re-upload of the same file by someone else.
    posts = pl.read_parquet(workdir / "export" / "posts", columns=["post_id", "creator_id"])
    lost = (
        pl.read_parquet(workdir / "curation" / "exclusions" / "dedup.parquet")
        .with_columns(pl.col("detail").cast(pl.Int64).alias("upload"))
        .filter(pl.col("upload").is_in(source["post_id"].implode()))
        .join(posts, on="post_id")
        .filter(~pl.col("creator_id").is_in([creator, *videos["creator_id"]]))
        .row(0, named=True)
    )
    requests = [
        *(
            ("r1", url.format(handles[c], p), "video")
            for c, p in zip(videos["creator_id"], videos["post_id"], strict=True)
        ),
        ("r2", f"https://sharevideo.example/@{handles[creator]}", "creator"),
        ("r3", url.format("nobody", 123456789), "video"),  # unknown
        ("r4", "not a url", "video"),  # malformed
        ("r5", url.format(handles[creator], videos["post_id"][0]), "video"),  # someone else's
        ("r6", url.format(handles[lost["creator_id"]], lost["post_id"]), "video"),
    ]
    csv = workdir / "requests.csv"
    pl.DataFrame(
        {
            "request_id": [f"{r}-{i}" for i, (r, _, _) in enumerate(requests)],
            "received_at": "2022-01-05T10:00:00Z",
            "requester_email": "someone@mail.example",
            "scope": [s for _, _, s in requests],
            "target": [t for _, t, _ in requests],
        }
    ).write_csv(csv)
    cfg = opt_out_config(workdir, csv, opt_out_folder, store)
    # A patch is leak-scanned like a release: a bug that pastes a raw ID stops it, after the
    # blocklist and the evidence were saved …
    from privacy.leak_gate import LeakError

    raw = str(source["post_id"][20])
    monkeypatch.setattr(
        "curation.release.build.dataset_card", lambda *a: f"# card\n\nexample: {raw}\n"
    )
    with pytest.raises(LeakError, match=r"README\.md"):
        opt_out(cfg)
    monkeypatch.undo()
    assert LocalStore(store).versions("massiv") == ["1.0.0"]
    # The version holding opted-out rows is withdrawn even though its patch failed.
    assert "1.0.0" in LocalStore(store).withdrawn("massiv")
    counts = load_evidence(opt_out_folder)["status"].value_counts()
    assert dict(counts.iter_rows()) == {"matched": 5, "no_match": 1, "rejected": 2}
    # … and the next run completes the patch without taking the requests twice.
    result = opt_out(cfg)
    assert result.requests == {} and result.new_entries == 0
    assert result.patch == "1.0.1" and result.withdrawn == []  # withdrawn by the failed run

    patched = store / "massiv" / "1.0.1"
    after = released(patched)
    gone_videos = {pseudonym(key, "video", p, 16) for p in videos["post_id"]}
    gone_creator = pseudonym(key, "creator", creator, 16)
    assert not gone_videos & set(after["video_id"]) and gone_creator not in set(after["creator_id"])
    removed = before.join(after, on="video_id", how="anti")
    assert set(removed["video_id"]) >= gone_videos and gone_creator in set(removed["creator_id"])
    # Pseudonyms are stable across versions: every remaining row keeps its IDs.
    assert after.join(before, on=["video_id", "creator_id"]).height == after.height
    # Every row the release and the patch left out is kept, with its reason, in the private
    # build folder (raw post IDs for the release, released IDs for the patch), and each
    # stage balances.
    local = LocalStore(store)
    stages = {}
    for version in ("1.0.0", "1.0.1"):
        build = local.build("massiv", version)
        stages[version] = json.loads(build.funnel.read_text())["stages"]
        for s in stages[version]:
            assert s["input"] == s["kept"] + s["excluded"]
            dropped = pl.read_parquet(build.exclusions(s["stage"]))
            assert dropped.height == s["excluded"] and dropped["reason"].null_count() == 0
        assert not any(
            "exclusions" in f["path"]
            for f in bundle.read_manifest(local.version_dir("massiv", version))["files"]
        )
    assert [s["stage"] for s in stages["1.0.0"]] == ["vote", "blocklist", "k_anonymity"]
    vote, blocked, kanon = stages["1.0.0"]
    manifest = bundle.read_manifest(first.path)
    assert vote["input"] == curated.shortlist
    assert set(vote["by_reason"]) <= {"needs_expert", "needs_annotation"}
    assert blocked["input"] == vote["kept"] + curated.companion
    assert kanon["kept"] == manifest["counts"]["labeled"] + manifest["counts"]["unlabeled"]
    patch_dropped = pl.read_parquet(local.build("massiv", "1.0.1").exclusions("blocklist"))
    assert set(patch_dropped["video_id"]) == set(removed["video_id"]) - set(
        pl.read_parquet(local.build("massiv", "1.0.1").exclusions("k_anonymity"))["video_id"]
    )

    evidence = load_evidence(opt_out_folder).sort("request_id")
    assert evidence.height == 8
    # The released re-upload of r6's file went with it, now and in later runs.
    upload = pseudonym(key, "video", lost["upload"], 16)
    assert upload in set(removed["video_id"])
    assert evidence.filter(pl.col("request_id") == "r6-7")["near_duplicates"].item() >= 1
    matched = evidence.filter(pl.col("status") == "matched")
    assert matched["verified"].all() and set(matched["first_version"]) == {"1.0.1"}
    assert dict(
        evidence.filter(pl.col("status") == "rejected").select("request_id", "reason").iter_rows()
    ) == {"r4-5": "bad_target", "r5-6": "handle_mismatch"}
    assert "someone@mail.example" not in (patched / "README.md").read_text()

    # The same export again, from the command line, changes nothing.
    runner = CliRunner()
    yaml_cfg = workdir / "optout.yaml"
    yaml_cfg.write_text(
        json.dumps({k: str(v) for k, v in cfg.model_dump().items() if isinstance(v, Path)})
    )
    again = runner.invoke(app, ["opt-out", "--config", str(yaml_cfg)])
    assert again.exit_code == 0, again.output
    assert "blocklist +0 entries" in again.output and "patch none" in again.output
    assert LocalStore(store).versions("massiv") == ["1.0.0", "1.0.1"]

    ok = runner.invoke(app, ["verify", str(patched), "--optout-dir", str(opt_out_folder)])
    assert ok.exit_code == 0 and "commitment holds" in ok.output
    old = runner.invoke(app, ["verify", str(first.path), "--optout-dir", str(opt_out_folder)])
    assert old.exit_code == 0 and "withdrawn" in old.output
    for version in ("1.0.0", "1.0.1"):
        rebuilt = runner.invoke(app, ["release", "rebuild", version, "--store", str(store)])
        assert rebuilt.exit_code == 0 and "byte for byte" in rebuilt.output, rebuilt.output

    # A later curation run keeps them out from the start.
    rerun = curate(
        CurateConfig(
            export_dir=workdir / "export",
            output_dir=workdir / "curation_after",
            sampling=SamplingConfig(pool_size=4_000),
            shortlist=ShortlistConfig(size=300, companion_size=500),
            opt_out_dir=opt_out_folder,
            key_file=workdir / "key",
        )
    )
    stage = next(s for s in rerun.funnel if s.stage == "blocklist")
    assert stage.by_reason["opted_out"] >= 4
    kept = pl.concat(
        pl.read_parquet(workdir / "curation_after" / f"{t}.parquet") for t in ("pool", "companion")
    )
    assert not set(kept["post_id"]) & {*videos["post_id"], lost["post_id"], lost["upload"]}
    assert creator not in set(kept["creator_id"])


def test_releases_and_patches_land_on_s3(
    curated: CurationResult, workdir: Path, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from curation.config import OptOutConfig
    from flows.opt_out import opt_out
    from storage.s3 import S3Store, s3_client

    for name, value in s3_server.env(s3_server.admin).items():
        monkeypatch.setenv(name, value)
    s3_client().create_bucket(Bucket="e2e-releases")
    url = "s3://e2e-releases/published"
    opt_out_folder = workdir / "optout_s3"
    from curation.config import AccessConfig
    from privacy.access_log import AccessLog, create_signing_key, load_public_key
    from privacy.anchors import HeadAnchors

    public = create_signing_key(workdir / "curator" / "access-log.key")
    access = AccessConfig(
        access_dir=workdir / "access",
        signing_key=workdir / "curator" / "access-log.key",
        anchors="s3://e2e-releases/access-log-anchors",
    )
    first = release(
        release_config(workdir, "store_s3", opt_out_dir=opt_out_folder, s3_url=url, access=access)
    )
    remote = S3Store(url)
    assert remote.versions("massiv") == ["1.0.0"] and remote.verify("massiv", "1.0.0") == []
    assert remote.read_manifest("massiv", "1.0.0") == bundle.read_manifest(first.path)
    with pytest.raises(VersionExistsError):  # S3 holds it, even with a fresh local store
        release(release_config(workdir, "store_s3_again", opt_out_dir=opt_out_folder, s3_url=url))

    from privacy.keys import load_key
    from privacy.pseudonyms import pseudonym

    key = load_key(workdir / "key", "k1")
    released = set(pl.read_parquet(first.path / "labeled", columns=["video_id"])["video_id"])
    post = next(
        row
        for row in pl.read_parquet(workdir / "curation" / "shortlist.parquet").iter_rows(named=True)
        if pseudonym(key, "video", row["post_id"], 16) in released
    )
    handle = pl.read_parquet(workdir / "export" / "creators").filter(
        pl.col("creator_id") == post["creator_id"]
    )["handle"][0]
    requests = workdir / "requests_s3.json"
    requests.write_text(
        json.dumps(
            [
                {
                    "request_id": "s3-1",
                    "received_at": "2022-01-05T10:00:00Z",
                    "requester_email": "a@mail.example",
                    "scope": "creator",
                    "target": f"https://sharevideo.example/@{handle}",
                }
            ]
        )
    )
    result = opt_out(
        OptOutConfig(
            requests=requests,
            export_dir=workdir / "export",
            curation_dir=workdir / "curation",
            opt_out_dir=opt_out_folder,
            store=workdir / "store_s3",
            key_file=workdir / "key",
            s3_url=url,
            access=access,
        )
    )
    assert result.patch == "1.0.1"
    log = AccessLog(workdir / "access" / "access-log.jsonl")
    assert [e["event"] for e in log.entries()] == [
        "release_published",
        "opt_out_applied",
        "release_published",
        "release_withdrawn",
    ]
    assert not any(e["details"]["recorded_late"] for e in log.entries())
    # Each run anchored the log's head in the bucket; the log still holds every anchored head.
    anchored = HeadAnchors(access.anchors or "").heads()
    assert anchored[-1]["seq"] == len(log.entries())
    assert log.verify(load_public_key(public), anchored) == []
    assert handle not in log.path.read_text()  # the log names no one who opted out
    assert remote.versions("massiv") == ["1.0.0", "1.0.1"]
    assert remote.verify("massiv", "1.0.1") == []
    assert "1.0.0" in remote.withdrawn("massiv")
    runner = CliRunner()
    checked = runner.invoke(
        app, ["verify", f"{url}/massiv/1.0.1", "--optout-dir", str(opt_out_folder)]
    )
    assert checked.exit_code == 0 and "commitment holds" in checked.output, checked.output


def released_links(workdir: Path, store_dir: Path, n: int) -> list[str]:
    """Platform links of `n` shortlisted videos that version 1.0.0 in `store_dir` holds."""
    from privacy.keys import load_key
    from privacy.pseudonyms import pseudonym

    key = load_key(workdir / "key", "k1")
    released = pl.read_parquet(store_dir / "massiv" / "1.0.0" / "labeled", columns=["video_id"])
    shortlist = (
        pl.read_parquet(workdir / "curation" / "shortlist.parquet")
        .filter(
            pl.col("post_id")
            .map_elements(lambda i: pseudonym(key, "video", i, 16), pl.String)
            .is_in(released["video_id"].implode())
        )
        .head(n)
    )
    assert shortlist.height == n  # videos that 1.0.0 holds
    handles = dict(
        pl.read_parquet(workdir / "export" / "creators").select("creator_id", "handle").iter_rows()
    )
    return [
        f"https://sharevideo.example/@{handles[c]}/video/{p}"
        for c, p in zip(shortlist["creator_id"], shortlist["post_id"], strict=True)
    ]


class Killed(BaseException):
    """Stands for SIGKILL: no handler of the flow's own runs (fault injection)."""


def test_an_opt_out_killed_before_its_patch_serves_nothing_and_the_next_run_finishes_it(
    curated: CurationResult, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The red-team case of issue 15: the blocklist batch is saved, the process dies before
    the patch. The desk must not serve the version that holds the opted-out rows, and the next
    run must finish the patch before anything else."""
    from flows.opt_out import opt_out
    from privacy.access import AccessDenied, AccessDesk, create_token_secret
    from privacy.access_log import AccessLog, create_signing_key, load_signing_key

    opt_out_folder, store_dir = workdir / "optout_k", workdir / "store_k"
    release(release_config(workdir, "store_k", opt_out_dir=opt_out_folder))
    create_signing_key(workdir / "desk_k" / "log.key")
    desk = AccessDesk(
        workdir / "desk_k",
        AccessLog(
            workdir / "desk_k" / "log.jsonl", load_signing_key(workdir / "desk_k" / "log.key")
        ),
        LocalStore(store_dir),
        "massiv",
        create_token_secret(workdir / "desk_k" / "token.key"),
    )
    grant = desk.request("Asha", "IITD", "asha@iitd.example", "affect", True)
    desk.approve(grant.id, "cur")
    token = next(iter(desk.issue(grant.id).values()))  # before the opt-out

    csv = workdir / "requests_k.csv"
    pl.DataFrame(
        {
            "request_id": ["k1", "k2"],
            "received_at": "2022-01-05T10:00:00Z",
            "requester_email": "someone@mail.example",
            "scope": "video",
            "target": released_links(workdir, store_dir, 2),
        }
    ).write_csv(csv)
    cfg = opt_out_config(workdir, csv, opt_out_folder, store_dir)

    def killed(*_: object) -> None:
        raise Killed

    monkeypatch.setattr("flows.opt_out.publish_patch", killed)
    with pytest.raises(Killed):
        opt_out(cfg)
    monkeypatch.undo()
    store = LocalStore(store_dir)
    assert store.versions("massiv") == ["1.0.0"] and not store.withdrawn("massiv")  # the hole
    with pytest.raises(AccessDenied, match="not yet checked against opt-out batch 1"):
        desk.issue(grant.id)
    with pytest.raises(AccessDenied, match="not yet checked against opt-out batch 1"):
        desk.fetch(token, workdir / "desk_k" / "file")

    result = opt_out(cfg)  # the next run: the patch first
    assert store.versions("massiv") == ["1.0.0", "1.0.1"] and "1.0.0" in store.withdrawn("massiv")
    assert result.requests == {} and result.new_entries == 0  # the requests were taken once
    urls = desk.issue(grant.id)
    assert urls and all("version=1.0.1" in u for u in urls.values())


def test_a_creator_opts_out_on_the_site_and_sees_it_applied_in_the_patch(
    curated: CurationResult, workdir: Path
) -> None:
    """The form's confirmed request goes through the daily flow unchanged; the status page then
    says which version removed the video."""
    from aiosmtpd.controller import Controller
    from fastapi.testclient import TestClient

    from curation.config import AccessConfig, SiteConfig
    from flows.opt_out import opt_out
    from flows.web.app import create_app
    from synth.local_smtp import Mailbox, free_port
    from tests.flows.web.test_access_form import csrf

    folder, store_dir, requests = workdir / "optout_w", workdir / "store_w", workdir / "web.csv"
    release(release_config(workdir, "store_w", opt_out_dir=folder))
    (link,) = released_links(workdir, store_dir, 1)
    box = Mailbox(free_port())
    smtp = Controller(box, hostname="127.0.0.1", port=box.port)
    smtp.start()
    try:
        site = SiteConfig(
            access=AccessConfig(
                access_dir=workdir / "site_w",
                store=store_dir,
                signing_key=workdir / "site_w" / "log.key",
                token_secret=workdir / "site_w" / "token.key",
            ),
            smtp_port=box.port,
            state=workdir / "site_w" / "site.sqlite3",
            secret_file=workdir / "site_w" / "site.key",
            opt_out_requests=requests,
            opt_out_dir=folder,
        )
        client = TestClient(create_app(site))
        form = {
            "links": link,
            "email": "creator@mail.example",
            "csrf_token": csrf(client, "/opt-out"),
        }
        status = client.post("/opt-out", data=form, follow_redirects=False).headers["location"]
        confirm = box.link("creator@mail.example")
        client.post(confirm, data={"csrf_token": csrf(client, confirm)})
    finally:
        smtp.stop()
    assert "the next daily opt-out run processes it" in client.get(status).text
    result = opt_out(opt_out_config(workdir, requests, folder, store_dir))  # the daily run
    assert result.patch == "1.0.1" and result.requests == {"matched": 1}
    page = client.get(status).text
    assert "applied: the video is removed in version 1.0.1" in page
