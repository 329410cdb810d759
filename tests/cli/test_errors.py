"""Bad input to the commands: one line on stderr, exit status 2, no traceback."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evals.cli import main
from evals.errors import RunStopped


def one_line_error(capsys, argv) -> str:
    """Run the CLI in-process; assert exit 2 and a single stderr line; return that line."""
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.rstrip("\n").split("\n")
    # Progress bars (carriage-return lines) may precede an error found after the run.
    assert lines[-1].startswith("error: ") and all("\r" in line for line in lines[:-1]), err
    assert "Traceback" not in err
    return lines[-1]


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["run", "--model", "oracle", "--tasks", "gqa_lit"], "unknown task 'gqa_lit'; did you mean 'gqa'?"),
        (
            ["run", "--model", "oracle", "--tasks", "fake_qa", "--gen-kwargs", "max_new_tokens"],
            "malformed --gen-kwargs",
        ),
        (
            ["run", "--model", "oracle", "--tasks", "fake_qa", "--gen-kwargs", "colour=red"],
            "--gen-kwargs 'colour' is not an option of the selected tasks",
        ),
        (
            ["run", "--model", "oracle", "--tasks", "fake_qa", "--gen-kwargs", "max_new_tokens=many"],
            "option max_new_tokens='many' of task 'fake_qa' is not a valid int",
        ),
        (["run", "--model", "oracle", "--tasks", "fake_qa", "--data", "/no/such/folder"], "is not a folder"),
        (["run", "--model", "oracle", "--tasks", "fake_qa", "--batch-size", "0"], "--batch-size 0 must be at least 1"),
        (
            ["run", "--model", "oracle", "--tasks", "fake_qa", "--wait-timeout", "0"],
            "--wait-timeout 0.0 must be a positive number of minutes",
        ),
        (["run", "--model", "oracle", "--tasks", "fake_dup"], "document id 'q001' occurs 2 times"),
        (["run", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        (["table", "/no/such/run"], "has no results.json"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(argv, expected, tmp_path, fake_tasks, capsys):
    if "--output" not in argv and argv[0] == "run":
        argv = [*argv, "--output", str(tmp_path / "run")]
    assert expected in one_line_error(capsys, argv)


def test_a_stop_that_another_process_of_the_node_prints_is_not_printed_again(monkeypatch, capsys):
    # Under torchrun every rank stops for the reason one rank found (tests/run/test_preflight.py); ranks other
    # than the first of their node raise it `quiet`, so a node's log holds the line once.
    def stopped(config):
        raise RunStopped("rank 3 on node1: no copy of dataset lmms-lab/GQA under /data", quiet=True)

    monkeypatch.setattr("evals.run.launch.execute_run", stopped)
    capsys.readouterr()
    assert main(["run", "--model", "oracle", "--tasks", "fake_qa"]) == 2
    assert capsys.readouterr().err == ""


def test_a_checkpoint_folder_with_missing_files_is_one_line(tmp_path, fake_tasks, capsys):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "vargpt_llava"}))
    error = one_line_error(
        capsys, ["run", "--model", str(folder), "--tasks", "fake_qa", "--output", str(tmp_path / "run")]
    )
    assert str(folder) in error


def test_pickled_weights_are_refused_without_the_flag(tmp_path, fake_tasks, capsys):
    from vargpt import tiny

    folder = tiny.build(tmp_path / "ckpt")
    import torch
    from safetensors.torch import load_file

    weights = {}
    for path in sorted(folder.glob("*.safetensors")):
        weights.update(load_file(path))
        path.unlink()
    for index in folder.glob("*.safetensors.index.json"):
        index.unlink()
    torch.save(weights, folder / "pytorch_model.bin")
    error = one_line_error(
        capsys, ["run", "--model", str(folder), "--tasks", "fake_qa", "--output", str(tmp_path / "run")]
    )
    assert "pickled" in error


def test_unreadable_predictions_name_the_line(tmp_path, fake_tasks, capsys):
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text('{"doc_id": "q000", "prediction": "0"}\n{"doc_id": "q001", "prediction": \n')
    error = one_line_error(capsys, ["score", "--task", "fake_qa", "--data", "demo", "--predictions", str(predictions)])
    assert f"{predictions}:2: not valid JSON" in error
    predictions.write_text('{"doc_id": "q000", "prediction": "0"}\n["q001", "2"]\n')
    assert f"{predictions}:2: expected an object" in one_line_error(
        capsys, ["score", "--task", "fake_qa", "--data", "demo", "--predictions", str(predictions)]
    )
    missing = tmp_path / "absent.jsonl"
    assert "cannot read predictions file" in one_line_error(
        capsys, ["score", "--task", "fake_qa", "--data", "demo", "--predictions", str(missing)]
    )


def test_a_reference_npz_of_the_wrong_shape_is_one_line(tmp_path, fake_tasks, capsys):
    reference = tmp_path / "ref.npz"
    np.savez(reference, mu=np.zeros(3), sigma=np.eye(3))
    error = one_line_error(
        capsys,
        [
            "run",
            "--model",
            "oracle",
            "--data",
            "demo",
            "--tasks",
            "fid",
            "--limit",
            "2",
            "--fid-ref",
            str(reference),
            "--output",
            str(tmp_path / "run"),
        ],
    )
    assert str(reference) in error
