"""The VARGPT adapter groups a batch by generation settings, one model call per group, answers in order."""

from __future__ import annotations

import numpy as np
import torch

import vargpt
import vargpt.image_generation
from evals.requests import ImageRequest, TextRequest
from evals.vargpt_adapter import VargptAdapter, weights_hash


def adapter() -> VargptAdapter:
    return VargptAdapter(model=None, processor=None, identity={"id": "fake"}, device="cpu")


def test_text_requests_are_grouped_by_settings_and_answered_in_order(monkeypatch):
    calls = []

    def fake_generate_text(model, processor, texts, images, *, max_new_tokens, stop, temperature, seeds):
        calls.append((tuple(texts), max_new_tokens, stop, temperature, tuple(seeds)))
        return [f"{t}/{max_new_tokens}" for t in texts]

    monkeypatch.setattr(vargpt, "generate_text", fake_generate_text)
    requests = [
        TextRequest(doc_id="a", text="a", max_new_tokens=16, seed=1),
        TextRequest(doc_id="b", text="b", max_new_tokens=128, stop=("\n\n",), seed=2),
        TextRequest(doc_id="c", text="c", max_new_tokens=16, seed=3),
    ]
    assert adapter().generate_text(requests) == ["a/16", "b/128", "c/16"]
    assert calls == [(("a", "c"), 16, (), 0.0, (1, 3)), (("b",), 128, ("\n\n",), 0.0, (2,))]


def test_images_are_grouped_by_sampler_settings_and_returned_as_hwc_uint8(monkeypatch):
    calls = []

    def fake_generate_images(model, processor, prompts, seeds, *, cfg, top_k, top_p):
        calls.append((tuple(prompts), cfg))
        images_B3HW = torch.stack([torch.full((3, 4, 4), s % 256, dtype=torch.uint8) for s in seeds])
        images_B3HW[:, 0] = 7  # the red channel marks the layout
        return images_B3HW, [{} for _ in prompts]

    monkeypatch.setattr(vargpt.image_generation, "generate_images", fake_generate_images)
    requests = [
        ImageRequest(doc_id="x", prompt="x", seed=5, cfg=1.5),
        ImageRequest(doc_id="y", prompt="y", seed=6),
        ImageRequest(doc_id="z", prompt="z", seed=9, cfg=1.5),
    ]
    images = adapter().generate_images(requests)
    assert calls == [(("x", "z"), 1.5), (("y",), 0.0)]
    assert [image.shape for image in images] == [(4, 4, 3)] * 3 and images[0].dtype == np.uint8
    assert [int(image[0, 0, 1]) for image in images] == [5, 6, 9] and int(images[1][0, 0, 0]) == 7


def test_weights_hash_follows_the_weight_bytes(tmp_path, monkeypatch):
    monkeypatch.setenv("VARGPT_CACHE", str(tmp_path / "cache"))
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    (tmp_path / "config.json").write_text("{}")
    first = weights_hash(tmp_path)
    assert first == weights_hash(tmp_path) and len(first) == 16
    (tmp_path / "config.json").write_text('{"a": 1}')  # not a weight file
    assert weights_hash(tmp_path) == first
    (tmp_path / "model.safetensors").write_bytes(b"other weights")
    assert weights_hash(tmp_path) != first
