"""The ImageNet FID task (tasks/imagenet.py): documents, seeds, features, samples.npz and references.

Images come from a scripted stand-in for the model (deterministic pictures from each request's seed);
Inception features come from a random-weights file of the real architecture, loaded through the
`inception_weights` option exactly as the real weights file would be.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tracemalloc
import urllib.error
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from evals.cli import main
from evals.run.records import Record, RecordWriter, read_records, records_dir
from evals.run.sharding import doc_seed, shard_doc_ids
from evals.task_api import DataSource, TaskOptionError
from tasks.image_metrics import inception, tiny_clip
from tasks.image_metrics.fid_reference import (
    ADM_REFERENCE_FILENAME,
    DEMO_REFERENCE_DIR,
    FidReferenceError,
    check_reference,
    load_reference,
)
from tasks.imagenet import (
    FID_TASK,
    LOGITS_ARRAY,
    POOL_ARRAY,
    SAMPLE_ARRAY,
    InceptionFeaturesMismatch,
    make_doc_id,
    parse_doc_id,
)
from tasks.image_metrics.inception import (
    InceptionWeightsUnavailable,
    identify_weights,
    save_random_inception_weights,
)

HUB, DEMO = DataSource(kind="hub"), DataSource(kind="demo")


@pytest.fixture(scope="module", autouse=True)
def isolated_torch_home(tmp_path_factory):
    """An empty TORCH_HOME: no real weights from the user's cache, reference features cached per module."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch_home")))
        torch.set_num_threads(1)
        yield


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory) -> Path:
    """A random-weights InceptionV3 file, as --inception-weights would name it."""
    return save_random_inception_weights(tmp_path_factory.mktemp("weights") / "random-inception.pth", seed=0)


def scripted_image(seed: int, size: int) -> np.ndarray:
    """A smooth deterministic picture from a seed: an upsampled 4x4 colour field."""
    field = np.random.default_rng(seed).integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(field).resize((size, size), Image.Resampling.BILINEAR))


def generate(task, docs, run_seed=0, size=64):
    """What the runner does up to scoring: request per document (doc_seed), then one image each."""
    requests = [task.build_request(d, doc_seed(run_seed, task.name, task.doc_id(d))) for d in docs]
    return [scripted_image(r.seed, size) for r in requests]


def to_records(task, docs, scores):
    """Records as the runner stores them: numpy arrays moved from the scores to Record.arrays."""
    records = []
    for doc, result in zip(docs, scores):
        arrays = {k: v for k, v in result.items() if isinstance(v, np.ndarray) and v.ndim > 0}
        plain = {k: v for k, v in result.items() if k not in arrays}
        records.append(Record(task=task.name, doc_id=task.doc_id(doc), scores=plain, arrays=arrays))
    return records


# -- documents, prompts, seeds --------------------------------------------------------------------


def test_docs_hold_exactly_per_class_images_of_every_class():
    docs = FID_TASK.with_options({"per_class": "3"}).load_docs(HUB)
    assert len(docs) == 3000
    assert set(Counter(d["class_index"] for d in docs).values()) == {3}
    ids = [FID_TASK.doc_id(d) for d in docs]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"c\d{4}-s\d{3}", i) for i in ids)


def test_default_protocol_is_fifty_per_class():
    docs = FID_TASK.load_docs(HUB)
    assert len(docs) == 50_000
    assert docs[-1]["doc_id"] == "c0999-s049"


def test_plan_order_is_sample_major_so_a_limit_takes_whole_rounds_of_classes():
    docs = FID_TASK.with_options({"per_class": "2"}).load_docs(HUB)
    first_round = docs[:1000]  # what --limit 1000 keeps
    assert [d["class_index"] for d in first_round] == list(range(1000))
    assert {d["sample_index"] for d in first_round} == {0}
    assert [d["doc_id"] for d in docs[999:1001]] == ["c0999-s000", "c0000-s001"]


