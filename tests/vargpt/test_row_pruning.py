"""Finished rows leave the batch as decoding goes, and no answer changes: greedy answers are transformers' `generate`'s.

The requests are the demo GQA ones (one image each, 16 new tokens at most), on which the tiny model's greedy
answers end after 3, 5 or 16 tokens, so a batch of 16 has rows finishing at different steps.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest
import torch
from transformers import GenerationConfig

from evals.bench.command import text_requests
from vargpt import generate_text
from vargpt.text_generation import cut_at_stop

MAX_NEW_TOKENS = 16  # GQA's cap
NEWLINE_ID = 4  # the tiny tokenizer's "\n" token


@pytest.fixture(scope="module")
def gqa() -> tuple[list[str], list[list]]:
    """Texts and images of 32 demo GQA requests (30 documents, cycled)."""
    requests, _ = text_requests(32, 0)
    return [r.text for r in requests], [list(r.load_images()) for r in requests]


def reference_tokens(model, processor, texts, images, max_new_tokens: int, stop: Sequence[str] = ()) -> torch.Tensor:
    """New tokens from transformers' `generate` (greedy, the config the harness used before), pad after the end."""
    tokenizer = processor.tokenizer
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        stop_strings=list(stop) or None,
    )
    batch = processor.encode_batch(texts, images).to(model.device, model.dtype)
    with torch.inference_mode():
        output_BL = model.generate(**batch.model_inputs(), generation_config=config, tokenizer=tokenizer)
    return output_BL[:, batch.input_ids.shape[1] :]


def reference_answers(model, processor, texts, images, batch_size: int, max_new_tokens: int, stop=()) -> list[str]:
    """`generate`'s answers, batch by batch, decoded and cut at the first stop string as the harness does."""
    answers = []
    for start in range(0, len(texts), batch_size):
        rows = slice(start, start + batch_size)
        new_BL = reference_tokens(model, processor, texts[rows], images[rows], max_new_tokens, stop)
        answers += [cut_at_stop(processor.decode(row), stop).strip() for row in new_BL]
    return answers


def answers_in_batches(model, processor, texts, images, batch_size: int, **kwargs) -> list[str]:
    """generate_text over the requests in batches of `batch_size` (seed i for request i)."""
    answers = []
    for start in range(0, len(texts), batch_size):
        rows = slice(start, start + batch_size)
        seeds = list(range(len(texts)))[rows]
        answers += generate_text(model, processor, texts[rows], images[rows], seeds=seeds, **kwargs)
    return answers


@contextmanager
def rows_per_forward(model) -> Iterator[list[int]]:
    """The batch size of every language-model forward call made inside the block, in order."""
    sizes: list[int] = []
    hook = model.language_model.register_forward_pre_hook(
        lambda module, args, kwargs: sizes.append(kwargs["inputs_embeds"].shape[0]), with_kwargs=True
    )
    try:
        yield sizes
    finally:
        hook.remove()


def answer_lengths(new_BL: torch.Tensor, eos: int) -> list[int]:
    """Tokens each row generated: up to and including its first `</s>`, else all of them."""
    return [row.index(eos) + 1 if eos in row else len(row) for row in new_BL.tolist()]


def test_the_demo_answers_end_at_different_steps(tiny_model, gqa):
    # What makes dropping rows matter (and the tests below meaningful): the rows of one batch end apart.
    model, processor = tiny_model
    texts, images = gqa
    new_BL = reference_tokens(model, processor, texts[:16], images[:16], MAX_NEW_TOKENS)
    assert set(answer_lengths(new_BL, processor.tokenizer.eos_token_id)) == {3, 5, 16}


# "\n\n" never occurs; "~" is a token of its own; "." and "C" are parts of the token "C."; "a" is also part of
# the special token "<image>", which decoding skips; with "C" and "~" the earlier cut wins.
STOPS = [(), ("\n\n",), ("~",), (".",), ("a",), ("C", "~")]


@pytest.mark.parametrize("stop", STOPS, ids=repr)
@pytest.mark.parametrize("batch_size", [1, 16])
def test_greedy_answers_are_the_answers_of_generate(tiny_model, gqa, batch_size, stop):
    model, processor = tiny_model
    texts, images = gqa
    kwargs = {"max_new_tokens": MAX_NEW_TOKENS, "stop": stop}
    expected = reference_answers(model, processor, texts, images, batch_size, **kwargs)
    assert answers_in_batches(model, processor, texts, images, batch_size, **kwargs) == expected


@pytest.mark.parametrize("stop", ["~", ".", "C", "a"])
def test_the_stop_strings_compared_with_generate_do_cut_answers(tiny_model, gqa, stop):
    # Otherwise the comparison above would not exercise stop strings at all.
    model, processor = tiny_model
    texts, images = gqa
    uncut = reference_answers(model, processor, texts, images, 16, MAX_NEW_TOKENS)
    cut = reference_answers(model, processor, texts, images, 16, MAX_NEW_TOKENS, stop=(stop,))
    assert sum(a != b for a, b in zip(uncut, cut)) >= 4


