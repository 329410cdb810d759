"""Requests encoded ahead (`encode_requests`, unpadded) and collated later give the tensors of `encode_batch`.

The reference is the tokenizer's own padding (`encode_batch` pads in one tokenizer call) and the CLIP
processor run over the whole batch.
"""

from __future__ import annotations

import pytest
import torch

TEXTS = ["What is in the image?", "Hi", "Compare the two images, please, in detail.", "x"]


@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_collated_requests_equal_the_batched_encoding(tiny_model, images, padding_side):
    _, processor = tiny_model
    request_images = [[images[0]], [], [images[1], images[2]], []]
    batched = processor.encode_batch(TEXTS, request_images, padding_side=padding_side)
    collated = processor.collate(processor.encode_requests(TEXTS, request_images), padding_side)
    assert torch.equal(collated.input_ids, batched.input_ids)
    assert torch.equal(collated.attention_mask, batched.attention_mask)
    assert torch.equal(collated.pixel_values, batched.pixel_values)
    assert collated.pixel_values.shape[0] == 3  # every image of every request, in order


def test_collate_pads_on_the_requested_side(tiny_model):
    _, processor = tiny_model
    short, long = processor.encode_requests(["Hi", "A much longer question than the other"])
    width = len(long.input_ids) - len(short.input_ids)
    left = processor.collate([short, long], "left")
    assert left.attention_mask[0].tolist() == [0] * width + [1] * len(short.input_ids)
    assert left.input_ids[0, :width].tolist() == [processor.tokenizer.pad_token_id] * width
    assert left.input_ids[0, width:].tolist() == list(short.input_ids)
    assert left.pixel_values is None
    right = processor.collate([short, long], "right")
    assert right.input_ids[0, : len(short.input_ids)].tolist() == list(short.input_ids)


def test_collate_refuses_an_empty_batch(tiny_model):
    with pytest.raises(ValueError, match="at least one"):
        tiny_model[1].collate([])


def test_each_encoded_request_is_what_it_would_be_alone(tiny_model, images):
    _, processor = tiny_model
    together = processor.encode_requests(TEXTS[:3], [[images[0]], [], [images[1], images[2]]])
    alone = [processor.encode_requests([TEXTS[0]], [[images[0]]])[0], processor.encode_requests([TEXTS[1]], [[]])[0],
             processor.encode_requests([TEXTS[2]], [[images[1], images[2]]])[0]]
    for a, b in zip(together, alone):
        assert a.input_ids == b.input_ids and a.input_ids[0] == processor.tokenizer.bos_token_id
        assert (a.pixel_values is None) == (b.pixel_values is None)
        assert a.pixel_values is None or torch.equal(a.pixel_values, b.pixel_values)
    assert together[1].pixel_values is None and together[2].pixel_values.shape[0] == 2