def test_demo_slice_is_eight_classes_two_each():
    docs = FID_TASK.load_docs(DEMO)
    assert [d["doc_id"] for d in docs[:9]] == [make_doc_id(c, 0) for c in range(8)] + ["c0000-s001"]
    assert len(docs) == 16


def test_request_carries_prompt_document_seed_and_var_sampler():
    doc = FID_TASK.load_docs(HUB)[5]  # class 5, "electric ray"
    request = FID_TASK.build_request(doc, seed=1234)
    assert request.doc_id == "c0005-s000"
    assert request.prompt == "Please create a photo of an electric ray."
    assert (request.seed, request.cfg, request.top_k, request.top_p) == (1234, 1.5, 900, 0.96)
    assert request.extra == {"condition": "emitted_token"}
    assert FID_TASK.protocol()["sampler"] == "var-fid"


def test_released_sampler_and_custom_template_via_options():
    task = FID_TASK.with_options({"cfg": "0", "top_p": "0.95", "template": "{class_name}, photograph"})
    request = task.build_request(task.load_docs(HUB)[0], seed=1)
    assert request.prompt == "tench, photograph"
    assert (request.cfg, request.top_p) == (0.0, 0.95)
    assert task.protocol()["sampler"] == "released"
    guided = FID_TASK.with_options({"condition": "unconditional_row"})
    assert guided.build_request(guided.load_docs(HUB)[0], seed=1).extra == {"condition": "unconditional_row"}
    assert guided.protocol()["sampler"] == "released-demo-guided"


@pytest.mark.parametrize(
    "options",
    [{"template": "a photo of {label}"}, {"template": "no class here"}, {"per_class": "0"}, {"top_p": "1.5"},
     {"condition": "class_label"}],
)
def test_bad_options_are_refused(options):
    with pytest.raises(TaskOptionError):
        FID_TASK.with_options(options)


def test_seeds_are_distinct_per_document_and_independent_of_sharding():
    docs = FID_TASK.load_docs(HUB)
    ids = [FID_TASK.doc_id(d) for d in docs]
    by_id = {d["doc_id"]: d for d in docs}
    seeds = {i: FID_TASK.build_request(by_id[i], doc_seed(7, FID_TASK.name, i)).seed for i in ids}
    assert len(set(seeds.values())) == len(ids)  # no two images share a seed, across or within classes
    for world_size in (2, 3):
        for rank in range(world_size):
            for doc_id in shard_doc_ids(ids, rank, world_size)[:50]:
                assert FID_TASK.build_request(by_id[doc_id], doc_seed(7, FID_TASK.name, doc_id)).seed == seeds[doc_id]


# -- features and metrics -------------------------------------------------------------------------


def test_features_do_not_depend_on_batch_or_shard(random_weights):
    task = FID_TASK.with_options({"inception_weights": str(random_weights), "per_class": "1"})
    docs = task.load_docs(DEMO)  # 8 documents
    images = dict(zip((d["doc_id"] for d in docs), generate(task, docs)))
    together = {d["doc_id"]: s for d, s in zip(docs, task.score_batch(docs, [images[d["doc_id"]] for d in docs]))}
    for rank in range(2):  # two workers, batches of three
        share = docs[rank::2]
        for start in range(0, len(share), 3):
            batch = share[start : start + 3]
            for doc, scores in zip(batch, task.score_batch(batch, [images[d["doc_id"]] for d in batch])):
                assert np.array_equal(scores[POOL_ARRAY], together[doc["doc_id"]][POOL_ARRAY])
                assert np.array_equal(scores[LOGITS_ARRAY], together[doc["doc_id"]][LOGITS_ARRAY])
    assert together["c0000-s000"][POOL_ARRAY].shape == (2048,)
    assert together["c0000-s000"][LOGITS_ARRAY].shape == (1008,)


