"""The lmms-eval model `vargpt`: resolved by lmms-eval's registry, built on the tiny checkpoint, fed real Instances.

Requests come from lmms-eval's own `ConfigurableTask.build_all_requests` on the task YAMLs in
`lmms_tasks/` (the bundled POPE and SEED-Bench demo slices), exactly as `python -m lmms_eval` builds them.
"""

from __future__ import annotations

from pathlib import Path

import lmms_eval.models
import pytest
import torch
from lmms_eval.api.instance import Instance
from lmms_eval.models.registry_v2 import ModelRegistryV2
from lmms_eval.tasks import TaskManager, get_task_dict

from evals.interop import lmms_eval_model
from evals.interop.lmms_eval_model import (
    DEFAULT_MAX_NEW_TOKENS,
    GenerationSettings,
    UnsupportedGenerationOption,
    VargptLmms,
    gen_kwargs_to_settings,
    process_device,
    truncate_at_stop,
)
from evals.requests import ChoiceRequest, TextRequest

LMMS_TASKS = Path(__file__).parent / "lmms_tasks"
POPE_TASK = "vargpt_demo_pope"
SEED_TASK = "vargpt_demo_seed_ppl"
LIMIT = 4


@pytest.fixture(scope="module")
def lmms_tasks():
    """The two demo tasks with their Instances built by lmms-eval (first LIMIT documents)."""
    manager = TaskManager(include_path=str(LMMS_TASKS), include_defaults=False, model_name="vargpt")
    tasks = get_task_dict([POPE_TASK, SEED_TASK], manager)
    for task in tasks.values():
        task.build_all_requests(limit=LIMIT, rank=0, world_size=1)
    return tasks


@pytest.fixture(scope="module")
def tiny_lm(lmms_tasks):
    """`--model vargpt --model_args pretrained=tiny --batch_size 2`, built the way lmms-eval's evaluator does."""
    torch.manual_seed(0)
    lm = lmms_eval.models.get_model("vargpt").create_from_arg_string(
        "pretrained=tiny,dtype=float32,allow_pickle=False",
        {"batch_size": "2", "max_batch_size": None, "device": "cpu"},
    )
    for name, task in lmms_tasks.items():
        lm.task_dict[name] = task.dataset  # what simple_evaluate does before running requests
    return lm


# -- registration ----------------------------------------------------------------------------------------
def test_lmms_eval_resolves_vargpt_from_the_entry_point():
    registry = ModelRegistryV2()
    registry.load_entrypoint_manifests()  # only entry points: no built-in named vargpt can answer
    resolved = registry.resolve("vargpt")
    assert (resolved.model_type, resolved.class_path) == ("simple", lmms_eval_model.CLASS_PATH)
    assert registry.get_model_class("vargpt") is VargptLmms
    assert lmms_eval.models.get_model("vargpt") is VargptLmms  # the registry the CLI uses


def test_model_args_build_the_tiny_checkpoint(tiny_lm):
    assert tiny_lm.adapter.describe()["id"] == "tiny"
    assert (tiny_lm.batch_size_per_gpu, tiny_lm.device, tiny_lm.rank, tiny_lm.world_size) == (2, "cpu", 0, 1)


# -- generate_until --------------------------------------------------------------------------------------
def test_generate_until_answers_lmms_eval_instances_as_the_adapter_does(tiny_lm, lmms_tasks):
    instances = lmms_tasks[POPE_TASK].instances
    assert len(instances) == LIMIT and all(i.request_type == "generate_until" for i in instances)
    outputs = tiny_lm.generate_until(instances)
    expected = []
    for inst in instances:
        context, _, doc_to_visual, doc_id, task, split = inst.args
        images = doc_to_visual(lmms_tasks[task].dataset[split][doc_id])
        request = TextRequest(doc_id=str(doc_id), text=context, load_images=lambda images=images: images,
                              max_new_tokens=8, stop=("\n\n",), temperature=0.0)
        expected.append(tiny_lm.adapter.generate_text([request])[0])
    # Greedy decoding one request at a time must give what the batched plugin gave, in request order.
    assert outputs == expected
    assert all(isinstance(o, str) and "\n\n" not in o for o in outputs)


def test_generate_until_multi_round_is_refused(tiny_lm):
    with pytest.raises(NotImplementedError, match="not supported by vargpt"):
        tiny_lm.generate_until_multi_round([])


