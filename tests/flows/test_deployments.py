"""prefect.yaml: every entrypoint loads, and its parameters validate against the flow's model."""

from pathlib import Path

import pytest
import yaml
from prefect.flows import Flow, load_flow_from_entrypoint
from pydantic import BaseModel

from curation.config import CurateConfig, OptOutConfig, ReleaseConfig, load_config

ROOT = Path(__file__).resolve().parents[2]
MODELS: dict[str, type[BaseModel]] = {
    "curate": CurateConfig,
    "release": ReleaseConfig,
    "opt_out": OptOutConfig,
}


def test_entrypoints_load_and_parameters_validate() -> None:
    doc = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    names = set()
    for deployment in doc["deployments"]:
        flow: Flow[..., object] = load_flow_from_entrypoint(str(ROOT / deployment["entrypoint"]))
        names.add(flow.name)
        MODELS[flow.name].model_validate(deployment["parameters"]["config"])
    assert names == {"curate", "release", "opt_out"}
    cron = {d["name"]: [s["cron"] for s in d.get("schedules", [])] for d in doc["deployments"]}
    assert cron == {
        "weekly-curation": ["0 3 * * 1"],
        "daily-opt-out": ["0 2 * * *"],
        "release-on-demand": [],
    }


def test_paper_scale_config_is_valid() -> None:
    cfg = load_config(CurateConfig, ROOT / "docs" / "paper-scale.yaml")
    assert (cfg.sampling.pool_size, cfg.shortlist.size, cfg.shortlist.companion_size) == (
        1_500_000,
        55_000,
        100_000,
    )


@pytest.mark.slow
def test_deployments_run_on_a_real_prefect_server_through_a_process_worker(
    tmp_path: Path,
) -> None:
    """prefect.yaml deployed to a real server (a temporary PREFECT_HOME, a free loopback port),
    a process worker for the pool, and each deployment triggered until its run completes."""
    import json
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    from synth.export import synthesize_export

    bin_dir = Path(sys.executable).parent
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    home = tmp_path / "massiv-home"  # MASSIV_HOME: the code (linked) and the data
    home.mkdir()
    for package in ("flows", "curation", "privacy", "sql"):
        (home / package).symlink_to(ROOT / package)
    (home / "prefect.yaml").write_text((ROOT / "prefect.yaml").read_text())
    synthesize_export(home / "data" / "export", 20_000, seed=5)
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "MASSIV_HOME": str(home),
        "MASSIV_PSEUDONYM_KEY": "ab" * 32,
    }

    def prefect(*args: str, timeout: int = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(bin_dir / "prefect"), "--no-prompt", *args],
            cwd=home,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    logs = (tmp_path / "server.log").open("w"), (tmp_path / "worker.log").open("w")
    server = subprocess.Popen(
        [str(bin_dir / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=logs[0],
        stderr=subprocess.STDOUT,
    )
    worker = None
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "no server"
                time.sleep(1)
        assert prefect("work-pool", "create", "massiv", "--type", "process").returncode == 0
        deployed = prefect("deploy", "--all")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        for name, cron in [
            ("curate/weekly-curation", "0 3 * * 1"),
            ("opt_out/daily-opt-out", "0 2 * * *"),
        ]:
            inspected = prefect("deployment", "inspect", name)
            assert inspected.returncode == 0 and cron in inspected.stdout, inspected.stdout
        worker = subprocess.Popen(
            [str(bin_dir / "prefect"), "worker", "start", "--pool", "massiv"],
            cwd=home,
            env=env,
            stdout=logs[1],
            stderr=subprocess.STDOUT,
        )

        def run(name: str, params: dict[str, object] | None = None) -> None:
            args = ["deployment", "run", name, "--watch"]
            if params:
                args += ["--params", json.dumps(params)]
            done = prefect(*args)
            assert done.returncode == 0 and "Completed" in done.stdout, done.stdout[-2000:]

        run(
            "curate/weekly-curation",
            {
                "config": {
                    "export_dir": "data/export",
                    "output_dir": "data/curation",
                    "sampling": {"pool_size": 3_000},
                    "shortlist": {"size": 300, "companion_size": 300},
                    "video": {"enabled": False},
                }
            },
        )
        assert (home / "data" / "curation" / "shortlist.parquet").is_file()
        annotate = subprocess.run(
            [str(bin_dir / "massiv"), "synth", "annotations"],
            cwd=home,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert annotate.returncode == 0, annotate.stderr
        run("release/release-on-demand")
        assert (home / "data" / "releases" / "massiv" / "1.0.0" / "manifest.json").is_file()
        run("opt_out/daily-opt-out")
        assert (home / "data" / "optout" / "evidence.parquet").is_file()
    finally:
        for proc in (worker, server):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        for fh in logs:
            fh.close()
