"""`prefetch` reads every selected task's dataset through the hub path and says what it fetched."""

from __future__ import annotations

from evals.cli import main


def test_prefetch_lists_each_dataset_with_its_size(fake_tasks, capsys):
    assert main(["prefetch", "--tasks", "fake_qa,fake_pair", "--model", "none"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["fake_qa", "fake_pair_a", "fake_pair_b"]
    assert "dataset fake/none@unpinned split test, 24 documents" in lines[0]


def test_prefetch_of_the_scripted_or_tiny_model_downloads_nothing(fake_tasks, capsys):
    for model in ("oracle", "constant:yes", "tiny"):
        assert main(["prefetch", "--tasks", "fake_qa", "--model", model]) == 0
        assert "model" not in capsys.readouterr().out