# -- loglikelihood ---------------------------------------------------------------------------------------
def test_loglikelihood_answers_multiple_choice_instances_with_the_adapters_scores(tiny_lm, lmms_tasks):
    instances = lmms_tasks[SEED_TASK].instances
    assert len(instances) == 4 * LIMIT and all(i.request_type == "loglikelihood" for i in instances)
    results = tiny_lm.loglikelihood(instances)
    assert len(results) == len(instances)
    assert all(isinstance(loss, float) and isinstance(greedy, bool) for loss, greedy in results)
    for doc_id in range(LIMIT):
        rows = [i for i, inst in enumerate(instances) if inst.args[3] == doc_id]
        context, _, doc_to_visual, _, task, split = instances[rows[0]].args
        images = doc_to_visual(lmms_tasks[task].dataset[split][doc_id])
        choices = tuple(instances[i].args[1] for i in rows)  # " " + option text, as lmms-eval sends them
        request = ChoiceRequest(doc_id=str(doc_id), text=context, choices=choices,
                                load_images=lambda images=images: images)
        scores = tiny_lm.adapter.score_choices([request])[0]
        # lmms-eval's multiple_choice takes argmin: the plugin returns the negative log-likelihood.
        assert [results[i][0] for i in rows] == pytest.approx([-s for s in scores], rel=1e-5, abs=1e-5)
        assert all(loss > 0 for loss in (results[i][0] for i in rows))


def test_is_greedy_is_true_exactly_for_the_greedy_continuation(tiny_lm, lmms_tasks):
    inst = lmms_tasks[SEED_TASK].instances[0]
    context, _, doc_to_visual, doc_id, task, split = inst.args
    doc = lmms_tasks[task].dataset[split][doc_id]
    greedy = tiny_lm.adapter.generate_text([TextRequest(doc_id="g", text=context, max_new_tokens=4,
                                                        load_images=lambda: doc_to_visual(doc))])[0].strip()
    assert greedy, "the tiny model produced no text to test with"
    wrong = "zq" if not greedy.startswith("zq") else "qz"
    metadata = {"task": task, "doc_id": doc_id, "repeats": 1, "split": split}
    requests = [Instance("loglikelihood", (context, " " + cont, doc_to_visual, doc_id, task, split), k, metadata)
                for k, cont in enumerate((greedy, wrong))]
    assert [greedy_flag for _, greedy_flag in tiny_lm.loglikelihood(requests)] == [True, False]


# -- request mapping (a recording adapter, no model) -------------------------------------------------------
class RecordingAdapter:
    """Answers 'yes ASSISTANT: no\\n\\nmore' to everything and keeps every batch it was given."""

    name = "recording"

    def __init__(self):
        self.text_batches: list[list[TextRequest]] = []
        self.choice_batches: list[list[ChoiceRequest]] = []

    def generate_text(self, requests):
        self.text_batches.append(list(requests))
        return [f"{r.text}|yes ASSISTANT: no\n\nmore" for r in requests]

    def score_choices(self, requests):
        self.choice_batches.append(list(requests))
        return [[-float(len(c)) for c in r.choices] for r in requests]

    def generate_images(self, requests):
        raise NotImplementedError

    def describe(self):
        return {"id": self.name}


def _generate_instance(doc_id: int, context: str, gen_kwargs: dict) -> Instance:
    metadata = {"task": "t", "doc_id": doc_id, "repeats": 1, "split": "test"}
    arguments = (context, gen_kwargs, lambda doc: [doc["image"]], doc_id, "t", "test")
    return Instance("generate_until", arguments, 0, metadata)


@pytest.fixture
def recording_lm():
    from PIL import Image

    lm = VargptLmms(adapter=RecordingAdapter(), batch_size=2, device="cpu")
    lm.task_dict = {"t": {"test": [{"image": Image.new("RGB", (4, 4), (i, 0, 0))} for i in range(5)]}}
    return lm


