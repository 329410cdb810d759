"""The image tasks end to end (`evals run --tasks fid,t2i`): the tiny VARGPT draws, a random-weights Inception
file of the real architecture (given through --inception-weights, the path real weights take) and the tiny
random CLIP score; records and metrics do not depend on the number of workers, and `evals score --run` recomputes
the metrics from the records alone. One pair of runs serves both tasks (the workers' start-up is most of the
time). Missing weights stop the run in one line, before any image."""

from __future__ import annotations

import json
import urllib.error

import numpy as np
import pytest
from PIL import Image

from evals.cli import main
from evals.report.tables import summary_frame
from evals.run.records import read_records, records_dir
from tasks.coco_t2i import DEFAULT_TEMPLATE, build_prompt
from tasks.image_metrics import inception
from tasks.image_metrics.inception import InceptionWeightsUnavailable, save_random_inception_weights

TASKS = {"fid": "fid_random_inception", "coco_t2i": "clip_score_random_clip"}  # task -> its primary metric
METRICS = {
    "clip_score_random_clip",
    "clip_score_std_random_clip",
    *(f"{name}_random_inception" for name in ("fid", "inception_score", "inception_score_std", "precision", "recall")),
}


@pytest.fixture(scope="module")
def fid_inputs(tmp_path_factory):
    """(random Inception weights file, six-image reference folder) under an empty TORCH_HOME."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch_home")))
        weights = save_random_inception_weights(tmp_path_factory.mktemp("weights") / "inception.pth", seed=0)
        reference = tmp_path_factory.mktemp("reference")
        for i in range(6):
            pixels = np.random.default_rng(i).integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
            Image.fromarray(pixels).resize((32, 32), Image.Resampling.BILINEAR).save(reference / f"ref-{i}.png")
        yield weights, reference


def run_image_tasks(run_dir, workers, fid_inputs):
    """`evals run` of fid (classes 0-3, one image each) and coco_t2i (the first 4 demo captions) with the tiny
    model; (results.json's task entries, records by task and doc id)."""
    weights, reference = fid_inputs
    args = ["run", "--model", "tiny", "--data", "demo", "--tasks", ",".join(TASKS), "--limit", "4",
            "--batch-size", "2", "--num-workers", str(workers), "--inception-weights", str(weights),
            "--fid-ref", str(reference), "--save-samples", "--output", str(run_dir)]
    assert main(args) == 0
    results = json.loads((run_dir / "results.json").read_text())["tasks"]
    records = {
        task: {r.doc_id: r for r in read_records(records_dir(run_dir, task), load_arrays=True)} for task in TASKS
    }
    return results, records


def test_image_runs_write_every_metric_and_do_not_depend_on_worker_count(tmp_path, fid_inputs, capsys):
    one, one_records = run_image_tasks(tmp_path / "one", 1, fid_inputs)
    summary = summary_frame(json.loads((tmp_path / "one" / "results.json").read_text()))
    for task, primary in TASKS.items():
        entry = one[task]
        assert METRICS <= set(entry["metrics"]) and entry["metrics"]["num_images"] == 4 and entry["num_errors"] == 0
        assert np.isfinite([entry["metrics"][m] for m in METRICS]).all()
        assert entry["primary_metric"] == primary  # the summary table shows the renamed metric
        assert summary.loc[task, "value"] == entry["metrics"][primary]
        assert f"{task}/samples.npz" in entry["artifacts"] and f"{task}/samples_grid.png" in entry["artifacts"]
        with np.load(tmp_path / "one" / task / "samples.npz") as samples:
            assert samples["arr_0"].dtype == np.uint8 and samples["arr_0"].shape[0] == 4
            assert samples["arr_0"].shape[-1] == 3
    assert one["coco_t2i"]["metrics"]["clip_score_random_clip"] > 0
    for record in one_records["coco_t2i"].values():  # what `score --run` needs is in the records
        assert {"clip_score", "caption", "row", "clip_model", "inception_weights"} <= set(record.scores)
        assert record.prompt == build_prompt(DEFAULT_TEMPLATE, record.scores["caption"])

    two, two_records = run_image_tasks(tmp_path / "two", 2, fid_inputs)
    for task in TASKS:
        assert sorted(two_records[task]) == sorted(one_records[task])
        for doc_id, record in one_records[task].items():
            assert two_records[task][doc_id].scores == record.scores, (task, doc_id)
            for name in ("sample", "inception_pool", "inception_logits"):
                assert np.array_equal(record.arrays[name], two_records[task][doc_id].arrays[name]), (doc_id, name)
        assert two[task]["metrics"] == one[task]["metrics"], task

    # No model: the metrics again from the records. The reference is an aggregation-only option (not in
    # run.json), so it is named again, as a rerun with a corrected --fid-ref would.
    for task in TASKS:
        capsys.readouterr()
        argv = ["score", "--task", task, "--run", str(tmp_path / "two"), "--gen-kwargs", f"fid_ref={fid_inputs[1]}"]
        assert main(argv) == 0
        assert json.loads(capsys.readouterr().out)["metrics"] == one[task]["metrics"], task


def test_score_run_on_a_folder_without_the_task_is_one_line(tmp_path, capsys):
    (tmp_path / "run.json").write_text(json.dumps({"fingerprint": {"tasks": {"gqa": {"options": {}}}}}))
    assert main(["score", "--task", "t2i", "--run", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "did not run task 'coco_t2i'" in err


def test_missing_weights_offline_stop_the_run_in_one_line_before_any_image(tmp_path, monkeypatch, capsys):
    def offline(url, target):
        raise urllib.error.URLError("no network")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))  # nothing cached
    monkeypatch.setattr(inception, "download_file", offline)
    args = ["run", "--model", "oracle", "--data", "hub", "--tasks", "fid", "--limit", "2",
            "--output", str(tmp_path / "run")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and inception.WEIGHTS_FILENAME in err
    assert read_records(records_dir(tmp_path / "run", "fid")) == []  # not one error record per document


def test_weights_lost_after_the_start_stop_the_run_instead_of_recording_errors(tmp_path, fid_inputs, monkeypatch):
    def vanished(*args, **kwargs):  # e.g. another node of a torchrun job, without the file
        raise InceptionWeightsUnavailable("Inception weights not found; pass --inception-weights PATH")

    # prepare() resolved the file; scoring fails
    monkeypatch.setattr("tasks.image_metrics.image_scores.load_inception", vanished)
    weights, reference = fid_inputs
    args = ["run", "--model", "oracle", "--data", "demo", "--tasks", "fid", "--limit", "4", "--batch-size", "2",
            "--inception-weights", str(weights), "--fid-ref", str(reference), "--output", str(tmp_path / "run")]
    assert main(args) == 2
    assert read_records(records_dir(tmp_path / "run", "fid")) == []
