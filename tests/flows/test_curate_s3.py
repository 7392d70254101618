"""curate with the export, the media and the output on S3 (SeaweedFS), its passes and its video
decoding on a Dask scheduler and two workers started as processes of their own: the same bytes
as a run in one process on local folders, and no working table left behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL
from typer.testing import CliRunner

from curation.config import CurateConfig, SamplingConfig, ShortlistConfig, VideoConfig
from flows.cli import app
from flows.curate import curate
from storage import location
from storage.runs import CurationRun
from synth.export import synthesize_export
from synth.local_s3 import S3Server

POSTS = 20_000
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def s3_env(s3_server: S3Server) -> Iterator[str]:
    """boto3's and polars' environment pointed at the test server; a bucket of its own."""
    bucket = f"curate-{uuid.uuid4().hex[:8]}"
    with pytest.MonkeyPatch.context() as patch:
        for name, value in s3_server.env(s3_server.admin).items():
            patch.setenv(name, value)
        s3_server.client(s3_server.admin).create_bucket(Bucket=bucket)
        yield bucket


def _dask() -> str:
    return shutil.which("dask") or str(Path(sys.executable).parent / "dask")


@pytest.fixture(scope="module")
def scheduler(
    harness: None, s3_env: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`dask scheduler` and two `dask worker` processes, with the S3 and Prefect settings in
    their environment, as a deployment would start them."""
    root = tmp_path_factory.mktemp("dask")
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "POLARS_MAX_THREADS": "1"}
    file = root / "scheduler.json"
    log = (root / "dask.log").open("w")
    procs = [
        subprocess.Popen(
            [_dask(), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(file)],
            env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        )
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not file.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(file.read_text())["address"]
        procs += [
            subprocess.Popen(
                [_dask(), "worker", address, "--nthreads", "1", "--no-dashboard",
                 "--name", f"w{i}", "--local-directory", str(root / f"w{i}")],
                env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
            )
            for i in range(2)
        ]  # fmt: skip
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for proc in procs[::-1]:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


def _config(export: str | Path, output: str | Path, store: Path, **where: object) -> CurateConfig:
    return CurateConfig(
        export_dir=export,
        output_dir=output,
        sampling=SamplingConfig(pool_size=3_000, margin=0.1),
        shortlist=ShortlistConfig(size=300, companion_size=400),
        video=VideoConfig(workers=0, store=store),
        buckets=4,
        **where,
    )


def _files(run: Path) -> dict[str, bytes]:
    files = {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*.parquet"))}
    funnel = json.loads((run / "funnel.json").read_text())
    for key in ("timings", "decoded_videos"):
        funnel.pop(key)
    files["funnel.json"] = json.dumps(funnel, sort_keys=True).encode()
    return files


def test_curate_on_s3_and_a_dask_cluster_of_processes(
    scheduler: str, s3_env: str, tmp_path: Path
) -> None:
    local = tmp_path / "export"
    synthesize_export(local, POSTS, seed=9, video_sources=2)
    export, output = f"s3://{s3_env}/platform/export", f"s3://{s3_env}/curation"
    location.upload_tree(local, export)

    reference = curate(
        _config(local, tmp_path / "reference", tmp_path / "fp-local", workers=0), progress=False
    )
    on_s3 = curate(
        _config(export, output, tmp_path / "fp-s3", dask_address=scheduler, partition_rows=3_001),
        progress=False,
    )

    assert on_s3.decoded_videos == reference.decoded_videos > 0  # decoded from S3, on the workers
    from distributed import Client

    with Client(scheduler) as client:
        tasks = client.run(lambda dask_worker: dask_worker.state.transition_counter)
    assert len(tasks) == 2 and min(tasks.values()) > 0, tasks  # both workers took tasks

    stamp = location.read_bytes(f"{output}/LATEST").decode()
    names = [f.removeprefix(f"{output}/runs/{stamp}/") for f in location.list_files(
        f"{output}/runs/{stamp}", "", recursive=True)]  # fmt: skip
    assert "run.json" in names and "pool.parquet" in names
    assert not [n for n in names if n.startswith("work/")]  # the working tables are gone

    result = CliRunner().invoke(app, ["curate-pull", output, str(tmp_path / "pulled")])
    assert result.exit_code == 0, result.output
    pulled = CurationRun.latest(tmp_path / "pulled")
    assert pulled.root.name == stamp and pulled.complete
    ours, theirs = _files(pulled.root), _files((tmp_path / "reference").resolve())
    assert ours.keys() == theirs.keys()
    assert [name for name in ours if ours[name] != theirs[name]] == []
    marker = json.loads((pulled.root / "run.json").read_text())
    assert (
        marker["inputs"]
        == json.loads(((tmp_path / "reference") / "run.json").read_text())["inputs"]
    )  # the export's files hashed the same on S3 as on disk


def test_an_s3_export_that_is_not_there_is_one_clear_error(s3_env: str, tmp_path: Path) -> None:
    from curation.curate import preflight
    from curation.stages.ingest import ExportError

    with pytest.raises(ExportError, match=r"no posts in the export: s3://.*/nothing/posts"):
        preflight(_config(f"s3://{s3_env}/nothing", tmp_path / "out", tmp_path / "fp"))
    with pytest.raises(ExportError, match="cannot list the export"):
        preflight(_config("s3://no-such-bucket-here/x", tmp_path / "out", tmp_path / "fp"))