def test_generate_until_maps_gen_kwargs_batches_and_restores_order(recording_lm):
    short = {"until": ["ASSISTANT:"], "max_new_tokens": 5}
    long = {"until": "\n\n", "max_new_tokens": 9, "temperature": 0}
    texts = [("a", short), ("bbbb", long), ("cc", short), ("ddd", short), ("e", long)]
    instances = [_generate_instance(i, text, kwargs) for i, (text, kwargs) in enumerate(texts)]
    outputs = recording_lm.generate_until(instances)
    # Each output is the adapter's answer cut at the request's own `until` (ASSISTANT: for short, \n\n for long).
    assert outputs == ["a|yes ", "bbbb|yes ASSISTANT: no", "cc|yes ", "ddd|yes ", "e|yes ASSISTANT: no"]
    batches = recording_lm.adapter.text_batches
    assert all(len(b) <= 2 and len({(r.max_new_tokens, r.stop) for r in b}) == 1 for b in batches)
    by_text = {r.text: r for b in batches for r in b}
    assert (by_text["a"].max_new_tokens, by_text["a"].stop, by_text["a"].temperature) == (5, ("ASSISTANT:",), 0.0)
    assert (by_text["e"].max_new_tokens, by_text["e"].stop) == (9, ("\n\n",))
    assert by_text["ddd"].load_images()[0].getpixel((0, 0)) == (3, 0, 0)  # the document's own image, loaded lazily
    assert by_text["ddd"].doc_id == "t/test/3"


def test_loglikelihood_groups_the_options_of_one_question(recording_lm):
    metadata = {"task": "t", "doc_id": 0, "repeats": 1, "split": "test"}
    options = [" red", " a blue one", " green"]
    instances = [Instance("loglikelihood", ("ctx", opt, lambda doc: [doc["image"]], 0, "t", "test"), k, metadata)
                 for k, opt in enumerate(options)]
    results = recording_lm.loglikelihood(instances)
    # RecordingAdapter scores -len(option): the plugin negates it (a loss) and keeps request order.
    assert [loss for loss, _ in results] == [4.0, 11.0, 6.0]
    assert [len(b) for b in recording_lm.adapter.choice_batches] == [1]
    assert recording_lm.adapter.choice_batches[0][0].choices == tuple(options)


# -- pure helpers ----------------------------------------------------------------------------------------
def test_gen_kwargs_defaults_follow_lmms_eval_llava():
    assert gen_kwargs_to_settings({}) == GenerationSettings(DEFAULT_MAX_NEW_TOKENS, (), 0.0)
    assert gen_kwargs_to_settings({"until": "x", "max_new_tokens": "3", "temperature": "0.5", "do_sample": True,
                                   "image_aspect_ratio": "original"}) == GenerationSettings(3, ("x",), 0.5)


def test_gen_kwargs_greedy_ignores_top_p_but_sampling_cannot():
    assert gen_kwargs_to_settings({"temperature": 0, "top_p": 0}).temperature == 0.0  # POPE split tasks send top_p 0
    with pytest.raises(UnsupportedGenerationOption, match="top_p"):
        gen_kwargs_to_settings({"temperature": 0.7, "top_p": 0.9})
    with pytest.raises(UnsupportedGenerationOption, match="num_beams"):
        gen_kwargs_to_settings({"num_beams": 4})


def test_truncate_at_stop_cuts_at_the_earliest_stop_string():
    assert truncate_at_stop("a\n\nb ASSISTANT: c", ("ASSISTANT:", "\n\n")) == "a"
    assert truncate_at_stop("abc", ("", "z")) == "abc"


@pytest.mark.parametrize("device, local_rank, world_size, gpus, expected", [
    (None, 0, 1, 0, "cpu"),
    (None, 0, 1, 2, "cuda:0"),
    ("cuda", 3, 4, 4, "cuda:3"),  # accelerate launch: one GPU per process
    ("cuda:0", 1, 2, 2, "cuda:1"),  # a fixed device would stack every rank on one GPU
    ("cpu", 1, 2, 2, "cpu"),
])
def test_each_process_gets_its_local_rank_device(device, local_rank, world_size, gpus, expected):
    assert process_device(device, local_rank, world_size, gpus) == expected


def test_rank_and_world_size_come_from_the_launcher(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    lm = VargptLmms(adapter=RecordingAdapter(), device="cpu")
    assert (lm.rank, lm.world_size) == (1, 2)


def test_batch_size_auto_is_refused():
    with pytest.raises(ValueError, match="--batch_size N"):
        VargptLmms(adapter=RecordingAdapter(), batch_size="auto", device="cpu")
