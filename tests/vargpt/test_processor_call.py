"""`processor(text=..., images=..., return_tensors="pt")`, the transformers processor call, as LlavaProcessor answers it.

The reference for the call itself is `encode_prompts` (the raw-text path the harness uses); the reference for
"code written for LLaVA-1.5 in transformers runs unchanged" is transformers' own LlavaProcessor and
LlavaForConditionalGeneration holding the tiny model's weights (the `llava` fixture), run by the same code.
"""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import BatchFeature, LlavaProcessor

from vargpt.processing_vargpt import IMAGE_TOKEN


def llava_1_5_example(model, processor, images, prompts: list[str]) -> tuple[torch.Tensor, list[str]]:
    """Batched generation as transformers' LLaVA-1.5 documentation writes it; nothing here knows about VARGPT."""
    processor.tokenizer.padding_side = "left"
    inputs = processor(images=images, text=prompts, padding=True, return_tensors="pt").to(model.device, torch.float32)
    generate_ids = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    return generate_ids, processor.batch_decode(generate_ids, skip_special_tokens=True)


@pytest.fixture
def llava_processor(tiny_model, monkeypatch) -> LlavaProcessor:
    """transformers' LlavaProcessor over the tiny checkpoint's tokenizer and CLIP image processor."""
    model, processor = tiny_model
    # The tokenizer is shared with the session's processor; the example sets its padding side, put it back after.
    monkeypatch.setattr(processor.tokenizer, "padding_side", processor.tokenizer.padding_side)
    return LlavaProcessor(
        image_processor=processor.image_processor,
        tokenizer=processor.tokenizer,
        patch_size=model.config.vision_config.patch_size,
        vision_feature_select_strategy=model.config.vision_feature_select_strategy,
        num_additional_image_tokens=1,  # CLIP's CLS, which the "default" strategy drops again
    )


def test_the_keyword_call_gives_the_logits_of_encode_prompts(tiny_model, images):
    model, processor = tiny_model
    per_prompt = [[images[1]], [], [images[0], images[2]]]
    prompts = [
        processor.build_prompt(text, len(request_images))
        for text, request_images in zip(["What color is the car?", "Hi", "Which animal is this?"], per_prompt)
    ]
    inputs = processor(
        text=prompts, images=[images[1], images[0], images[2]], padding=True, padding_side="left", return_tensors="pt"
    )
    assert isinstance(inputs, BatchFeature)
    assert set(inputs) == {"input_ids", "attention_mask", "pixel_values"}
    reference = processor.encode_prompts(prompts, per_prompt, padding_side="left")
    with torch.no_grad():
        logits_BLV = model(**inputs).logits
        reference_BLV = model(**reference.model_inputs()).logits
    assert torch.equal(logits_BLV, reference_BLV)
    # Images grouped per prompt are the same call.
    nested = processor(text=prompts, images=per_prompt, padding=True, padding_side="left", return_tensors="pt")
    assert all(torch.equal(nested[key], inputs[key]) for key in inputs)


def test_one_prompt_expands_its_image_marker_to_one_token_per_feature(tiny_model, images):
    model, processor = tiny_model
    prompt = f"USER: {IMAGE_TOKEN}\nWhat is this? ASSISTANT:"
    inputs = processor(text=prompt, images=images[0], return_tensors="pt")
    # The tiny vision tower sees 28 px in patches of 14: 2 x 2 = 4 features once the CLS is dropped.
    assert int((inputs["input_ids"] == model.config.image_token_index).sum()) == 4
    assert inputs["pixel_values"].shape == (1, 3, 28, 28)
    with torch.no_grad():
        assert model(**inputs).logits.shape[:2] == inputs["input_ids"].shape


def test_text_without_images_has_no_pixel_values(tiny_model):
    _, processor = tiny_model
    inputs = processor(text=["USER: Hi ASSISTANT:"], return_tensors="pt")
    assert set(inputs) == {"input_ids", "attention_mask"} and inputs["input_ids"].shape[0] == 1


def test_markers_and_images_must_agree(tiny_model, images):
    _, processor = tiny_model
    with pytest.raises(ValueError, match="hold 1 <image> markers but 2 images"):
        processor(text=f"USER: {IMAGE_TOKEN}\nHi ASSISTANT:", images=images[:2], return_tensors="pt")
    with pytest.raises(TypeError, match="unexpected keyword arguments \\['do_sample'\\]"):
        processor(text="Hi", return_tensors="pt", do_sample=False)


def test_llava_1_5_code_runs_unchanged(tiny_model, llava, llava_processor, images, monkeypatch):
    model, processor = tiny_model
    monkeypatch.setattr(llava, "generation_config", copy.deepcopy(model.generation_config))
    prompts = [
        f"USER: {IMAGE_TOKEN}\nWhat are these? ASSISTANT:",
        f"USER: {IMAGE_TOKEN}\nDescribe the picture in detail, please. ASSISTANT:",
    ]
    ours_ids, ours_text = llava_1_5_example(model, processor, images[:2], prompts)
    llava_ids, llava_text = llava_1_5_example(llava, llava_processor, images[:2], prompts)
    prompt_length = llava_processor(images=images[:2], text=prompts, padding=True, return_tensors="pt")[
        "input_ids"
    ].shape[1]
    assert ours_ids.shape[1] > prompt_length  # something was generated, so the comparison means something
    assert torch.equal(ours_ids, llava_ids)
    assert ours_text == [text.strip() for text in llava_text]
