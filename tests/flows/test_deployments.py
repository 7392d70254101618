"""prefect.yaml: every entrypoint loads, and its parameters validate against the flow's model."""

from pathlib import Path

import yaml
from prefect.flows import Flow, load_flow_from_entrypoint

from curation.config import CurateConfig, ReleaseConfig, load_config

ROOT = Path(__file__).resolve().parents[2]
MODELS: dict[str, type[CurateConfig] | type[ReleaseConfig]] = {
    "curate": CurateConfig,
    "release": ReleaseConfig,
}


def test_entrypoints_load_and_parameters_validate() -> None:
    doc = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    names = set()
    for deployment in doc["deployments"]:
        flow: Flow[..., object] = load_flow_from_entrypoint(str(ROOT / deployment["entrypoint"]))
        names.add(flow.name)
        MODELS[flow.name].model_validate(deployment["parameters"]["config"])
    assert names == {"curate", "release"}
    cron = [s["cron"] for d in doc["deployments"] for s in d.get("schedules", [])]
    assert cron == ["0 3 * * 1"]


def test_paper_scale_config_is_valid() -> None:
    cfg = load_config(CurateConfig, ROOT / "docs" / "paper-scale.yaml")
    assert (cfg.sampling.pool_size, cfg.shortlist.size, cfg.shortlist.companion_size) == (
        1_500_000,
        55_000,
        100_000,
    )
