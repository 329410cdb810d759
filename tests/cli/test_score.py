"""`score` on a run's predictions reproduces the run's metrics, with no model."""

from __future__ import annotations

import json

import pytest

from evals.cli import main
from evals.run.predictions import predictions_from_records
from evals.run.records import dedup_records, read_records, records_dir


def write_predictions(run_dir, task, path):
    records = dedup_records(read_records(records_dir(run_dir, task))).values()
    path.write_text("".join(json.dumps(row) + "\n" for row in predictions_from_records(list(records))))


@pytest.mark.parametrize(
    "model, data, tasks",
    [
        ("constant:yes", "demo", ["pope_random", "gqa", "vqav2_val", "seed_image", "mmbench_en_dev"]),
        ("constant:Unanswerable", "demo", ["textvqa_val", "ok_vqa_val2014", "vizwiz_vqa_val"]),
        ("oracle", "demo", ["fake_bad"]),  # error records become null predictions
        ("constant:Yes", "demo", ["mme", "mmmu_val", "scienceqa_img"]),
    ],
)
def test_score_on_a_runs_predictions_reproduces_its_metrics(model, data, tasks, tmp_path, fake_tasks, capsys):
    run_dir = tmp_path / "run"
    assert main(["run", "--model", model, "--data", data, "--tasks", ",".join(tasks), "--output", str(run_dir)]) == 0
    results = json.loads((run_dir / "results.json").read_text())
    for task in tasks:
        predictions = tmp_path / f"{task}.jsonl"
        write_predictions(run_dir, task, predictions)
        capsys.readouterr()
        assert main(["score", "--task", task, "--data", data, "--predictions", str(predictions)]) == 0
        scored = json.loads(capsys.readouterr().out)
        assert scored["metrics"] == results["tasks"][task]["metrics"], task
