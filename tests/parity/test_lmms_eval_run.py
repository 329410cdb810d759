"""`python -m lmms_eval --model vargpt` end to end, offline, on a task YAML that reads the bundled demo parquet.

The same logged samples are then scored by our `pope_random` task (`evals score-lmms-eval`), so one run
shows both protocols and checks that lmms-eval's prompts equal ours. A second run under torchrun (two CPU
processes, marked slow) checks that ranks split the documents and answer as one process does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from lmms_eval.api.instance import unwrap_generation_output

from evals.cli import main

REPO_ROOT = Path(__file__).resolve().parents[2]
LIMIT = 4


@pytest.fixture(scope="module")
def lmms_run(tmp_path_factory):
    """One lmms-eval run of the demo POPE task on the tiny checkpoint; its output folder."""
    import os

    out = tmp_path_factory.mktemp("lmms_run")
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", OMP_NUM_THREADS="1",
               TOKENIZERS_PARALLELISM="false")
    command = [sys.executable, "-m", "lmms_eval", "--model", "vargpt", "--model_args", "pretrained=tiny",
               "--tasks", "vargpt_demo_pope", "--include_path", "tests/parity/lmms_tasks", "--limit", str(LIMIT),
               "--batch_size", "2", "--device", "cpu", "--output_path", str(out), "--log_samples"]
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return out


def test_lmms_eval_run_with_vargpt_writes_results(lmms_run):
    results_files = list(lmms_run.rglob("*_results.json"))
    assert len(results_files) == 1
    results = json.loads(results_files[0].read_text())
    task = results["results"]["vargpt_demo_pope"]
    assert 0.0 <= task["pope_accuracy,none"] <= 1.0
    assert results["n-samples"]["vargpt_demo_pope"]["effective"] == LIMIT
    assert results["model_source"] == "vargpt"


def test_lmms_eval_samples_score_with_our_task(lmms_run, capsys):
    samples = next(lmms_run.rglob("*_samples_vargpt_demo_pope.jsonl"))
    rows = [json.loads(line) for line in samples.read_text().splitlines()]
    assert sorted(row["doc_id"] for row in rows) == list(range(LIMIT))
    assert main(["score-lmms-eval", str(samples), "--task", "pope_random", "--data", "demo"]) == 0
    ours = json.loads(capsys.readouterr().out)
    assert (ours["num_scored"], ours["num_prompt_mismatches"]) == (LIMIT, 0)  # lmms-eval's POPE prompt is ours
    lmms = json.loads(next(lmms_run.rglob("*_results.json")).read_text())["results"]["vargpt_demo_pope"]
    assert ours["metrics"]["accuracy"] == pytest.approx(100 * lmms["pope_accuracy,none"])


@pytest.mark.xfail(strict=True, reason="lmms-eval 0.7.3's evaluator passes every response through "
                   "unwrap_generation_output, which turns a loglikelihood (float, bool) pair into its str(): "
                   "multiple_choice tasks then fail in process_results for every model (dummy included), so no "
                   "lmms-eval run here covers loglikelihood; test_lmms_eval_model.py calls it directly")
def test_lmms_eval_keeps_loglikelihood_pairs():
    assert unwrap_generation_output((-1.5, True))[0] == (-1.5, True)


@pytest.mark.slow
def test_two_torchrun_processes_share_the_documents_and_answer_as_one(lmms_run, tmp_path):
    # lmms-eval strides documents over ranks (rank r takes r, r+2, ...); each rank loads its own replica.
    import os

    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", OMP_NUM_THREADS="1",
               TOKENIZERS_PARALLELISM="false")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "lmms_eval", "--model", "vargpt", "--model_args", "pretrained=tiny", "--tasks", "vargpt_demo_pope",
               "--include_path", "tests/parity/lmms_tasks", "--limit", str(LIMIT), "--batch_size", "2",
               "--output_path", str(tmp_path), "--log_samples"]
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=400, check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "Running on rank 1 (local rank 1)" in done.stdout + done.stderr

    def outputs(folder: Path) -> dict[int, str]:
        samples = next(folder.rglob("*_samples_vargpt_demo_pope.jsonl"))
        rows = (json.loads(line) for line in samples.read_text().splitlines())
        return {row["doc_id"]: row["filtered_resps"] for row in rows}

    assert outputs(tmp_path) == outputs(lmms_run)
