"""Bad input to the command line: one error line, exit 2, no traceback.

Four kinds run as real `python -m evals` processes, started together (interpreter start-up dominates);
the other cases call `main()`, the function `python -m evals` runs, in this process. "One line" means one
message line: log records and progress bars, which a terminal redraws in place, may come before it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from run_checks import is_one_line_error, pickled_weights

from evals.cli import main
from vargpt import tiny

REPO_ROOT = Path(__file__).resolve().parents[2]
PREDICTIONS_GOOD = '{"doc_id": "1", "prediction": "yes"}\n'


def pickled_checkpoint(folder: Path) -> Path:
    """The tiny checkpoint with its safetensors shards replaced by one pickled pytorch_model.bin."""
    torch.save(pickled_weights(folder), folder / "pytorch_model.bin")
    return folder


def checkpoint_without(folder: Path, pattern: str) -> Path:
    """The tiny checkpoint with the files matching `pattern` removed."""
    shutil.copytree(tiny.cached_folder(), folder)
    (first, *_) = sorted(folder.glob(pattern))
    first.unlink()
    return folder


def cases(tmp: Path, inception_file: Path) -> dict[str, tuple[list[str], str]]:
    """name -> (arguments after `python -m evals`, text the error line must hold)."""
    bad_json = tmp / "bad-json.jsonl"
    bad_json.write_text(PREDICTIONS_GOOD + '{"doc_id": "2", "prediction": "no"}\n{"doc_id": "3", "prediction": \n')
    not_utf8 = tmp / "not-utf8.jsonl"
    not_utf8.write_bytes(PREDICTIONS_GOOD.encode() + b'{"doc_id": "3", "prediction": "\xff\xfe"}\n')
    wrong_npz = tmp / "reference.npz"
    np.savez(wrong_npz, mu=np.zeros(64), sigma=np.eye(64))
    run = ["run", "--model", "oracle", "--data", "demo", "--limit", "2"]
    tiny_run = ["run", "--data", "demo", "--tasks", "gqa", "--limit", "1", "--gen-kwargs", "max_new_tokens=2"]
    score = ["score", "--task", "pope_random", "--data", "demo", "--predictions"]
    return {
        "unknown task": ([*run, "--tasks", "gqa_lit"], "unknown task 'gqa_lit'; did you mean 'gqa'?"),
        "malformed --gen-kwargs": ([*run, "--tasks", "gqa", "--gen-kwargs", "max_new_tokens"],
                                   "malformed --gen-kwargs 'max_new_tokens'"),
        "--gen-kwargs value of the wrong type": ([*run, "--tasks", "gqa", "--gen-kwargs", "max_new_tokens=lots"],
                                                 "option max_new_tokens='lots' of task 'gqa' is not a valid int"),
        "predictions: invalid JSON": ([*score, str(bad_json)], f"{bad_json}:3: not valid JSON"),
        "predictions: not UTF-8": ([*score, str(not_utf8)], f"{not_utf8}:2: not UTF-8 text"),
        "predictions: missing file": ([*score, str(tmp / "absent.jsonl")], "cannot read predictions file"),
        "checkpoint: missing shard": ([*tiny_run, "--model", str(checkpoint_without(tmp / "no-shard", "model-0000*"))],
                                      "shard model-00001-of-00004.safetensors listed in model.safetensors.index.json is missing"),
        "checkpoint: missing config.json": ([*tiny_run, "--model", str(checkpoint_without(tmp / "no-config", "config.json"))],
                                            "has no config.json"),
        "checkpoint: missing tokenizer": ([*tiny_run, "--model", str(checkpoint_without(tmp / "no-tok", "tokenizer.json"))],
                                          "has no tokenizer"),
        "fid reference npz of the wrong shape": (
            [*run, "--tasks", "fid", "--inception-weights", str(inception_file), "--fid-ref", str(wrong_npz)],
            f"--fid-ref {wrong_npz}: mu (64,) and sigma (64, 64); expected (2048,) and (2048, 2048)"),
        "pickled weights without --allow-pickle": ([*tiny_run, "--model", str(pickled_checkpoint(tmp / "pickled"))],
                                                   "holds only pickled weights (.bin/.pt), which can run code"),
    }


# Real `python -m evals` processes for four kinds of bad input; the other cases (the FID reference needs
# Inception, already loaded here) run `main()`, the function `python -m evals` runs, in this process.
IN_SUBPROCESS = ("unknown task", "malformed --gen-kwargs", "predictions: not UTF-8", "checkpoint: missing shard")
AT_ONCE = 4  # all at once: start-up is partly disk-bound, and a shared machine gives each process a share


@pytest.fixture(scope="module")
def prepared_cases(tmp_path_factory, inception_file):
    """(folder, name -> (arguments with --output, expected text)) of every case."""
    tmp = tmp_path_factory.mktemp("cli")
    prepared = {}
    for index, (name, (args, text)) in enumerate(cases(tmp, inception_file).items()):
        out = ["--output", str(tmp / f"run-{index}")] if args[0] == "run" else []
        prepared[name] = ([*args, *out], text)
    return prepared


@pytest.fixture(scope="module")
def subprocess_outcomes(prepared_cases):
    """name -> (exit status, stderr) of the IN_SUBPROCESS cases, a few processes at a time."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO_ROOT)}
    outcomes = {}
    for start in range(0, len(IN_SUBPROCESS), AT_ONCE):
        started = {
            name: subprocess.Popen([sys.executable, "-m", "evals", *prepared_cases[name][0]], cwd=REPO_ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for name in IN_SUBPROCESS[start : start + AT_ONCE]
        }
        for name, process in started.items():
            _, stderr = process.communicate(timeout=300)
            outcomes[name] = (process.returncode, stderr)
    return outcomes


@pytest.mark.parametrize("name", IN_SUBPROCESS)
def test_bad_input_to_the_real_command_gives_one_error_line_exit_2_and_no_traceback(
    name, prepared_cases, subprocess_outcomes, tally
):
    tally.tried("bad command input" if "pickle" not in name else "unsafe input: pickled weights")
    status, stderr = subprocess_outcomes[name]
    assert status == 2, stderr
    assert is_one_line_error(stderr), stderr
    assert prepared_cases[name][1] in stderr


IN_PROCESS = ("--gen-kwargs value of the wrong type", "predictions: invalid JSON", "predictions: missing file",
              "checkpoint: missing config.json", "checkpoint: missing tokenizer", "fid reference npz of the wrong shape",
              "pickled weights without --allow-pickle")


@pytest.mark.parametrize("name", IN_PROCESS)
def test_more_bad_input_gives_one_error_line_and_exit_2(name, prepared_cases, capsys, tally):
    tally.tried("bad command input" if "pickle" not in name else "unsafe input: pickled weights")
    args, expected = prepared_cases[name]
    capsys.readouterr()
    assert main(args) == 2
    stderr = capsys.readouterr().err
    assert is_one_line_error(stderr), stderr
    assert expected in stderr