@pytest.fixture(scope="module")
def small_reference(tmp_path_factory) -> Path:
    """Six reference PNGs (a smaller stand-in for the demo folder: Inception on CPU is slow)."""
    folder = tmp_path_factory.mktemp("reference")
    for i in range(6):
        Image.fromarray(scripted_image(1000 + i, 32)).save(folder / f"ref-{i}.png")
    return folder


def test_run_writes_metrics_named_for_random_weights_and_adm_samples_npz(random_weights, small_reference, tmp_path):
    options = {"inception_weights": str(random_weights), "fid_ref": str(small_reference)}
    task = FID_TASK.with_options({**options, "per_class": "1", "save_samples": "1"})
    docs = task.load_docs(DEMO)
    images = generate(task, docs, size=256)
    records = to_records(task, docs, task.score_batch(docs, images))
    records.append(Record(task=task.name, doc_id="c0999-s049", error="adapter failed: boom"))

    metrics = task.aggregate(list(reversed(records)))  # any record order
    assert metrics["num_images"] == 8 and metrics["num_errors"] == 1
    assert {"fid_random_inception", "inception_score_random_inception", "inception_score_std_random_inception",
            "precision_random_inception", "recall_random_inception"} <= set(metrics)
    assert "fid" not in metrics  # random weights never report under the real metric's name
    assert metrics["fid_random_inception"] > 0

    written = task.write_artifacts(records, tmp_path)  # tmp_path: the run folder
    out = tmp_path / "fid"
    with np.load(out / "samples.npz") as samples:
        assert samples["arr_0"].shape == (8, 256, 256, 3) and samples["arr_0"].dtype == np.uint8
        np.testing.assert_array_equal(samples["arr_0"][3], images[3])  # plan order
        np.testing.assert_array_equal(samples["arr_1"], np.arange(8))
    assert len(list((out / "samples").glob("c*-s*.png"))) == 8
    assert Image.open(out / "samples_grid.png").size == (128, 8 * 128)  # 8 classes x 1 sample
    assert out / "samples_grid.png" in written and out / "samples.npz" in written


def write_saved_samples(run_dir: Path, count: int) -> tuple[int, dict[str, np.ndarray]]:
    """Store `count` 256-px samples as the runner does, read them back, write the artifacts: (peak bytes, images)."""
    writer = RecordWriter(run_dir, "fid", rank=0)
    # Sample index 8: outside the sample grid, which holds its 64 cells at once.
    images = {make_doc_id(c, 8): scripted_image(c, 256) for c in range(count)}
    for doc_id, image in images.items():
        writer.append([Record(task="fid", doc_id=doc_id, arrays={SAMPLE_ARRAY: image})])
    tracemalloc.start()
    records = read_records(records_dir(run_dir, "fid"), load_arrays=True)
    FID_TASK.with_options({"save_samples": "1"}).write_artifacts(records, run_dir)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, images


def test_saved_samples_stream_from_the_run_folder_one_at_a_time(tmp_path):
    # Each sample is 256 x 256 x 3 = 196,608 bytes. Held at once, 32 samples would take 24 x 196,608 bytes
    # (4.7 MB) more than 8 do; streamed, the peak does not grow with the count (less than one sample apart).
    peak_8, _ = write_saved_samples(tmp_path / "eight", 8)
    peak_32, images = write_saved_samples(tmp_path / "thirty-two", 32)
    assert peak_32 - peak_8 < 196_608
    with np.load(tmp_path / "thirty-two" / "fid" / "samples.npz") as samples:
        assert samples["arr_0"].shape == (32, 256, 256, 3)
        np.testing.assert_array_equal(samples["arr_0"][5], images[make_doc_id(5, 8)])  # plan order: by class
        np.testing.assert_array_equal(samples["arr_1"], np.arange(32))


def test_records_scored_with_different_weights_are_not_mixed():
    records = [
        Record(task="fid", doc_id=make_doc_id(c, 0), scores={"inception_weights": label},
               arrays={POOL_ARRAY: np.zeros(2048, np.float32), LOGITS_ARRAY: np.zeros(1008, np.float32)})
        for c, label in enumerate(["tf-inception-2015-12-05", "random-inception-seed0"])
    ]
    with pytest.raises(InceptionFeaturesMismatch):
        FID_TASK.aggregate(records)