def test_finished_rows_leave_the_batch(tiny_model, gqa):
    model, processor = tiny_model
    texts, images = gqa
    new_BL = reference_tokens(model, processor, texts[:16], images[:16], MAX_NEW_TOKENS)
    lengths = answer_lengths(new_BL, processor.tokenizer.eos_token_id)
    with rows_per_forward(model) as sizes:
        generate_text(model, processor, texts[:16], images[:16], max_new_tokens=MAX_NEW_TOKENS)
    # Forward call j (the prefill is call 0) gives token j + 1 to every row whose answer is longer than j tokens.
    assert sizes == [sum(length > j for length in lengths) for j in range(max(lengths))]
    assert sizes[:3] == [16, 16, 16] and sizes[-1] < sizes[3] < 16  # rows ending after 3 tokens, then 5, leave


def test_a_stop_string_in_a_special_token_ends_a_greedy_answer_as_in_generate(tiny_model, gqa):
    # generate's stop-string check reads the text of special tokens, which decoding skips: the "a" of "<image>"
    # ends this answer, so the answer is "Y downchunhi", not the "Y downchunhi lett" that cutting the decoded
    # answer at its first "a" would give.
    model, processor = tiny_model
    texts, images = gqa
    (row,) = reference_tokens(model, processor, texts[:1], images[:1], MAX_NEW_TOKENS).tolist()
    assert processor.tokenizer.convert_ids_to_tokens(row[:9]) == [
        "Y", "▁down", "ch", "un", "hi", "<image>", None, "▁lett", "an"
    ]
    assert cut_at_stop(processor.decode(row), ["a"]) == "Y downchunhi lett"
    with rows_per_forward(model) as sizes:
        answer = generate_text(model, processor, texts[:1], images[:1], max_new_tokens=MAX_NEW_TOKENS, stop=["a"])
    assert answer == ["Y downchunhi"] == reference_answers(model, processor, texts[:1], images[:1], 1, 16, ["a"])
    assert sizes == [1] * 6  # stopped at the sixth token, "<image>"


@pytest.fixture
def newlines_first(tiny_model):
    """The first two tokens of every answer are "\\n" (a hook on lm_head, counting its calls); undone after."""
    model, _ = tiny_model
    calls = []

    def push_newline(module, inputs, logits):
        calls.append(logits.shape[0])
        if len(calls) > 2:
            return logits
        logits = logits.clone()
        logits[..., NEWLINE_ID] += 1e4
        return logits

    handle = model.language_model.lm_head.register_forward_hook(push_newline)
    yield calls
    handle.remove()


def test_a_greedy_answer_that_begins_with_the_stop_string_is_empty(tiny_model, newlines_first):
    # generate stops at a "\n\n" that begins the answer, which the stripped answer would not show.
    model, processor = tiny_model
    texts, images = ["Hi"], [[]]
    full = generate_text(model, processor, texts, images, max_new_tokens=MAX_NEW_TOKENS)
    assert full[0] and "\n\n" not in full[0]  # a rule blind to that leading "\n\n" would answer this
    newlines_first.clear()
    assert reference_answers(model, processor, texts, images, 1, MAX_NEW_TOKENS, stop=("\n\n",)) == [""]
    newlines_first.clear()
    with rows_per_forward(model) as sizes:
        assert generate_text(model, processor, texts, images, max_new_tokens=MAX_NEW_TOKENS, stop=["\n\n"]) == [""]
    assert sizes == [1, 1]


@pytest.mark.parametrize("stop", [(), ("~",), ("a",)], ids=repr)
def test_a_sample_is_the_same_alone_and_in_a_batch_that_drops_rows(tiny_model, gqa, stop):
    model, processor = tiny_model
    texts, images = gqa
    kwargs = {"max_new_tokens": MAX_NEW_TOKENS, "temperature": 1.0, "stop": stop}
    with rows_per_forward(model) as sizes:
        batched = answers_in_batches(model, processor, texts[:16], images[:16], 16, **kwargs)
    alone = answers_in_batches(model, processor, texts[:16], images[:16], 1, **kwargs)
    assert batched == alone
    assert sizes[0] == 16 and sizes[-1] < 16  # rows did leave the batch, each keeping its own generator
    assert len(set(batched)) >= 8  # the seeds do give different samples


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_zero_new_tokens_gives_empty_answers_without_running_the_model(tiny_model, gqa, temperature):
    model, processor = tiny_model
    texts, images = gqa
    with rows_per_forward(model) as sizes:
        answers = generate_text(model, processor, texts[:4], images[:4], max_new_tokens=0, temperature=temperature)
    assert answers == ["", "", "", ""] and sizes == []


def test_negative_new_tokens_raise(tiny_model):
    model, processor = tiny_model
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate_text(model, processor, ["Hi"], [[]], max_new_tokens=-1)


def test_one_new_token(tiny_model, gqa):
    model, processor = tiny_model
    texts, images = gqa
    expected = reference_answers(model, processor, texts[:16], images[:16], 16, 1)
    with rows_per_forward(model) as sizes:
        assert generate_text(model, processor, texts[:16], images[:16], max_new_tokens=1) == expected
    assert sizes == [16]  # the prefill gives the one token
    sampled = answers_in_batches(model, processor, texts[:16], images[:16], 16, max_new_tokens=1, temperature=1.0)
    assert sampled == answers_in_batches(model, processor, texts[:16], images[:16], 1, max_new_tokens=1, temperature=1.0)
    assert len(set(sampled)) >= 8
