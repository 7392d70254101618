"""prefect.yaml: every entrypoint loads, and its parameters validate against the flow's model."""

from pathlib import Path

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