# -- weights and references -----------------------------------------------------------------------


def test_missing_weights_offline_is_a_one_line_error(monkeypatch):
    def offline(url, target):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(inception, "download_file", offline)
    with pytest.raises(InceptionWeightsUnavailable) as caught:
        inception.load_inception(None, allow_random_standin=False, device=torch.device("cpu"))
    message = str(caught.value)
    assert "\n" not in message and inception.WEIGHTS_FILENAME in message and "--inception-weights" in message
    _, weights = inception.load_inception(None, allow_random_standin=True, device=torch.device("cpu"))
    assert weights.label == "random-inception-seed0"  # demo data only


def test_weights_files_are_identified_by_content(random_weights, tmp_path):
    assert identify_weights(random_weights).label == "random-inception-seed0"
    plain = tmp_path / "copy.pth"
    torch.save(dict(torch.load(random_weights, weights_only=True)), plain)  # same tensors, no marker
    assert identify_weights(plain).kind == "unverified"
    assert inception.metric_suffix(identify_weights(plain).label) == "_unverified_inception"


def test_folder_reference_features_are_computed_once_and_cached():
    calls = []

    def features(images):
        calls.append(len(images))
        return images.reshape(len(images), -1)[:, :2048].astype(np.float32)

    first = load_reference(DEMO_REFERENCE_DIR, features, "test-features", official_weights=False)
    second = load_reference(DEMO_REFERENCE_DIR, features, "test-features", official_weights=False)
    assert sum(calls) == 32 and first.feats_MD.shape == (32, 2048)
    np.testing.assert_array_equal(first.sigma_DD, second.sigma_DD)


def unused_features(images):
    raise AssertionError("no features should be computed for a refused reference")


def check_only(path, weights_label, official_weights):
    """check_reference with load_reference's arguments (it computes no features)."""
    return check_reference(path, weights_label, official_weights)


def load_with_unused_features(path, weights_label, official_weights):
    """load_reference whose feature function must not be called."""
    return load_reference(path, unused_features, weights_label, official_weights)


@pytest.mark.parametrize("refuse", [check_only, load_with_unused_features])
@pytest.mark.parametrize(
    "arrays, expected",
    [
        ({"mu": np.zeros(10), "sigma": np.eye(10)}, r"mu \(10,\) and sigma \(10, 10\); expected \(2048,\)"),
        ({"arr_0": np.zeros((4, 8, 8, 3), np.float32)}, r"arr_0 is float32 \(4, 8, 8, 3\); expected uint8"),
        ({"arr_0": np.zeros((1, 8, 8, 3), np.uint8)}, r"arr_0 holds 1 images; at least 2 are needed"),
        ({"images": np.zeros((4, 8, 8, 3), np.uint8)}, r"expected mu and sigma"),
    ],
)
def test_wrong_shaped_reference_is_refused_in_one_line(tmp_path, arrays, expected, refuse):
    path = tmp_path / "ref.npz"
    np.savez(path, **arrays)
    with pytest.raises(FidReferenceError, match=expected) as caught:
        refuse(path, "tf-inception-2015-12-05", official_weights=True)
    assert "\n" not in str(caught.value)


def test_adm_statistics_are_refused_with_other_weights(tmp_path):
    path = tmp_path / "adm.npz"
    np.savez(path, mu=np.zeros(2048), sigma=np.eye(2048))
    with pytest.raises(FidReferenceError, match="statistics of the official TF Inception"):
        load_reference(path, unused_features, "random-inception-seed0", official_weights=False)


def test_doc_ids_round_trip():
    assert parse_doc_id(make_doc_id(412, 7)) == (412, 7)
    assert make_doc_id(412, 7) == "c0412-s007"


