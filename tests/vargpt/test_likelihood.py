"""Continuation log-likelihoods: equal to a direct forward pass, the same in a batch as alone, lm-eval boundary rule."""

from __future__ import annotations

import pytest
import torch

from vargpt import score_continuations
from vargpt.likelihood import split_continuation


def direct_log_likelihood(model, processor, text, request_images, continuation) -> float:
    """Sum of log p(continuation token | everything before it), from one unbatched forward over the whole row."""
    prompt = processor.build_prompt(text, len(request_images))
    context_ids, continuation_ids = split_continuation(
        processor.tokenizer, processor.expand_image_tokens(prompt), continuation
    )
    input_ids = torch.tensor([context_ids + continuation_ids])
    pixel_values = processor.pixel_values([request_images])
    with torch.no_grad():
        logits = model(input_ids=input_ids, pixel_values=pixel_values).logits[0]
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    # Token at position t is predicted by the logits at t - 1.
    start = len(context_ids)
    return sum(float(log_probs[t - 1, input_ids[0, t]]) for t in range(start, input_ids.shape[1]))


def test_scores_equal_a_direct_forward_pass(tiny_model, images):
    model, processor = tiny_model
    texts = ["Is there a dog in the image?", "Which option is right?"]
    request_images = [[images[0]], []]
    choices = [["Yes", "No"], ["A", "B. a cat", "C"]]
    scores = score_continuations(model, processor, texts, request_images, choices)
    for text, imgs, options, row in zip(texts, request_images, choices, scores):
        for option, score in zip(options, row):
            assert score == pytest.approx(direct_log_likelihood(model, processor, text, imgs, option), abs=1e-4)
            assert score < 0


def test_batched_scores_equal_one_by_one(tiny_model, images):
    model, processor = tiny_model
    texts = ["What color is the car?", "How many?", "Where is the cat sitting, on the table or under the chair?"]
    request_images = [[images[1]], [], [images[0], images[2]]]
    choices = [["red", "blue green"], ["two", "three", "4"], ["on the table"]]
    batched = score_continuations(model, processor, texts, request_images, choices)
    alone = [score_continuations(model, processor, [t], [i], [c])[0] for t, i, c in zip(texts, request_images, choices)]
    chunked = score_continuations(model, processor, texts, request_images, choices, rows_per_batch=2)
    for expected, got, got_chunked in zip(alone, batched, chunked):
        assert got == pytest.approx(expected, abs=1e-4) and got_chunked == pytest.approx(expected, abs=1e-4)


def test_continuation_tokens_are_the_tail_of_the_joint_tokenisation(tiny_model):
    _, processor = tiny_model
    tokenizer = processor.tokenizer
    context, continuation = "USER: Is it red? ASSISTANT:", " Yes"
    context_ids, continuation_ids = split_continuation(tokenizer, context, continuation)
    whole = tokenizer(context + continuation).input_ids
    assert context_ids == tokenizer(context).input_ids
    assert continuation_ids == whole[len(context_ids) :] and continuation_ids
    # A trailing space of the context moves to the continuation (lm-eval): same split as above.
    assert split_continuation(tokenizer, context + " ", "Yes") == (context_ids, continuation_ids)


def test_empty_continuation_scores_zero(tiny_model):
    model, processor = tiny_model
    assert score_continuations(model, processor, ["Hi"], [[]], [[""]]) == [[0.0]]
