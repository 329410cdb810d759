"""The README's demo command end to end; the scripted adapters on the bundled demo slices."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from evals.cli import main
from evals.registry import discover
from evals.task_api import DataSource

UNDERSTANDING = "gqa,vqav2_val,vqav2_testdev,mmbench_en_dev,mmbench_en_test,pope,seed_image,textvqa,okvqa,vizwiz,vizwiz_vqa_test"


def results_of(run_dir):
    return json.loads((run_dir / "results.json").read_text())


def test_demo_command_writes_results_and_a_table(tmp_path, capsys):
    # The README's `python -m evals run --model tiny --data demo`, cut to 2 documents per task and 8
    # new tokens so that it stays a quick test.
    run_dir = tmp_path / "demo"
    argv = [
        "run",
        "--model",
        "tiny",
        "--data",
        "demo",
        "--limit",
        "2",
        "--gen-kwargs",
        "max_new_tokens=8",
        "--output",
        str(run_dir),
    ]
    assert main(argv) == 0
    results = results_of(run_dir)
    assert set(results["tasks"]) == set(discover().names())
    assert all(entry["num_docs"] == 2 for entry in results["tasks"].values())
    assert results["run"]["demo"] is True and results["run"]["model"]["id"] == "tiny"
    assert len(results["run"]["model"]["weights_hash"]) == 16
    for name in ("results.md", "results.csv", "results.tex", "results.html"):
        assert (run_dir / name).read_text().strip()
    # The printed summary has the text-to-image row, its CLIP score from the tiny random CLIP (a positive one).
    clip = results["tasks"]["coco_t2i"]["metrics"]["clip_score_random_clip"]
    assert f"| coco_t2i | clip_score_random_clip | {clip:.2f} | 2 | 0 |" in capsys.readouterr().out and clip > 0
    assert main(["table", str(run_dir), "--format", "csv"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out), index_col="run")
    assert list(table.index) == ["demo"] and table.loc["demo", "model"] == "tiny"
    assert table.loc["demo", "gqa/num_errors"] == 0
    assert table.loc["demo", "coco_t2i/clip_score_random_clip"] == pytest.approx(clip)


def test_oracle_scores_100_on_every_understanding_demo_task(tmp_path):
    run_dir = tmp_path / "oracle"
    assert main(["run", "--model", "oracle", "--data", "demo", "--tasks", UNDERSTANDING, "--output", str(run_dir)]) == 0
    results = results_of(run_dir)
    scored = {name: entry for name, entry in results["tasks"].items() if entry["primary_metric"]}
    assert set(scored) == {
        "gqa",
        "vqav2_val",
        "mmbench_en_dev",
        "pope_random",
        "pope_popular",
        "pope_adversarial",
        "seed_image",
        "textvqa_val",
        "ok_vqa_val2014",
        "vizwiz_vqa_val",
    }
    for name, entry in results["tasks"].items():
        assert entry["num_errors"] == 0, name
        if entry["primary_metric"]:
            assert entry["metrics"][entry["primary_metric"]] == 100.0, name
    assert results["groups"]["pope"]["metrics"]["accuracy"] == 100.0


def pope_yes_counts(task_name):
    """(documents, gold "yes" answers) of a POPE demo split, read from the slice's labels."""
    task = discover().get(task_name)
    docs = task.load_docs(DataSource(kind="demo"))
    return len(docs), sum(str(doc["answer"]).strip().lower() == "yes" for doc in docs)


def always_yes_metrics(n, n_yes):
    """POPE's metrics when every prediction is "yes", by hand:
    correct = the gold-yes documents, so accuracy = n_yes / n; TP = n_yes, FP = n - n_yes, FN = 0, so
    precision = n_yes / n and recall = 1; F1 = 2PR / (P + R) = 2P / (P + 1); every answer is yes."""
    precision = n_yes / n
    return {
        "accuracy": 100 * n_yes / n,
        "precision": 100 * precision,
        "recall": 100.0,
        "f1": 100 * 2 * precision / (precision + 1),
        "yes_ratio": 100.0,
    }


def test_constant_yes_on_the_pope_demo_gives_the_hand_computed_metrics(tmp_path):
    run_dir = tmp_path / "yes"
    assert main(["run", "--model", "constant:yes", "--data", "demo", "--tasks", "pope", "--output", str(run_dir)]) == 0
    results = results_of(run_dir)
    totals = [0, 0]
    for split in ("pope_random", "pope_popular", "pope_adversarial"):
        n, n_yes = pope_yes_counts(split)
        totals = [totals[0] + n, totals[1] + n_yes]
        measured = results["tasks"][split]["metrics"]
        for metric, value in always_yes_metrics(n, n_yes).items():
            assert measured[metric] == pytest.approx(value), (split, metric)
    pooled = results["groups"]["pope"]["metrics"]
    for metric, value in always_yes_metrics(*totals).items():
        assert pooled[metric] == pytest.approx(value), ("pope", metric)


def test_constant_answers_on_the_textvqa_okvqa_vizwiz_demo_give_the_hand_computed_accuracy(tmp_path):
    # Derivations in tests/tasks/test_answer_list_vqa_scoring.py: "yes" is given k % 5 times on TextVQA's
    # document k (56%); "unanswerable" 0/2/4 times by OK-VQA question type (53.3%) and on VizWiz 6 times on
    # the 10 unanswerable questions, (k // 3) % 5 times on the 20 others (70.7%).
    expected = {("constant:Yes", "textvqa_val"): 56.0, ("constant:Unanswerable.", "ok_vqa_val2014"): 160 / 3,
                ("constant:Unanswerable.", "vizwiz_vqa_val"): 21.2 / 30 * 100}
    for model in ("constant:Yes", "constant:Unanswerable."):
        run_dir = tmp_path / model.split(":")[1]
        argv = ["run", "--model", model, "--data", "demo", "--tasks", "textvqa,okvqa,vizwiz", "--output", str(run_dir)]
        assert main(argv) == 0
        tasks = results_of(run_dir)["tasks"]
        for (constant, name), accuracy in expected.items():
            if constant == model:
                assert tasks[name]["metrics"]["accuracy"] == pytest.approx(accuracy), name
