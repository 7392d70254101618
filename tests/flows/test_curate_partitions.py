"""However the export is cut into partitions and wherever the passes run (in process or on a
Dask LocalCluster), curate writes the same bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curation.config import CurateConfig, SamplingConfig, ShortlistConfig, VideoConfig
from flows.curate import curate
from synth.export import synthesize_export

POSTS = 30_000


@pytest.fixture(scope="module")
def export(harness: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("partitions")
    synthesize_export(root / "export", POSTS, seed=9, video_sources=2)
    return root


def run(root: Path, name: str, partition_rows: int, workers: int) -> dict[str, bytes]:
    out = root / name
    curate(
        CurateConfig(
            export_dir=root / "export",
            output_dir=out,
            sampling=SamplingConfig(pool_size=5_000, margin=0.1),
            shortlist=ShortlistConfig(size=400, companion_size=600),
            video=VideoConfig(workers=0, store=root / "fingerprints"),
            partition_rows=partition_rows,
            workers=workers,
            buckets=4,  # the default would be 1 at this size
        ),
        progress=False,
    )
    files = {
        str(p.relative_to(out.resolve())): p.read_bytes()
        for p in sorted(out.resolve().rglob("*.parquet"))
    }
    funnel = json.loads((out / "funnel.json").read_text())
    funnel.pop("timings")
    funnel.pop("decoded_videos")  # the first run fills the shared store; later ones decode none
    files["funnel.json"] = json.dumps(funnel, sort_keys=True).encode()
    return files


@pytest.fixture(scope="module")
def reference(export: Path) -> dict[str, bytes]:
    """One partition per file, in the flow's own process."""
    files = run(export, "reference", 1_000_000, 0)
    assert {"pool.parquet", "quarantine.parquet", "neardup_clusters.parquet"} <= set(files)
    assert "exclusions/sampling.parquet" in files and "exclusions/dedup.parquet" in files
    return files


@settings(
    max_examples=2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(partition_rows=st.integers(min_value=700, max_value=29_999))
def test_partition_size_changes_no_byte(
    export: Path, reference: dict[str, bytes], partition_rows: int
) -> None:
    files = run(export, f"rows-{partition_rows}", partition_rows, 0)
    assert files.keys() == reference.keys()
    assert [name for name in files if files[name] != reference[name]] == []


def test_a_dask_cluster_writes_the_same_bytes(export: Path, reference: dict[str, bytes]) -> None:
    files = run(export, "dask", 3_001, 2)
    assert files.keys() == reference.keys()
    assert [name for name in files if files[name] != reference[name]] == []
