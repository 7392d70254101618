"""One written order: each flow's `STAGES` is what its code runs, and the README's "What runs"
and the design notes list the same stages in the same order."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

import pytest

from flows import curate, opt_out, release

ROOT = Path(__file__).resolve().parents[2]
FLOWS = {"curate": curate, "release": release, "opt_out": opt_out}
COMMANDS = {"curate": "massiv curate", "release": "massiv release", "opt_out": "massiv opt-out"}


def run_in_code(module: ModuleType) -> list[str]:
    """The stage names the flow's source runs, in source order (`step("…"` and the tabular
    `TableStage("…"` list); reading the inputs is not a stage."""
    source = Path(str(module.__file__)).read_text()
    body = source[source.index("@flow(") :]
    names = re.findall(r'(?:step|TableStage)\(\s*"(\w+)"', body)
    return [n for n in names if n != "read"]


def readme_stages(flow: str) -> list[str]:
    lines = (ROOT / "README.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if COMMANDS[flow] + "  (" in line)
    names = []
    for line in lines[start + 1 :]:
        if "massiv " in line and "(" in line and "─" not in line:
            break  # the next flow's header
        found = re.match(r"\s+[├└]─ (\w+)", line)
        if found:
            names.append(found.group(1))
    return names


def design_note_stages(flow: str) -> list[str]:
    notes = (ROOT / "docs" / "design-notes.md").read_text()
    section = notes.split(f"### {flow} (flows/{flow}.py)", 1)[1].split("\n### ", 1)[0]
    section = section.split("\n\n", 2)[1]  # the table after the heading
    rows = [r for r in section.splitlines() if r.startswith("| ") and not r.startswith("| stage")]
    return [r.split("|")[1].strip() for r in rows]


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_the_stage_list_is_what_the_flow_runs(flow: str) -> None:
    assert run_in_code(FLOWS[flow]) == list(FLOWS[flow].STAGES)


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_readme_and_design_notes_follow_the_stage_list(flow: str) -> None:
    assert readme_stages(flow) == list(FLOWS[flow].STAGES), "README.md, What runs"
    assert design_note_stages(flow) == list(FLOWS[flow].STAGES), "docs/design-notes.md"
