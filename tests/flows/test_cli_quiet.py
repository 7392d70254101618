"""What a user sees from `massiv curate`: progress with rows per second, not the engine's INFO
lines; and one line, not a traceback, when Prefect's temporary server does not come up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from synth.export import synthesize_export


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("quiet")
    synthesize_export(root / "export", 5_000, seed=2)
    return root


def massiv(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    clean |= {"PREFECT_HOME": str(root / "prefect"), "COLUMNS": "200", **env}
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args], env=clean, capture_output=True, text=True
    )


def curate_args(root: Path, name: str) -> list[str]:
    return ["curate", "--export", str(root / "export"), "--output", str(root / name)]


def test_a_run_shows_progress_and_no_engine_info(export: Path) -> None:
    done = massiv(export, *curate_args(export, "quiet"))
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    assert "rows/s" in out and "curation funnel" in out
    assert "Starting temporary server" not in out and "Connecting to" not in out


def test_a_cluster_run_shows_no_dask_info(export: Path) -> None:
    config = export / "two-workers.yaml"
    config.write_text("workers: 2\n")
    done = massiv(export, *curate_args(export, "cluster"), "--config", str(config))
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    assert "curation funnel" in out
    assert "distributed." not in out, out[:2000]  # scheduler, nanny and worker lines


def test_a_server_that_does_not_start_is_one_line(export: Path) -> None:
    done = massiv(
        export, *curate_args(export, "late"), PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="0"
    )
    assert done.returncode == 2
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and "did not start within 0 s" in lines[0]
    assert "Traceback" not in done.stderr
    assert not (export / "late").exists()  # nothing published
