"""`evals run --tasks fid` end to end: the tiny VARGPT draws, a random-weights Inception file of the real
architecture (given through --inception-weights, the path real weights take) scores, and the results
do not depend on the number of workers. Missing weights stop the run in one line, before any image."""

from __future__ import annotations

import json
import urllib.error

import numpy as np
import pytest
from PIL import Image

from evals.cli import main
from evals.run.records import read_records, records_dir
from evals.report.tables import summary_frame
from tasks.image_metrics import inception
from tasks.image_metrics.inception import InceptionWeightsUnavailable, save_random_inception_weights

SUFFIX = "_random_inception"
METRICS = {f"{name}{SUFFIX}" for name in ("fid", "inception_score", "inception_score_std", "precision", "recall")}


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


def run_fid(run_dir, workers, fid_inputs):
    """`evals run` of the fid task on 4 demo documents (classes 0-3, one image each) with the tiny model."""
    weights, reference = fid_inputs
    args = ["run", "--model", "tiny", "--data", "demo", "--tasks", "fid", "--limit", "4",
            "--batch-size", "2", "--num-workers", str(workers), "--inception-weights", str(weights),
            "--fid-ref", str(reference), "--save-samples", "--output", str(run_dir)]
    assert main(args) == 0
    result = json.loads((run_dir / "results.json").read_text())["tasks"]["fid"]
    features = {r.doc_id: r.arrays for r in read_records(records_dir(run_dir, "fid"), load_arrays=True)}
    return result, features


def test_fid_run_writes_every_metric_and_does_not_depend_on_worker_count(tmp_path, fid_inputs):
    one, one_features = run_fid(tmp_path / "one", 1, fid_inputs)
    assert METRICS <= set(one["metrics"]) and one["metrics"]["num_images"] == 4 and one["num_errors"] == 0
    assert one["primary_metric"] == "fid_random_inception"  # the summary table shows the renamed FID
    summary = summary_frame(json.loads((tmp_path / "one" / "results.json").read_text()))
    assert summary.loc["fid", "value"] == one["metrics"]["fid_random_inception"]
    assert np.isfinite([one["metrics"][m] for m in METRICS]).all()
    assert "fid/samples.npz" in one["artifacts"] and "fid/samples_grid.png" in one["artifacts"]
    with np.load(tmp_path / "one" / "fid" / "samples.npz") as samples:
        assert samples["arr_0"].dtype == np.uint8 and samples["arr_0"].shape[0] == 4 and samples["arr_0"].shape[-1] == 3

    two, two_features = run_fid(tmp_path / "two", 2, fid_inputs)
    assert sorted(two_features) == sorted(one_features)
    for doc_id, arrays in one_features.items():
        for name in ("sample", "inception_pool", "inception_logits"):
            assert np.array_equal(arrays[name], two_features[doc_id][name]), (doc_id, name)
    assert two["metrics"] == one["metrics"]


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

    monkeypatch.setattr("tasks.imagenet.load_inception", vanished)  # prepare() resolved the file; scoring fails
    weights, reference = fid_inputs
    args = ["run", "--model", "oracle", "--data", "demo", "--tasks", "fid", "--limit", "4", "--batch-size", "2",
            "--inception-weights", str(weights), "--fid-ref", str(reference), "--output", str(tmp_path / "run")]
    assert main(args) == 2
    assert read_records(records_dir(tmp_path / "run", "fid")) == []
