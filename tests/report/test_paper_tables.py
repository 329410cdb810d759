"""Paper comparison tables: published rows as printed, measured rows from results.json, differences."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from evals.report.paper import (
    PAPER_DIR,
    PaperDataError,
    comparison_frame,
    load_measured_run,
    load_paper_table,
    load_paper_tables,
    paper_table_from_dict,
    render_paper_tables,
    render_table,
)

# The issue's numbers (issue 6), row by row in the paper's column order:
# MMBench, SEED, MMMU, POPE adv, POPE pop, POPE rand, MME, GQA, TextVQA, VQAv2, SciQA-img, OKVQA, VizWiz
VARGPT_ROW = [
    "67.6",
    "67.9",
    "36.44",
    "84.40",
    "85.90",
    "87.37",
    "1488.8",
    "62.3",
    "54.1",
    "78.4",
    "80.1",
    "55.8",
    "56.8",
]
LLAVA_ROW = [
    "62.7",
    "65.4",
    "35.24",
    "83.60",
    "85.77",
    "86.97",
    "1480.1",
    "61.2",
    "48.8",
    "76.49",
    "67.9",
    "53.2",
    "53.53",
]
# VAR final paper, FID / IS / precision / recall
VAR_ROWS = {
    "VAR-d16": ["3.30", "274.4", "0.84", "0.51"],
    "VAR-d20": ["2.57", "302.6", "0.83", "0.56"],
    "VAR-d24": ["2.09", "312.9", "0.82", "0.59"],
    "VAR-d30": ["1.92", "323.1", "0.82", "0.59"],
}


@pytest.fixture
def demo_run(tmp_path):
    """A run folder whose results.json measured GQA, POPE random and FID (the contract's shape)."""
    run_dir = tmp_path / "demo-run"
    run_dir.mkdir()
    results = {
        "run": {
            "model": {"id": "tiny"},
            "seed": 0,
            "data": "demo",
            "demo": True,
            "world_size": 1,
        },
        "tasks": {
            "gqa": {
                "metrics": {"accuracy": 25.0, "num_errors": 0},
                "num_docs": 20,
                "num_errors": 0,
            },
            "pope_random": {
                "metrics": {"accuracy": 50.0},
                "num_docs": 20,
                "num_errors": 0,
            },
            "fid": {
                "metrics": {"fid": 301.5, "inception_score": 1.25},
                "num_docs": 20,
                "num_errors": 0,
            },
        },
    }
    (run_dir / "results.json").write_text(json.dumps(results))
    return run_dir


def test_published_rows_are_the_issue_numbers():
    table = load_paper_table(PAPER_DIR / "understanding.json")
    for model, expected in [
        ("VARGPT (7B+2B)", VARGPT_ROW),
        ("LLaVA-1.5-hf (7B)", LLAVA_ROW),
    ]:
        row = table.row(model)
        assert [row.values[c.key].text for c in table.columns] == expected


def test_var_rows_are_the_final_paper_numbers():
    table = load_paper_table(PAPER_DIR / "imagenet256.json")
    for model, expected in VAR_ROWS.items():
        assert [table.row(model).values[c.key].text for c in table.columns] == expected


def test_every_column_cites_a_source_with_arxiv_id_table_and_split():
    for table in load_paper_tables():
        for col in table.columns:
            source = table.sources[col.source]
            assert source.arxiv and source.table and source.version and col.split


def test_markdown_prints_published_rows_as_printed(demo_run):
    text = render_paper_tables(load_paper_tables(), [load_measured_run(demo_run)], "md")
    assert "| VARGPT (7B+2B) | published | " + " | ".join(VARGPT_ROW) + " |" in text
    assert "| LLaVA-1.5-hf (7B) | published | " + " | ".join(LLAVA_ROW) + " |" in text
    assert "| VAR-d30 | published | 1.92 | 323.1 | 0.82 | 0.59 |" in text


def test_measured_and_difference_cells(demo_run):
    table = load_paper_table(PAPER_DIR / "understanding.json")
    frame = comparison_frame(table, [load_measured_run(demo_run)])
    measured = frame[frame["kind"] == "measured"].iloc[0]
    difference = frame[frame["kind"] == "difference"].iloc[0]
    # GQA: 25.0 measured - 62.3 published (VARGPT) = -37.3; POPE rand: 50.0 - 87.37 = -37.37
    assert measured["GQA"] == 25.0 and difference["GQA"] == pytest.approx(-37.3)
    assert difference["POPE rand"] == pytest.approx(-37.37)
    # not measured by the run (POPE adv, MME): empty
    assert pd.isna(measured["POPE adv"]) and pd.isna(difference["POPE adv"])
    assert pd.isna(measured["MME"]) and pd.isna(difference["MME"])


def test_difference_against_another_row(demo_run):
    table = load_paper_table(PAPER_DIR / "understanding.json")
    frame = comparison_frame(table, [load_measured_run(demo_run)], versus="LLaVA-1.5-hf (7B)")
    # GQA: 25.0 - 61.2 = -36.2
    assert frame[frame["kind"] == "difference"].iloc[0]["GQA"] == pytest.approx(-36.2)


def test_imagenet_differences_against_var_d30(demo_run):
    text = render_table(
        load_paper_table(PAPER_DIR / "imagenet256.json"),
        [load_measured_run(demo_run)],
        "csv",
    )
    frame = pd.read_csv(io.StringIO(text), comment="#", index_col=0, dtype=str, keep_default_na=False)
    diff = frame[frame["kind"] == "difference"].iloc[0]
    # FID 301.5 - 1.92 = +299.58; IS 1.25 - 323.1 = -321.85; precision not measured: empty
    assert diff["FID"] == "+299.58" and diff["IS"] == "-321.85" and diff["Precision"] == ""


def test_measured_label_says_demo(demo_run):
    assert load_measured_run(demo_run).label == "tiny (demo-run, demo)"


@pytest.mark.parametrize(
    "fmt, marker",
    [
        ("csv", "VARGPT (7B+2B),published,67.6,67.9,36.44,84.40"),
        ("latex", r"\toprule"),
        ("html", "<td>1488.8</td>"),
    ],
)
def test_other_formats_render(demo_run, fmt, marker):
    text = render_paper_tables(load_paper_tables(), [load_measured_run(demo_run)], fmt)
    assert marker in text
    assert "323.1" in text  # the ImageNet table follows


def test_latex_escapes_and_keeps_numbers(demo_run):
    text = render_paper_tables(load_paper_tables(), [load_measured_run(demo_run)], "latex")
    assert r"VARGPT (7B+2B) & published & 67.6 & 67.9 & 36.44" in text
    assert "-37.37" in text


def test_malformed_paper_data_is_refused():
    data = json.loads((PAPER_DIR / "understanding.json").read_text())
    data["rows"][0]["values"]["gqa"] = 62.3  # a number, not the printed string
    with pytest.raises(PaperDataError, match="strings as printed"):
        paper_table_from_dict(data, "understanding.json")
    data = json.loads((PAPER_DIR / "understanding.json").read_text())
    data["columns"][0]["source"] = "nowhere"
    with pytest.raises(PaperDataError, match="unknown source"):
        paper_table_from_dict(data, "understanding.json")


def test_run_folder_without_results_names_the_problem(tmp_path):
    with pytest.raises(PaperDataError, match="results.json not found"):
        load_measured_run(tmp_path)


# -- the command line ---------------------------------------------------------------------------
def test_table_paper_command_prints_both_published_rows(demo_run, capsys):
    from evals.cli import main

    assert main(["table", "--paper", str(demo_run), "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "| VARGPT (7B+2B) | published | " + " | ".join(VARGPT_ROW) + " |" in out
    assert "| LLaVA-1.5-hf (7B) | published | " + " | ".join(LLAVA_ROW) + " |" in out
    assert "| tiny (demo-run, demo) - VARGPT (7B+2B) | difference |" in out
    assert not (demo_run / "plots").exists()


def test_table_paper_command_writes_file_and_plots(demo_run, tmp_path):
    from evals.cli import main

    output = tmp_path / "paper.tex"
    assert (
        main(
            [
                "table",
                "--paper",
                str(demo_run),
                "--format",
                "latex",
                "--output",
                str(output),
            ]
        )
        == 0
    )
    assert r"VARGPT (7B+2B) & published & 67.6" in output.read_text()
    assert (demo_run / "plots" / "paper_understanding.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_table_paper_unknown_versus_row_is_exit_2(demo_run, capsys):
    from evals.cli import main

    assert main(["table", "--paper", str(demo_run), "--versus", "GPT-9", "--no-plots"]) == 2
    assert "no paper table has a row 'GPT-9'" in capsys.readouterr().err


def test_two_runs_with_the_same_label_get_distinct_rows(demo_run):
    table = load_paper_table(PAPER_DIR / "understanding.json")
    run = load_measured_run(demo_run)
    frame = comparison_frame(table, [run, run])
    assert list(frame.index[-4:]) == [
        "tiny (demo-run, demo) [measured]",
        "tiny (demo-run, demo) - VARGPT (7B+2B)",
        "tiny (demo-run, demo) #2 [measured]",
        "tiny (demo-run, demo) #2 - VARGPT (7B+2B)",
    ]
    assert "| tiny (demo-run, demo) #2 [measured] | measured |" in render_table(table, [run, run], "md")


# -- the eleven benchmarks (issue 15) -----------------------------------------------------------------
def write_results(run_dir, tasks: dict) -> None:
    run_dir.mkdir()
    results = {"run": {"model": {"id": "tiny"}, "demo": True},
               "tasks": {name: {"metrics": metrics, "num_docs": 4, "num_errors": 0} for name, metrics in tasks.items()}}
    (run_dir / "results.json").write_text(json.dumps(results))


def markdown_row(text: str, label: str) -> list[str]:
    """The cells of the Markdown row whose first cell is `label` (the kind column first)."""
    line = next(line for line in text.splitlines() if line.startswith(f"| {label} |"))
    return [cell.strip() for cell in line.strip("|").split("|")][1:]


def test_mme_mmmu_and_scienceqa_fill_their_columns(tmp_path):
    # MME 1500.0 - 1488.8 = +11.2; MMMU 40.0 - 36.44 = +3.56; SciQA-img 70.0 - 80.1 = -10.1.
    write_results(tmp_path / "run", {"mme": {"perception_score": 1500.0}, "mmmu_val": {"accuracy": 40.0},
                                     "scienceqa_img": {"accuracy": 70.0}})
    table = load_paper_table(PAPER_DIR / "understanding.json")
    frame = comparison_frame(table, [load_measured_run(tmp_path / "run")])
    difference = frame[frame["kind"] == "difference"].iloc[0]
    assert difference["MME"] == pytest.approx(11.2)
    assert difference["MMMU"] == pytest.approx(3.56)
    assert difference["SciQA-img"] == pytest.approx(-10.1)


def test_a_measured_cell_without_a_number_says_why(tmp_path):
    # gqa ran but has no accuracy ("no value"); pope_adversarial did not run ("not run"); a column without a task
    # says "no task"; every other column of the understanding table is "not run" or "no task" too.
    write_results(tmp_path / "run", {"gqa": {"num_errors": 4}, "mme": {"perception_score": 10.0}})
    data = json.loads((PAPER_DIR / "understanding.json").read_text())
    next(c for c in data["columns"] if c["key"] == "okvqa").update(task=None, metric=None)
    table = paper_table_from_dict(data, "understanding.json")
    text = render_table(table, [load_measured_run(tmp_path / "run")], "md")
    measured = dict(zip([c.label for c in table.columns], markdown_row(text, "tiny (run, demo) [measured]")[1:]))
    assert (measured["GQA"], measured["POPE adv"], measured["OKVQA"], measured["MME"]) == \
        ("no value", "not run", "no task", "10.00")  # at least two decimals
    assert "'not run' (the run has no results for the column's task)" in text
    difference = markdown_row(text, "tiny (run, demo) - VARGPT (7B+2B)")
    assert difference[1:].count("") == len(table.columns) - 1  # only MME has a difference


def test_table_paper_prints_all_eleven_benchmarks(tmp_path, capsys):
    from evals.cli import main

    write_results(tmp_path / "run", {"mme": {"perception_score": 1400.0}})
    assert main(["table", "--paper", str(tmp_path / "run"), "--no-plots"]) == 0
    header = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| model |"))
    assert [c.strip() for c in header.strip("|").split("|")][2:] == [
        "MMBench", "SEED", "MMMU", "POPE adv", "POPE pop", "POPE rand", "MME", "GQA", "TextVQA", "VQAv2",
        "SciQA-img", "OKVQA", "VizWiz"]