def test_prefetch_names_the_weights_reference_and_clip_it_resolved(random_weights, small_reference):
    clip_folder = tiny_clip.cached_folder()  # a folder: resolved as it is, no hub lookup
    options = {"inception_weights": str(random_weights), "fid_ref": str(small_reference)}
    options["clip_model"] = str(clip_folder)
    assert FID_TASK.with_options(options).prefetch_extras() == [
        f"Inception weights {random_weights}",
        f"FID reference {small_reference}",
        f"CLIP model {clip_folder}",
    ]


# -- the start of a run, the fingerprint, the summary and prefetch ----------------------------------


def test_prepare_refuses_a_wrong_shaped_reference_before_any_image(random_weights, tmp_path, monkeypatch):
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, mu=np.zeros(8), sigma=np.eye(8))
    monkeypatch.setattr("tasks.image_metrics.image_scores.load_inception", unused_features)  # no network
    task = FID_TASK.with_options({"inception_weights": str(random_weights), "fid_ref": str(wrong)})
    with pytest.raises(FidReferenceError, match=r"mu \(8,\) and sigma \(8, 8\)"):
        task.prepare(DEMO)


def test_prepare_refuses_missing_weights_offline_and_lets_demo_data_use_the_random_stand_in(monkeypatch):
    def offline(url, target):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(inception, "download_file", offline)
    with pytest.raises(InceptionWeightsUnavailable, match=inception.WEIGHTS_FILENAME):
        FID_TASK.prepare(HUB)
    FID_TASK.prepare(DEMO)  # random weights stand in; the bundled demo reference folder passes the check


def test_fingerprint_leaves_out_the_reference_but_not_what_decides_the_features(random_weights):
    base = FID_TASK.with_options({"fid_ref": "/refs/a.npz"})
    assert base.records_protocol() == FID_TASK.with_options({"fid_ref": "/refs/b"}).records_protocol()
    assert "fid_ref" not in base.records_protocol()["options"] and "metrics" not in base.records_protocol()
    assert base.protocol()["options"]["fid_ref"] == "/refs/a.npz"  # results.json still says which reference
    for changed in ({"inception_weights": str(random_weights)}, {"per_class": "2"}, {"save_samples": "1"}):
        assert FID_TASK.with_options(changed).records_protocol() != FID_TASK.records_protocol(), changed


def test_primary_metric_carries_the_suffix_of_the_weights():
    assert FID_TASK.primary_metric_name({"fid_random_inception": 9.0, "inception_score_random_inception": 1.5}) == (
        "fid_random_inception"
    )
    assert FID_TASK.primary_metric_name({"fid": 2.0, "inception_score": 300.0}) == "fid"
    assert FID_TASK.primary_metric_name({"num_images": 1}) == "fid"  # one image: no FID, the name stays


def test_prefetch_lists_the_weights_reference_and_clip_and_no_dataset(tmp_path, monkeypatch, capsys, prefetched_clip):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    weights = tmp_path / "hub" / "checkpoints" / inception.WEIGHTS_FILENAME
    reference = tmp_path / "fid_references" / ADM_REFERENCE_FILENAME
    for path in (weights, reference):  # already cached: prefetch only names them
        path.parent.mkdir(parents=True)
        path.write_bytes(b"cached")
    assert main(["prefetch", "--tasks", "fid", "--model", "none"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"fid: Inception weights {weights}",
        f"fid: FID reference {reference}",
        f"fid: CLIP model openai/clip-vit-large-patch14@32bd64288804d66eefd0ccbe215aa642df71cc41 in {prefetched_clip}",
    ]


def test_weights_url_is_torch_fidelity_s():
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    assert inception.WEIGHTS_URL == URL_INCEPTION_V3


def test_importing_the_task_imports_neither_torch_nor_torch_fidelity():
    code = "import sys, tasks.imagenet; print(sorted({'torch', 'torch_fidelity'} & set(sys.modules)))"
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert imported.strip() == "[]"  # `evals list` reads the registry without paying for them (seconds)
