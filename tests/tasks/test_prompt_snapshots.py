"""Each task's prompt for fixed documents equals lmms-eval 0.7.3's, character for character.

The expected prompts live in snapshots/<task>.json (reviewed like code; rewrite them on purpose with
`UPDATE_SNAPSHOTS=1 pytest tests/tasks/test_prompt_snapshots.py`). When lmms-eval is installed, the
same documents also go through the installed package's own `doc_to_text` with the kwargs of its YAML.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tasks import gqa, mmbench, mme, mmmu, okvqa, pope, scienceqa, seed, textvqa, vizwiz, vqav2

SNAPSHOTS = Path(__file__).parent / "snapshots"

MMBENCH_META = {"category": "image_scene", "L2-category": "Coarse Perception", "source": "demo", "split": "dev"}
# Fixed documents (text fields only; images play no part in the prompt).
DOCS = {
    "vqav2_val": [{"question_id": 262148000, "question": "Where is he looking?"}],
    "vqav2_testdev": [{"question_id": 262144000, "question": "What color is the bus?"}],
    "gqa": [{"id": "201307251", "imageId": "n161313", "question": "Is the t-shirt white or black?", "answer": "white"}],
    "mmbench_en_dev": [
        {"index": 11, "question": "Which scene is shown?", "hint": "The photo was taken at noon.", "answer": "B",
         "A": "a beach", "B": "a street", "C": "a forest", "D": "a kitchen", **MMBENCH_META},
        {"index": 1000012, "question": "What is the man holding?", "hint": None, "answer": "C",
         "A": "an umbrella", "B": "a phone", "C": "a cup", "D": None, **MMBENCH_META},
    ],
    "mmbench_en_test": [
        {"index": 2001, "question": "Is the light on?", "hint": "nan", "answer": None,
         "A": "yes", "B": "no", "C": None, "D": None, **MMBENCH_META},
    ],
    "pope_random": [{"question_id": "1", "question": "Is there a snowboard in the image? ", "answer": "yes"}],
    "pope_popular": [{"question_id": "1", "question": "Is there a dining table in the image?", "answer": "no"}],
    "pope_adversarial": [{"question_id": "1", "question": " Is there a fork in the image?", "answer": "no"}],
    "seed_image": [{"question_id": "101669", "question": "How many towels are in the image?", "answer": "A",
                    "choice_a": "One", "choice_b": "Two", "choice_c": "Three", "choice_d": "Four"}],
    # issue 15a: MME (the " Please answer yes or no." request replaced), MMMU (image marks kept), ScienceQA.
    "mme": [
        {"question_id": "code_reasoning/0020.png", "row": 0, "category": "code_reasoning", "answer": "Yes",
         "question": "Is a python code shown in the picture? Please answer yes or no."},
        {"question_id": "count/000000067213.jpg", "row": 1, "category": "count", "answer": "No",
         "question": " Are there three giraffes in this picture?  Please answer yes or no. "},
    ],
    "mmmu_val": [
        {"id": "validation_Art_Theory_3", "question_type": "multiple-choice", "answer": "B",
         "question": "Compare <image 2> with <image 1>. Which painting is older?",
         "options": "['<image 3>', 'the left one', 'neither']"},
        {"id": "validation_Math_7", "question_type": "open", "answer": "3.5", "options": "[]",
         "question": "<image 1> What is the value of x?"},
    ],
    "scienceqa_img": [
        {"row": 0, "hint": "Figure: Maine.\nIt is a state.", "question": "Which state is highlighted?",
         "choices": ["Maine", "Ohio", "Utah"], "answer": 0},
        {"row": 1, "hint": "", "question": "Which animal's mouth is adapted to tear through meat?",
         "choices": ["lynx", "goat"], "answer": 0},
    ],
    # issue 15b: capitalize() lower-cases the rest of TextVQA's and VizWiz's questions; OK-VQA keeps its text.
    "textvqa_val": [{"question_id": 34602, "question": "what is the brand of this CAMERA?",
                     "ocr_tokens": ["dakota", "digital", "SINGLE-USE"], "answers": ["dakota"] * 10}],
    "ok_vqa_val2014": [{"question_id": "2971475", "question": "What sport can you use this for?",
                        "answers": ["racing"] * 10, "question_type": "four", "answer_type": "other"}],
    "vizwiz_vqa_val": [{"question_id": "VizWiz_val_00000000",
                        "question": "can you tell me what this MEDICINE is please?",
                        "answers": ["unanswerable"] * 10, "category": "unanswerable"}],
    "vizwiz_vqa_test": [{"question_id": "VizWiz_test_00000000", "question": "What is this?", "answers": None,
                         "category": None}],
}
DOCS["textvqa_val_ocr"] = DOCS["textvqa_val"]  # the same document with the option ocr=true
OURS = {
    "vqav2_val": vqav2.build_prompt, "vqav2_testdev": vqav2.build_prompt, "gqa": gqa.build_prompt,
    "mmbench_en_dev": mmbench.build_prompt, "mmbench_en_test": mmbench.build_prompt,
    "pope_random": pope.build_prompt, "pope_popular": pope.build_prompt, "pope_adversarial": pope.build_prompt,
    "seed_image": seed.build_prompt,
    "mme": mme.build_prompt, "mmmu_val": mmmu.build_prompt, "scienceqa_img": scienceqa.build_prompt,
    "textvqa_val": textvqa.build_prompt, "ok_vqa_val2014": okvqa.build_prompt,
    "vizwiz_vqa_val": vizwiz.build_prompt, "vizwiz_vqa_test": vizwiz.build_prompt,
    "textvqa_val_ocr": lambda doc: textvqa.build_prompt(doc, ocr=True),
}
# (YAML under lmms_eval/tasks, module with doc_to_text, function name) of the lmms-eval counterpart.
LMMS = {
    "vqav2_val": ("vqav2/vqav2_val.yaml", "vqav2.utils", "vqav2_doc_to_text"),
    "vqav2_testdev": ("vqav2/vqav2_test.yaml", "vqav2.utils", "vqav2_doc_to_text"),
    "gqa": ("gqa/gqa.yaml", "gqa.utils", "gqa_doc_to_text"),
    "mmbench_en_dev": ("mmbench/mmbench_en_dev.yaml", "mmbench.en_utils", "mmbench_doc_to_text"),
    "mmbench_en_test": ("mmbench/mmbench_en_test.yaml", "mmbench.en_utils", "mmbench_doc_to_text"),
    "pope_random": ("pope/pope_random.yaml", "pope.utils", "pope_doc_to_text"),
    "pope_popular": ("pope/pope_pop.yaml", "pope.utils", "pope_doc_to_text"),
    "pope_adversarial": ("pope/pope_adv.yaml", "pope.utils", "pope_doc_to_text"),
    "seed_image": ("seedbench/seedbench.yaml", "seedbench.utils", "seed_doc_to_text"),
    "mme": ("mme/mme.yaml", "mme.utils", "mme_doc_to_text"),
    "mmmu_val": ("mmmu/mmmu_val.yaml", "mmmu.utils", "mmmu_doc_to_text"),
    "scienceqa_img": ("scienceqa/scienceqa_img.yaml", "scienceqa.utils", "sqa_doc_to_text"),
    "textvqa_val": ("textvqa/textvqa_val.yaml", "textvqa.utils", "textvqa_doc_to_text"),
    "ok_vqa_val2014": ("ok_vqa/ok_vqa_val2014.yaml", "ok_vqa.utils", "ok_vqa_doc_to_text"),
    "vizwiz_vqa_val": ("vizwiz_vqa/vizwiz_vqa_val.yaml", "vizwiz_vqa.utils", "vizwiz_vqa_doc_to_text"),
    "vizwiz_vqa_test": ("vizwiz_vqa/vizwiz_vqa_test.yaml", "vizwiz_vqa.utils", "vizwiz_vqa_doc_to_text"),
    "textvqa_val_ocr": ("textvqa/textvqa_val.yaml", "textvqa.utils", "textvqa_doc_to_text"),
}
# lmms-eval kwargs that differ from the YAML's default block (TextVQA's `ocr`, which lmms-eval sets in a task YAML).
LMMS_KWARG_OVERRIDES = {"textvqa_val_ocr": {"ocr": True}}


def snapshot_path(task: str) -> Path:
    return SNAPSHOTS / f"{task}.json"


def load_snapshot(task: str) -> dict:
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        cases = [{"doc": doc, "prompt": OURS[task](doc)} for doc in DOCS[task]]
        snapshot_path(task).write_text(json.dumps({"task": task, "cases": cases}, indent=1, ensure_ascii=False) + "\n")
    return json.loads(snapshot_path(task).read_text())


@pytest.mark.parametrize("task", sorted(DOCS))
def test_prompt_equals_snapshot(task):
    snapshot = load_snapshot(task)
    assert [case["doc"] for case in snapshot["cases"]] == DOCS[task]
    for case in snapshot["cases"]:
        assert OURS[task](case["doc"]) == case["prompt"]


def test_mmbench_snapshot_reads_as_the_reference_describes():
    prompt = load_snapshot("mmbench_en_dev")["cases"][0]["prompt"]
    assert prompt == (
        "The photo was taken at noon. Which scene is shown? There are several options:\n"
        "A. a beach\nB. a street\nC. a forest\nD. a kitchen\n\n"
        "Answer with the option's letter from the given choices directly."
    )


@pytest.fixture(scope="module")
def lmms_eval_tasks():
    """lmms-eval's task package (slow to import: it pulls in `evaluate` and transformers pipelines)."""
    return pytest.importorskip("lmms_eval.tasks")


@pytest.mark.parametrize("task", sorted(DOCS))
def test_snapshot_equals_installed_lmms_eval(task, lmms_eval_tasks):
    import importlib

    from lmms_eval.utils import load_yaml_config

    yaml_path, module_name, function_name = LMMS[task]
    config = load_yaml_config(str(Path(lmms_eval_tasks.__file__).parent / yaml_path))
    doc_to_text = getattr(importlib.import_module(f"lmms_eval.tasks.{module_name}"), function_name)
    kwargs = config.get("lmms_eval_specific_kwargs", {}).get("default")
    if task in LMMS_KWARG_OVERRIDES:
        kwargs = {**kwargs, **LMMS_KWARG_OVERRIDES[task]}
    for case in load_snapshot(task)["cases"]:
        doc = dict(case["doc"])
        expected = doc_to_text(doc, kwargs) if kwargs is not None else doc_to_text(doc)
        assert case["prompt"] == expected
