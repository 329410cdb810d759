"""Understanding parity: VARGPT's logits equal transformers' own LlavaForConditionalGeneration with the same weights.

The LLaVA model with VARGPT's weights is the `llava` fixture of conftest.py.
"""

from __future__ import annotations

import pytest
import torch

TOLERANCE = 1e-5

def max_logit_difference(tiny_model, llava, texts, images) -> float:
    model, processor = tiny_model
    batch = processor.encode_batch(texts, images, padding_side="left")
    with torch.no_grad():
        ours_BLV = model(**batch.model_inputs()).logits
        theirs_BLV = llava(**batch.model_inputs()).logits
    real_BL = batch.attention_mask.bool()  # padded positions are masked out of the comparison
    return float((ours_BLV - theirs_BLV)[real_BL].abs().max())


def test_logits_match_llava_with_one_image(tiny_model, llava, images):
    assert max_logit_difference(tiny_model, llava, ["What is in the image?"], [[images[0]]]) < TOLERANCE


def test_logits_match_llava_with_two_images(tiny_model, llava, images):
    difference = max_logit_difference(tiny_model, llava, ["Which animal is this?"], [[images[0], images[2]]])
    assert difference < TOLERANCE


def test_logits_match_llava_without_image(tiny_model, llava):
    assert max_logit_difference(tiny_model, llava, ["Tell me a story about a dog."], [[]]) < TOLERANCE


def test_logits_match_llava_in_a_left_padded_batch(tiny_model, llava, images):
    texts = ["What color is the car?", "How many people are there in the room next to the window?", "Hi"]
    batch_images = [[images[1]], [], [images[0], images[2]]]
    assert max_logit_difference(tiny_model, llava, texts, batch_images) < TOLERANCE


def test_image_features_change_the_logits(tiny_model, images):
    # Guards the parity tests against a merge that ignores the image: a different image changes the logits.
    model, processor = tiny_model
    first = processor.encode_batch(["What is in the image?"], [[images[0]]])
    second = processor.encode_batch(["What is in the image?"], [[images[2]]])
    with torch.no_grad():
        difference = (model(**first.model_inputs()).logits - model(**second.model_inputs()).logits).abs().max()
    assert difference > 1e-3


def test_mismatched_image_tokens_raise(tiny_model, images):
    model, processor = tiny_model
    batch = processor.encode_batch(["What is in the image?"], [[images[0]]])
    two_images = processor.pixel_values([[images[0], images[1]]])
    with pytest.raises(ValueError, match="do not match"):
        model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, pixel_values=two_images)


def test_loss_matches_llava_and_ignores_image_generation_pads(tiny_model, llava, images):
    model, processor = tiny_model
    batch = processor.encode_batch(["What is in the image?", "Hi"], [[images[0]], []])
    labels = batch.input_ids.masked_fill(batch.attention_mask == 0, -100)
    with torch.no_grad():
        ours = model(**batch.model_inputs(), labels=labels).loss
        theirs = llava(**batch.model_inputs(), labels=labels).loss
        # Labelling the last three positions <|image_gen_pad|> must equal leaving them out (-100).
        as_pad = labels.clone()
        as_pad[:, -3:] = model.config.image_gen_pad_token_id
        ignored = labels.clone()
        ignored[:, -3:] = -100
        loss_with_pads = model(**batch.model_inputs(), labels=as_pad).loss
        loss_ignored = model(**batch.model_inputs(), labels=ignored).loss
    assert abs(float(ours - theirs)) < TOLERANCE
    assert torch.equal(loss_with_pads, loss_ignored) and not torch.equal(loss_ignored, ours)
