"""A document with a missing or empty required field is refused by build_request (the runner records it as
that document's error), with a one-line typed error naming the field and the document id."""

from __future__ import annotations

import math

import pytest

from evals.task_api import DataSource
from tasks import gqa, mmbench, mme, mmmu, okvqa, pope, scienceqa, seed, textvqa, vizwiz, vqav2
from tasks.data.doc_fields import DocumentFieldError, MissingField

MODULES = (vqav2, gqa, mmbench, pope, seed, mme, mmmu, scienceqa, textvqa, okvqa, vizwiz)
TASKS = {t.name: t for module in MODULES for t in module.TASKS}
# (task, field) pairs whose missing or empty value must refuse the document.
REQUIRED = [
    ("vqav2_val", "question"),
    ("vqav2_testdev", "question"),
    ("gqa", "question"),
    ("gqa", "answer"),
    ("mmbench_en_dev", "question"),
    ("mmbench_en_dev", "answer"),
    ("mmbench_en_dev", "A"),
    ("mmbench_en_dev", "B"),
    ("mmbench_en_test", "question"),
    ("pope_random", "question"),
    ("pope_random", "answer"),
    ("seed_image", "question"),
    ("seed_image", "choice_d"),
    ("seed_image", "answer"),
    ("mme", "question"),
    ("mme", "answer"),
    ("mme", "category"),
    ("mmmu_val", "question"),
    ("mmmu_val", "question_type"),
    ("mmmu_val", "answer"),
    ("scienceqa_img", "question"),
    ("textvqa_val", "question"),
    ("ok_vqa_val2014", "question"),
    ("vizwiz_vqa_val", "question"),
    ("vizwiz_vqa_test", "question"),
]
IDS = [f"{task}-{field}" for task, field in REQUIRED]


@pytest.fixture(scope="module")
def first_docs():
    """The first demo document of each task."""
    return {name: dict(task.load_docs(DataSource(kind="demo"))[0]) for name, task in TASKS.items()}


@pytest.mark.parametrize(("name", "field"), REQUIRED, ids=IDS)
@pytest.mark.parametrize("value", [None, float("nan"), "absent"], ids=["null", "nan", "absent"])
def test_a_missing_required_field_refuses_the_document(name, field, value, first_docs):
    task = TASKS[name]
    doc = dict(first_docs[name])
    if value == "absent":
        del doc[field]
    else:
        doc[field] = value
    with pytest.raises(MissingField) as caught:
        task.build_request(doc, seed=0)
    assert str(caught.value).startswith(f"document {task.doc_id(doc)}: required field {field!r} is missing")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("name", "field"), REQUIRED, ids=IDS)
@pytest.mark.parametrize("value", ["", "  \n"], ids=["empty", "whitespace"])
def test_an_empty_required_field_refuses_the_document(name, field, value, first_docs):
    task = TASKS[name]
    doc = dict(first_docs[name], **{field: value})
    with pytest.raises(ValueError, match=rf"^document {task.doc_id(doc)}: field {field!r} is empty"):
        task.build_request(doc, seed=0)


@pytest.mark.parametrize("name", ["mmbench_en_dev", "seed_image"])
def test_likelihood_mode_refuses_a_missing_question_too(name, first_docs):
    task = TASKS[name].with_options({"mode": "likelihood"})
    with pytest.raises(MissingField, match="'question'"):
        task.build_request(dict(first_docs[name], question=None), seed=0)


def test_vqav2_val_refuses_a_document_without_gold_answers(first_docs):
    doc = dict(first_docs["vqav2_val"], answers=[])
    with pytest.raises(DocumentFieldError, match="field 'answers' is an empty list"):
        TASKS["vqav2_val"].build_request(doc, seed=0)


def test_vqav2_testdev_needs_no_answers(first_docs):
    doc = {k: v for k, v in first_docs["vqav2_testdev"].items() if k not in ("answers", "multiple_choice_answer")}
    assert TASKS["vqav2_testdev"].build_request(doc, seed=0).text.startswith(doc["question"])


def test_pope_refuses_a_label_other_than_yes_or_no(first_docs):
    with pytest.raises(ValueError, match="is not yes/no"):
        TASKS["pope_random"].build_request(dict(first_docs["pope_random"], answer="maybe"), seed=0)


def test_mmbench_keeps_questions_with_missing_c_d_and_hint(first_docs):
    # Two-option questions hold NaN in C and D (pandas), and most have no hint: still valid documents.
    doc = dict(
        first_docs["mmbench_en_dev"], A="red", B="blue", C=math.nan, D=None, E=math.nan, hint=math.nan, answer="B"
    )
    request = TASKS["mmbench_en_dev"].build_request(doc, seed=0)
    assert request.text == (
        f"{doc['question']} There are several options:\nA. red\nB. blue\n\n"
        "Answer with the option's letter from the given choices directly."
    )


def test_mmbench_test_needs_no_answer(first_docs):
    doc = dict(first_docs["mmbench_en_test"], answer=None)
    assert TASKS["mmbench_en_test"].build_request(doc, seed=0).target is None


# -- TextVQA, OK-VQA, VizWiz: a list of answer strings -----------------------------------------------------------
ANSWER_LIST_TASKS = ["textvqa_val", "ok_vqa_val2014", "vizwiz_vqa_val"]


@pytest.mark.parametrize("name", ANSWER_LIST_TASKS)
@pytest.mark.parametrize("value", [None, "absent"], ids=["null", "absent"])
def test_answer_list_tasks_refuse_missing_gold_answers(name, value, first_docs):
    doc = dict(first_docs[name], answers=value)
    if value == "absent":
        del doc["answers"]
    with pytest.raises(MissingField, match=rf"^document {TASKS[name].doc_id(doc)}: required field 'answers'"):
        TASKS[name].build_request(doc, seed=0)


@pytest.mark.parametrize("name", ANSWER_LIST_TASKS)
def test_answer_list_tasks_refuse_empty_or_non_text_answers(name, first_docs):
    # lmms-eval's TextVQA raises on no answers (statistics.mean of nothing); its OK-VQA and VizWiz score 0,
    # which an error record also counts. A non-string answer would crash its answer processor.
    with pytest.raises(DocumentFieldError, match="field 'answers' is an empty list"):
        TASKS[name].build_request(dict(first_docs[name], answers=[]), seed=0)
    with pytest.raises(DocumentFieldError, match="item 2 of field 'answers' holds int 3"):
        TASKS[name].build_request(dict(first_docs[name], answers=["a", "b", 3]), seed=0)


def test_vizwiz_test_needs_no_answers(first_docs):
    doc = dict(first_docs["vizwiz_vqa_test"], answers=None, category=None)
    request = TASKS["vizwiz_vqa_test"].build_request(doc, seed=0)
    assert request.target is None and request.text.startswith(doc["question"].capitalize())


def test_textvqa_needs_ocr_tokens_only_when_they_are_asked_for(first_docs):
    doc = dict(first_docs["textvqa_val"], ocr_tokens=None)
    assert "Reference OCR token" not in TASKS["textvqa_val"].build_request(doc, seed=0).text
    with pytest.raises(MissingField, match="'ocr_tokens'"):
        TASKS["textvqa_val"].with_options({"ocr": "true"}).build_request(doc, seed=0)


def test_a_missing_image_cell_fails_when_the_image_is_loaded(first_docs):
    request = TASKS["ok_vqa_val2014"].build_request(dict(first_docs["ok_vqa_val2014"], image=None), seed=0)
    with pytest.raises(ValueError, match="has no image"):
        request.load_images()
