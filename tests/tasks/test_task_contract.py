"""Every understanding task honours the Task contract on its bundled demo slice."""

from __future__ import annotations

import dataclasses
from importlib.metadata import entry_points

import pytest
from PIL import Image

from evals.run.records import Record
from evals.requests import ChoiceRequest, TextRequest
from evals.task_api import DataSource, TaskOptionError
from tasks import gqa, mmbench, mme, mmmu, okvqa, pope, scienceqa, seed, textvqa, vizwiz, vqav2

MODULES = (vqav2, gqa, mmbench, pope, seed, mme, mmmu, scienceqa, textvqa, okvqa, vizwiz)
UNDERSTANDING_TASKS = [t for module in MODULES for t in module.TASKS]
EXPECTED_NAMES = {
    "vqav2_val", "vqav2_testdev", "gqa", "mmbench_en_dev", "mmbench_en_test",
    "pope_random", "pope_popular", "pope_adversarial", "seed_image",
    "mme", "mmmu_val", "scienceqa_img",
    "textvqa_val", "ok_vqa_val2014", "vizwiz_vqa_val", "vizwiz_vqa_test",
}
# The primary metric of a perfect answer sheet on the demo slice: 100 (percent) for every task but MME, whose
# perception score sums acc + acc+ (100 + 100) over the slice's 5 perception subtasks: 5 x 200 = 1000.
ORACLE_PRIMARY = {"mme": 1000.0}
# Each task, plus the likelihood variant of the multiple-choice ones.
VARIANTS = UNDERSTANDING_TASKS + [
    t.with_options({"mode": "likelihood"}) for t in UNDERSTANDING_TASKS if "mode" in t.default_options
]
IDS = [f"{t.name}-{t.kind}" for t in VARIANTS]


@pytest.fixture(scope="module")
def demo_docs():
    """Demo documents of each task, loaded once."""
    return {t.name: list(t.load_docs(DataSource(kind="demo"))) for t in UNDERSTANDING_TASKS}


def oracle_output(request):
    """What the oracle adapter answers: the target text, or the target choice ranked first."""
    if isinstance(request, ChoiceRequest):
        return [0.0 if i == request.target else -1.0 for i in range(len(request.choices))]
    return request.target if request.target is not None else ""


def oracle_records(task, docs):
    records = []
    for doc in docs:
        request = task.build_request(doc, seed=0)
        output = oracle_output(request)
        records.append(Record(task.name, task.doc_id(doc), request.text if hasattr(request, "text") else "",
                              output, request.target, task.score(doc, output)))
    return records


def test_entry_points_register_exactly_these_tasks():
    found = {}
    for point in entry_points(group="vargpt_evals.tasks"):
        if point.name in ("vqav2", "gqa", "mmbench", "pope", "seed", "mme", "mmmu", "scienceqa", "textvqa", "okvqa",
                          "vizwiz"):
            for task in point.load():
                found[task.name] = task
    assert set(found) == EXPECTED_NAMES
    assert found["vqav2_val"].aliases == ("vqav2",)
    assert found["mmbench_en_dev"].aliases == ("mmbench",)
    assert found["seed_image"].aliases == ("seed",)
    assert found["mmmu_val"].aliases == ("mmmu",)
    assert found["scienceqa_img"].aliases == ("sqa",)
    assert [found[n].aliases for n in ("textvqa_val", "ok_vqa_val2014", "vizwiz_vqa_val")] == [
        ("textvqa",), ("okvqa",), ("vizwiz",)]
    assert all("paper" in found[n].tags for n in ("textvqa_val", "ok_vqa_val2014", "vizwiz_vqa_val"))
    assert "paper" not in found["vizwiz_vqa_test"].tags  # submission only: no number for the paper table
    assert {found[n].group for n in ("pope_random", "pope_popular", "pope_adversarial")} == {"pope"}


@pytest.mark.parametrize("task", UNDERSTANDING_TASKS, ids=[t.name for t in UNDERSTANDING_TASKS])
def test_demo_doc_ids_are_unique_and_stable(task, demo_docs):
    ids = [task.doc_id(d) for d in demo_docs[task.name]]
    assert 12 <= len(ids) == len(set(ids))
    again = [task.doc_id(d) for d in task.load_docs(DataSource(kind="demo"))]
    assert again == ids


