"""The COCO text-to-image task (tasks/coco_t2i.py): documents, captions, instructions, protocol, reference, metrics.

End to end (tiny VARGPT, one and two workers, `score --run`): tests/run/test_fid_end_to_end.py; kill and resume:
tests/run/test_kill_resume.py.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import Image

from evals.run.records import Record
from evals.task_api import DataSource, TaskOptionError
from tasks import coco_t2i
from tasks.coco_t2i import COCO_T2I_TASK, build_prompt, caption_of, caption_phrase
from tasks.data.doc_fields import DocumentFieldError
from tasks.image_metrics import image_scores as scores_
from tasks.image_metrics import inception
from tasks.image_metrics.clip_score import PINNED_REVISIONS, ClipModelUnavailable
from tasks.image_metrics.dataset_reference import centre_crop_resize, dataset_reference
from tasks.image_metrics.fid import logits_to_inception_score
from tasks.image_metrics.fid_reference import FidReference

DEMO = DataSource(kind="demo")


@pytest.fixture(scope="module")
def demo_docs() -> list[dict]:
    """The bundled demo slice's documents."""
    return list(COCO_T2I_TASK.load_docs(DEMO))


@pytest.fixture(autouse=True)
def isolated_torch_home(tmp_path, monkeypatch):
    """An empty TORCH_HOME: reference features are cached per test."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))


# -- documents, captions, instructions ----------------------------------------------------------------------


def test_documents_are_the_split_rows_in_order_with_their_first_caption(demo_docs):
    assert len(demo_docs) == 24
    ids = [COCO_T2I_TASK.doc_id(d) for d in demo_docs]
    assert len(set(ids)) == 24 and ids == [d["question_id"] for d in demo_docs]
    assert [d["row"] for d in demo_docs] == list(range(24))
    assert all(caption_of(d, d["question_id"]) == d["answer"][0] for d in demo_docs)
    assert {d["data"] for d in demo_docs} == {"demo"}


@pytest.mark.parametrize(
    ("caption", "phrase"),
    [
        ("A man riding a wave on top of a surfboard.", "a man riding a wave on top of a surfboard"),
        ("Two dogs playing", "two dogs playing"),
        ("TV on a desk.", "TV on a desk"),  # an acronym keeps its capitals
        ("A", "a"),
    ],
)
def test_the_phrase_drops_the_final_period_and_lowers_the_first_letter(caption, phrase):
    assert caption_phrase(caption) == phrase


def test_the_default_instruction_is_the_released_form_and_the_caption_template_takes_it_as_written():
    caption = "A red circle on a grey background."
    expected = "Please create a photo of a red circle on a grey background."
    assert build_prompt(coco_t2i.DEFAULT_TEMPLATE, caption) == expected
    assert build_prompt("Draw this: {caption}", caption) == "Draw this: A red circle on a grey background."


def test_the_request_holds_the_instruction_the_seed_and_the_sampler(demo_docs):
    doc = demo_docs[0]
    request = COCO_T2I_TASK.build_request(doc, seed=1234)
    assert request.doc_id == doc["question_id"]
    assert request.prompt == build_prompt(coco_t2i.DEFAULT_TEMPLATE, " ".join(doc["answer"][0].split()))
    assert (request.seed, request.cfg, request.top_k, request.top_p) == (1234, 1.5, 900, 0.96)
    assert request.extra == {"condition": "emitted_token"}


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (None, "is missing"),
        ([], "empty list"),
        (["   "], "is empty"),
        ([7, "a cat"], "expected text"),
        ("a cat", "a list"),
    ],
    ids=["null", "no-captions", "blank-caption", "not-text", "not-a-list"],
)
def test_a_document_without_a_usable_first_caption_is_refused_in_one_line(demo_docs, answer, problem):
    doc = dict(demo_docs[0], answer=answer)
    with pytest.raises(DocumentFieldError) as refused:
        COCO_T2I_TASK.build_request(doc, seed=0)
    assert str(refused.value).startswith(f"document {doc['question_id']}:") and problem in str(refused.value)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("template", ["Draw {label}", "no caption here", "Draw {caption", "{phrase} and {class_name}"])
def test_a_template_without_the_caption_or_with_other_fields_is_refused(template):
    with pytest.raises(TaskOptionError):
        COCO_T2I_TASK.with_options({"template": template})


# -- protocol and fingerprint -------------------------------------------------------------------------------


def test_the_protocol_names_caption_choice_template_clip_model_and_reference():
    protocol = COCO_T2I_TASK.protocol()
    assert protocol["caption"].startswith("answer[0]")
    assert protocol["options"]["template"] == "Please create a photo of {phrase}."
    clip = protocol["clip"]
    assert (clip["model"], clip["revision"]) == ("openai/clip-vit-large-patch14", PINNED_REVISIONS[clip["model"]])
    assert "lmms-lab/COCO-Caption2017" in protocol["reference"] and "centre crop" in protocol["reference"]
    assert protocol["dataset"]["revision"] == coco_t2i.REVISION and protocol["sampler"] == "var-fid"


def test_the_fingerprint_leaves_out_the_reference_but_not_the_clip_model():
    base = COCO_T2I_TASK.with_options({"fid_ref": "/refs/a"})
    assert base.records_protocol() == COCO_T2I_TASK.with_options({"fid_ref": "/refs/b"}).records_protocol()
    assert "fid_ref" not in base.records_protocol()["options"] and "reference" not in base.records_protocol()
    other = COCO_T2I_TASK.with_options({"clip_model": "openai/clip-vit-base-patch32"})
    assert other.records_protocol() != COCO_T2I_TASK.records_protocol()
    assert other.protocol()["clip"]["revision"] == PINNED_REVISIONS["openai/clip-vit-base-patch32"]


# -- the reference: the split's images, cropped and resized ---------------------------------------------------


def striped(width: int, height: int) -> Image.Image:
    """Column x holds grey level 10 * x in every row (and row y nothing else), so a crop can be read back."""
    pixels = np.repeat((10 * np.arange(width, dtype=np.uint8))[None, :, None], height, axis=0)
    return Image.fromarray(np.repeat(pixels, 3, axis=2), "RGB")


def test_centre_crop_keeps_the_middle_columns_of_a_wide_image_and_the_middle_rows_of_a_tall_one():
    # 6 x 4 to 4 x 4: the crop is columns 1..4 (one cut each side), already of the target size, so the
    # bicubic resize at scale 1 copies it: grey levels 10, 20, 30, 40.
    wide = centre_crop_resize(striped(6, 4), 4, 4)
    assert wide.shape == (4, 4, 3) and wide[0, :, 0].tolist() == [10, 20, 30, 40]
    # 4 x 8 to 4 x 4: rows 2..5 are kept; every row is the same stripe pattern, 0..30.
    tall = np.array(striped(4, 8))
    tall[:, :, 1] = (np.arange(8, dtype=np.uint8) * 20)[:, None]  # green marks the row: 0, 20, ..., 140
    cropped = centre_crop_resize(Image.fromarray(tall), 4, 4)
    assert cropped[:, 0, 1].tolist() == [40, 60, 80, 100] and cropped[0, :, 0].tolist() == [0, 10, 20, 30]


def test_reference_features_are_computed_once_per_content_and_again_when_an_image_changes(demo_docs):
    calls = []

    def features(images_BHWC):  # a stand-in extractor: mean colour and brightness spread per image
        calls.append(len(images_BHWC))
        images = images_BHWC.astype(np.float64)
        return np.concatenate([images.mean(axis=(1, 2)), images.std(axis=(1, 2))], axis=1)

    def reference(docs):
        return dataset_reference(docs, COCO_T2I_TASK.doc_id, "image", (16, 16), features, "stand-in", "demo")

    first = reference(demo_docs)
    assert calls == [24] and first.feats_MD.shape == (24, 6)
    again = reference(demo_docs)
    assert calls == [24] and np.array_equal(again.feats_MD, first.feats_MD)  # from the cache
    changed = [dict(d) for d in demo_docs]
    changed[3]["image"] = dict(changed[7]["image"])  # one image replaced by another
    assert np.array_equal(reference(changed).feats_MD[3], first.feats_MD[7]) and calls == [24, 24]
    broken = [dict(d) for d in demo_docs]
    broken[0]["image"] = {"bytes": b"not an image", "path": None}
    assert reference(broken).feats_MD.shape == (23, 6)  # left out, with a warning


# -- aggregation --------------------------------------------------------------------------------------------


def synthetic_records(count: int) -> list[Record]:
    """Scored records of a run, rows 0..count-1, with small seeded arrays and CLIP scores 20, 21, ..."""
    rng = np.random.default_rng(0)
    records = []
    for row in range(count):
        scores = {
            coco_t2i.ROW: row,
            coco_t2i.HEIGHT: 16,
            coco_t2i.WIDTH: 16,
            scores_.DATA_SCORE: "demo",
            scores_.WEIGHTS_SCORE: "random-inception-seed0",
            scores_.CLIP_MODEL_SCORE: "random-clip-seed0",
            scores_.CLIP_SCORE: 20.0 + row,
        }
        arrays = {scores_.POOL_ARRAY: rng.normal(size=8), scores_.LOGITS_ARRAY: rng.normal(size=5)}
        records.append(Record(task="coco_t2i", doc_id=f"{row:012d}.jpg", scores=scores, arrays=arrays))
    return records


@pytest.fixture
def small_reference(monkeypatch):
    """The task's reference replaced by fixed 8-d statistics (the records' features are 8-d)."""
    feats = np.random.default_rng(1).normal(size=(6, 8))
    reference = FidReference(feats.mean(0), np.cov(feats, rowvar=False), feats, "fixed", "0", False)
    monkeypatch.setattr(coco_t2i.CocoTextToImageTask, "_reference", lambda self, label, scored: reference)


def test_metrics_do_not_depend_on_record_order_and_is_splits_follow_the_dataset_order(small_reference):
    records = synthetic_records(12)
    shuffled = records[:]
    random.Random(3).shuffle(shuffled)
    metrics = COCO_T2I_TASK.aggregate(shuffled)
    assert metrics == COCO_T2I_TASK.aggregate(records)
    logits = np.stack([r.arrays[scores_.LOGITS_ARRAY] for r in records]).astype(np.float32)  # row order, as stored
    assert metrics["inception_score_random_inception"] == logits_to_inception_score(logits)[0]
    # CLIP scores 20..31: mean 25.5; population std of 12 consecutive integers sqrt((12^2 - 1) / 12) = 3.452.
    assert metrics["clip_score_random_clip"] == 25.5
    assert metrics["clip_score_std_random_clip"] == pytest.approx(((12**2 - 1) / 12) ** 0.5)
    assert (metrics["num_images"], metrics["num_errors"]) == (12, 0)
    assert COCO_T2I_TASK.primary_metric_name(metrics) == "clip_score_random_clip"


def test_error_records_are_counted_and_clip_scores_of_two_models_are_refused(small_reference):
    records = synthetic_records(4) + [Record(task="coco_t2i", doc_id="x.jpg", error="bad document: no caption")]
    metrics = COCO_T2I_TASK.aggregate(records)
    assert (metrics["num_images"], metrics["num_errors"], metrics["clip_score_random_clip"]) == (4, 1, 21.5)
    records[0].scores[scores_.CLIP_MODEL_SCORE] = "openai/clip-vit-large-patch14@32bd64288804"
    with pytest.raises(scores_.ClipScoresMismatch, match="rerun with --overwrite"):
        COCO_T2I_TASK.aggregate(records)


def test_prefetch_fetches_the_inception_weights_and_the_clip_model(tmp_path, monkeypatch, prefetched_clip):
    # Both already in their caches (as a first prefetch leaves them): prefetch names them; the captions and COCO
    # images come with the dataset, which `evals prefetch` reads through the hub path (reads_hub_dataset).
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    weights = tmp_path / "torch_home" / "hub" / "checkpoints" / inception.WEIGHTS_FILENAME
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"cached")
    assert COCO_T2I_TASK.reads_hub_dataset
    model = "openai/clip-vit-large-patch14"
    assert COCO_T2I_TASK.prefetch_extras() == [
        f"Inception weights {weights}",
        f"CLIP model {model}@{PINNED_REVISIONS[model]} in {prefetched_clip}",
    ]


def test_every_rank_checks_its_inception_weights_and_clip_without_downloading(tmp_path, monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty_hub"))
    # Demo data: both stand-ins, named by what they are (every rank must report the same).
    assert COCO_T2I_TASK.check_inputs(DEMO) == {
        "Inception weights": "random-inception-seed0",
        "CLIP model": "random-clip-seed0",
    }
    # Hub data on a node without the CLIP: one line, and no download tried (download=False reaches the hub client
    # as local_files_only, so this would raise the same with a network).
    weights = inception.save_random_inception_weights(tmp_path / "inception.pth")
    task = COCO_T2I_TASK.with_options({"inception_weights": str(weights)})
    with pytest.raises(ClipModelUnavailable, match="not in the local Hugging Face cache"):
        task.check_inputs(DataSource(kind="hub"))
