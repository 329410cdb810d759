"""`table`: one row per run, one column per task metric, in md, csv, LaTeX and HTML."""

from __future__ import annotations

import io

import pandas as pd

from evals.cli import main


def test_leaderboard_of_two_runs_in_every_format(tmp_path, fake_tasks, capsys):
    for model, name in (("oracle", "a"), ("constant:4", "b")):
        assert main(["run", "--model", model, "--tasks", "fake_qa,fake_bad", "--output", str(tmp_path / name)]) == 0
    runs = [str(tmp_path / "a"), str(tmp_path / "b")]
    capsys.readouterr()
    assert main(["table", *runs, "--format", "csv"]) == 0
    frame = pd.read_csv(io.StringIO(capsys.readouterr().out), index_col="run")
    assert list(frame.index) == ["a", "b"] and list(frame["model"]) == ["oracle", "constant:4"]
    # fake_qa golds are 0, 2, ..., 46: the oracle gets all 24, "4" only q002: 100 / 24 = 4.1666...
    assert frame.loc["a", "fake_qa/accuracy"] == 100.0
    assert abs(frame.loc["b", "fake_qa/accuracy"] - 100 / 24) < 1e-9
    assert list(frame["fake_bad/num_errors"]) == [3, 3]
    assert main(["table", *runs, "--format", "md"]) == 0
    markdown = capsys.readouterr().out
    assert markdown.splitlines()[0].startswith("| run | model | data | fake_bad/accuracy |")
    # fake_bad: q000, q002, q004 of six are readable; "4" is right for q002 only: 100 / 6 = 16.67.
    assert "| b | constant:4 | hub | 16.67 | 3 | 4.17 | 0 |" in markdown
    out = tmp_path / "board.tex"
    assert main(["table", *runs, "--format", "latex", "--output", str(out)]) == 0
    latex = out.read_text()
    assert latex.startswith("\\begin{tabular}") and "fake\\_qa/accuracy" in latex and "\\bottomrule" in latex
    assert main(["table", *runs, "--format", "html"]) == 0
    assert "<table" in capsys.readouterr().out
