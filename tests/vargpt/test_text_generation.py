"""Batched text generation: a batch answers like one-by-one calls; stop strings, </s> and seeds behave."""

from __future__ import annotations

import pytest

from vargpt import generate_text
from vargpt.text_generation import cut_at_stop

MAX_NEW_TOKENS = 12
# Mixed prompt lengths, with and without images (two images in one request).
TEXTS = ["What is in the image?", "Describe the picture in detail, please, with every colour you see.", "Hi", "Count"]


@pytest.fixture(scope="module")
def request_images(images):
    return [[images[0]], [], [images[1], images[2]], []]


@pytest.fixture(scope="module")
def greedy_batch(tiny_model, request_images) -> list[str]:
    model, processor = tiny_model
    return generate_text(model, processor, TEXTS, request_images, max_new_tokens=MAX_NEW_TOKENS)


def test_greedy_batch_equals_one_by_one(tiny_model, request_images, greedy_batch):
    model, processor = tiny_model
    alone = [
        generate_text(model, processor, [text], [imgs], max_new_tokens=MAX_NEW_TOKENS)[0]
        for text, imgs in zip(TEXTS, request_images)
    ]
    assert greedy_batch == alone


def test_greedy_outputs_are_varied_text(greedy_batch):
    # The equality above means something only if the tiny model says different things to different prompts.
    assert all(greedy_batch) and len(set(greedy_batch)) == len(greedy_batch)


def test_stop_string_cuts_the_answer(tiny_model, request_images, greedy_batch):
    model, processor = tiny_model
    full = greedy_batch[1]
    # Stop at the second half of the unrestricted answer: greedy decoding repeats the same tokens until the stop
    # string appears, and the answer is everything before its first occurrence.
    stop = full[len(full) // 2 :][:3]
    expected = full[: full.find(stop)].strip()
    stopped = generate_text(model, processor, [TEXTS[1]], [[]], max_new_tokens=MAX_NEW_TOKENS, stop=[stop])
    assert stopped == [expected] and len(expected) < len(full)


def test_cut_at_stop_uses_the_earliest_stop_string():
    # "b\n" occurs at index 4, "c" at index 6: the text is cut at index 4.
    assert cut_at_stop("aaa b\nc", ["c", "b\n"]) == "aaa "
    assert cut_at_stop("no stop here", ["xyz", ""]) == "no stop here"


@pytest.fixture
def eos_always(tiny_model):
    """Make `</s>` the most likely next token everywhere (a hook on lm_head), undone after the test."""
    model, processor = tiny_model
    eos = processor.tokenizer.eos_token_id

    def push_eos(module, inputs, logits):
        logits = logits.clone()
        logits[..., eos] += 1e4
        return logits

    handle = model.language_model.lm_head.register_forward_hook(push_eos)
    yield
    handle.remove()


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_end_of_sequence_ends_the_answer(tiny_model, eos_always, temperature):
    model, processor = tiny_model
    out = generate_text(
        model, processor, ["Hi", "Count"], [[], []], max_new_tokens=5, temperature=temperature, seeds=[0, 1]
    )
    assert out == ["", ""]


def test_sampling_depends_on_the_seed_not_on_the_batch_position(tiny_model, request_images):
    model, processor = tiny_model
    kwargs = {"max_new_tokens": MAX_NEW_TOKENS, "temperature": 1.0}
    forward = generate_text(model, processor, TEXTS[:3], request_images[:3], seeds=[11, 12, 13], **kwargs)
    backward = generate_text(model, processor, TEXTS[:3][::-1], request_images[:3][::-1], seeds=[13, 12, 11], **kwargs)
    assert forward == backward[::-1]
    again = generate_text(model, processor, TEXTS[:3], request_images[:3], seeds=[11, 12, 13], **kwargs)
    assert again == forward
    other_seeds = generate_text(model, processor, TEXTS[:3], request_images[:3], seeds=[21, 22, 23], **kwargs)
    assert other_seeds != forward


def test_sampling_honours_stop_strings(tiny_model):
    model, processor = tiny_model
    kwargs = {"max_new_tokens": MAX_NEW_TOKENS, "temperature": 1.0, "seeds": [5]}
    full = generate_text(model, processor, ["Hi"], [[]], **kwargs)[0]
    stop = full[len(full) // 2 :][:3]
    assert generate_text(model, processor, ["Hi"], [[]], stop=[stop], **kwargs) == [full[: full.find(stop)].strip()]


def test_seed_count_must_match(tiny_model):
    model, processor = tiny_model
    with pytest.raises(ValueError, match="one seed per text"):
        generate_text(model, processor, ["a", "b"], [[], []], max_new_tokens=2, temperature=1.0, seeds=[1])
