"""Failures found at aggregation, after the model has run: the recorded work must survive them.

What can be checked from a file's form (a missing reference or weights file, a reference npz of the wrong
shape) stops the run before the first image. An undecodable image in a reference folder is found only
when the reference's features are computed, at aggregation, after every image was generated. Here the
oracle draws the images (seconds); on the real model that is hours of GPU time.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from run_checks import planned_ids, results_of

from evals.cli import main
from evals.run.records import read_records, records_dir
from tasks.image_metrics.fid_reference import DEMO_REFERENCE_DIR


def fid_run(run_dir, inception_file, reference):
    """`run` arguments of a small oracle FID run scored against `reference`."""
    return ["run", "--model", "oracle", "--data", "demo", "--tasks", "fid", "--limit", "4", "--batch-size", "2",
            "--inception-weights", str(inception_file), "--fid-ref", str(reference), "--output", str(run_dir)]


def undecodable_reference(folder):
    """A reference folder that passes the start-of-run check (two PNG files) but has one undecodable image."""
    folder.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "ref-0.png")
    (folder / "ref-1.png").write_bytes(b"not a png")
    return folder


def test_a_refused_reference_keeps_every_generated_image_recorded(tmp_path, inception_file, capsys, tally):
    wrong = undecodable_reference(tmp_path / "wrong")
    tally.tried("late failure: FID reference refused at aggregation")
    assert main(fid_run(tmp_path / "run", inception_file, wrong)) == 2
    assert f"reference image {wrong / 'ref-1.png'} cannot be read" in capsys.readouterr().err
    assert tally.check_task(tmp_path / "run", "fid", planned_ids("fid", "demo", 4)) == (0, 0)


def test_a_run_refused_at_aggregation_finishes_with_a_corrected_reference_without_new_images(
    tmp_path, inception_file, capsys
):
    wrong = undecodable_reference(tmp_path / "wrong")
    assert main(fid_run(tmp_path / "run", inception_file, wrong)) == 2
    lines_before = len(read_records(records_dir(tmp_path / "run", "fid")))
    assert main(fid_run(tmp_path / "run", inception_file, DEMO_REFERENCE_DIR)) == 0, capsys.readouterr().err
    assert len(read_records(records_dir(tmp_path / "run", "fid"))) == lines_before == 4  # nothing generated again
    assert results_of(tmp_path / "run")["fid"]["num_docs"] == 4


def test_a_reference_of_the_wrong_shape_is_refused_before_any_image_is_generated(tmp_path, inception_file, capsys):
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, mu=np.zeros(8), sigma=np.eye(8))
    assert main(fid_run(tmp_path / "run", inception_file, wrong)) == 2
    assert f"--fid-ref {wrong}: mu (8,) and sigma (8, 8)" in capsys.readouterr().err
    assert read_records(records_dir(tmp_path / "run", "fid")) == []