@pytest.mark.parametrize("task", VARIANTS, ids=IDS)
def test_requests_have_the_kind_of_the_task(task, demo_docs):
    expected = ChoiceRequest if task.kind == "choice" else TextRequest
    for doc in demo_docs[task.name]:
        request = task.build_request(doc, seed=7)
        assert isinstance(request, expected)
        assert request.doc_id == task.doc_id(doc)
        assert request.text and "<image>" not in request.text  # no chat template in the task
        if isinstance(request, TextRequest):
            assert request.seed == 7
            assert request.max_new_tokens == task.option("max_new_tokens")


@pytest.mark.parametrize("task", UNDERSTANDING_TASKS, ids=[t.name for t in UNDERSTANDING_TASKS])
def test_images_decode_when_asked_to_rgb(task, demo_docs):
    request = task.build_request(demo_docs[task.name][0], seed=0)
    images = request.load_images()
    assert images and all(isinstance(im, Image.Image) and im.mode == "RGB" for im in images)


@pytest.mark.parametrize("task", [t for t in VARIANTS if t.primary_metric], ids=[i for t, i in zip(VARIANTS, IDS) if t.primary_metric])
def test_oracle_scores_100_percent(task, demo_docs):
    metrics = task.aggregate(oracle_records(task, demo_docs[task.name]))
    assert metrics[task.primary_metric] == pytest.approx(ORACLE_PRIMARY.get(task.name, 100.0))
    assert metrics["num_errors"] == 0


@pytest.mark.parametrize("task", [t for t in UNDERSTANDING_TASKS if t.primary_metric], ids=[t.name for t in UNDERSTANDING_TASKS if t.primary_metric])
def test_an_error_record_counts_as_wrong(task, demo_docs):
    records = oracle_records(task, demo_docs[task.name])
    records[0] = Record(task.name, records[0].doc_id, error="unreadable image")
    metrics = task.aggregate(records)
    assert metrics[task.primary_metric] < ORACLE_PRIMARY.get(task.name, 100.0)
    assert metrics["num_errors"] == 1


@pytest.mark.parametrize("task", VARIANTS, ids=IDS)
def test_score_is_a_pure_function(task, demo_docs):
    docs = demo_docs[task.name][:5]
    scores = [-1.0, -0.5, -2.0, -3.0, -4.0]
    outputs = [scores[: len(task.build_request(d, 0).choices)] if task.kind == "choice" else " A. yes\n" for d in docs]
    first = [task.score(d, o) for d, o in zip(docs, outputs)]
    assert [task.score(d, o) for d, o in zip(docs, outputs)] == first
    assert task.score_batch(docs, outputs) == first


@pytest.mark.parametrize("task", UNDERSTANDING_TASKS, ids=[t.name for t in UNDERSTANDING_TASKS])
def test_options_are_typed_and_checked(task, demo_docs):
    configured = task.with_options({"max_new_tokens": "7"})
    assert configured.build_request(demo_docs[task.name][0], 0).max_new_tokens == 7
    assert configured.protocol()["options"]["max_new_tokens"] == 7
    with pytest.raises(TaskOptionError):
        task.with_options({"max_new_token": "7"})


def test_unknown_mode_is_refused():
    with pytest.raises(TaskOptionError, match="mode"):
        seed.TASKS[0].with_options({"mode": "ppl"})


def test_generation_settings_follow_lmms_eval():
    settings = {t.name: (t.option("max_new_tokens"), t.option("until")) for t in UNDERSTANDING_TASKS}
    assert settings["vqav2_val"] == (16, "\n\n")
    assert settings["gqa"] == (16, "\n\n")
    assert settings["mmbench_en_dev"] == (1024, "ASSISTANT:")
    assert settings["pope_random"] == (128, "\n\n")
    assert settings["seed_image"] == (1024, "ASSISTANT:")
    assert settings["mme"] == (16, "\n\n")
    assert settings["mmmu_val"] == (128, "\n\n")  # _default_template_yaml; until is lmms-eval's default
    assert settings["scienceqa_img"] == (16, "\n\n")
    # TextVQA, OK-VQA, VizWiz: the YAMLs set only until; LLaVA's wrapper defaults to 1024 tokens, greedy.
    for name in ("textvqa_val", "ok_vqa_val2014", "vizwiz_vqa_val", "vizwiz_vqa_test"):
        assert settings[name] == (1024, "ASSISTANT:")
    assert textvqa.TASKS[0].option("ocr") is False  # lmms-eval's default kwargs
    assert all(t.option("temperature") == 0.0 for t in UNDERSTANDING_TASKS)


def test_tasks_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        gqa.TASKS[0].name = "other"  # type: ignore[misc]
