"""The committed demo baseline: a rerun of the demo passes `check`; a changed scorer rule fails it.

One demo run (`--model tiny --data demo`, in this process: one CPU worker runs in-process) serves
both tests. For the failing case a copy of that run folder loses its POPE records and is resumed with
one scorer rule changed, so only POPE's 36 documents are generated again and every other task keeps
the records of the unchanged run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import tasks.pope
from evals.cli import main
from tasks.scoring.output_cleaning import clean_output

DEMO_BASELINE = Path(__file__).resolve().parents[2] / "results" / "baselines" / "demo.json"
DEMO_COMMAND = ["run", "--model", "tiny", "--data", "demo"]
POPE_TASKS = ("pope_adversarial", "pope_popular", "pope_random")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> Path:
    """A fresh run folder of the README's demo command."""
    run_dir = tmp_path_factory.mktemp("demo") / "run"
    assert main([*DEMO_COMMAND, "--output", str(run_dir)]) == 0
    return run_dir


def test_demo_rerun_passes_check_against_the_committed_baseline(demo_run, capsys):
    capsys.readouterr()
    status = main(["check", str(demo_run), "--baseline", str(DEMO_BASELINE)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "metrics within tolerance of the baseline" in out


def yes_only_when_said(output: str) -> str:
    """A changed LLaVA POPE rule: "yes" only if the first sentence says yes, else "no".

    The real rule (tasks.pope.llava_prediction) answers "no" only for the words No/no/not and
    "yes" otherwise, so an output that says neither counts as "yes"; here it counts as "no".
    """
    words = clean_output(output).split(".")[0].replace(",", "").lower().split()
    return "yes" if "yes" in words else "no"


def test_a_changed_scorer_rule_fails_check(demo_run, tmp_path, monkeypatch, capsys):
    changed = tmp_path / "changed"
    shutil.copytree(demo_run, changed)
    for name in POPE_TASKS:
        shutil.rmtree(changed / "records" / name)
    monkeypatch.setattr(tasks.pope, "llava_prediction", yes_only_when_said)
    assert main([*DEMO_COMMAND, "--output", str(changed)]) == 0
    capsys.readouterr()
    status = main(["check", str(changed), "--baseline", str(DEMO_BASELINE)])
    out = capsys.readouterr().out
    assert status == 1, out
    # The tiny model's outputs say neither yes nor no: the real rule reads them all as "yes"
    # (yes_ratio_llava 100%), the changed rule as "no" -- far beyond the tolerance of 12 documents.
    assert "| pope_random | yes_ratio_llava |" in out
    assert "moved" in out
