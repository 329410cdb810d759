"""The VARGPT adapter groups a batch by generation settings, one model call per group, answers in order;
requests prepared ahead (`prepare`, on the loader thread) answer exactly as unprepared ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import vargpt.image_generation
from evals.requests import ImageRequest, TextRequest
from evals.adapters.vargpt_adapter import VargptAdapter, weights_hash
from vargpt import text_generation
from vargpt.processing_vargpt import EncodedRequest


def adapter() -> VargptAdapter:
    return VargptAdapter(model=None, processor=None, identity={"id": "fake"}, device="cpu")


@pytest.fixture(scope="module")
def tiny_adapter() -> VargptAdapter:
    """The real adapter on the tiny checkpoint (fp32, CPU)."""
    torch.set_num_threads(1)
    return VargptAdapter.load("tiny", device="cpu", dtype="float32")


def _requests_with_images(count: int) -> list[TextRequest]:
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (24 + 4 * i, 32, 3), dtype=np.uint8)) for i in range(count)]
    texts = ["Is it red?", "What is the man holding in his left hand?", "Count the birds.", "Why?"]
    return [TextRequest(doc_id=str(i), text=texts[i % len(texts)], load_images=lambda image=images[i]: [image],
                        max_new_tokens=8, seed=i) for i in range(count)]


def test_text_requests_are_grouped_by_settings_and_answered_in_order(tiny_adapter, monkeypatch):
    calls = []
    real = text_generation.generate_from_batch

    def spy(model, processor, batch, *, max_new_tokens, stop, temperature, seeds):
        calls.append((batch.input_ids.shape[0], max_new_tokens, stop, temperature, tuple(seeds)))
        return real(model, processor, batch, max_new_tokens=max_new_tokens, stop=stop, temperature=temperature,
                    seeds=seeds)

    monkeypatch.setattr(text_generation, "generate_from_batch", spy)
    requests = [
        TextRequest(doc_id="a", text="Is it a dog?", max_new_tokens=4, seed=1),
        TextRequest(doc_id="b", text="Describe it.", max_new_tokens=6, stop=("\n\n",), seed=2),
        TextRequest(doc_id="c", text="What color?", max_new_tokens=4, seed=3),
    ]
    answers = tiny_adapter.generate_text(requests)
    assert calls == [(2, 4, (), 0.0, (1, 3)), (1, 6, ("\n\n",), 0.0, (2,))]
    alone = [tiny_adapter.generate_text([r])[0] for r in requests]
    assert answers == alone  # in request order, whatever the grouping


def test_prepared_requests_answer_as_unprepared_ones(tiny_adapter):
    requests = _requests_with_images(6)
    prepared = tiny_adapter.prepare(requests)
    assert all(isinstance(r.inputs, EncodedRequest) and r.inputs.pixel_values.shape[0] == 1 for r in prepared)
    mixed = [p if i % 2 else r for i, (r, p) in enumerate(zip(requests, prepared))]
    expected = tiny_adapter.generate_text(requests)
    assert tiny_adapter.generate_text(prepared) == expected
    assert tiny_adapter.generate_text(mixed) == expected


def test_prepare_leaves_other_requests_alone(tiny_adapter):
    request = ImageRequest(doc_id="x", prompt="a cat", seed=1)
    assert tiny_adapter.prepare([request]) == [request]


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


def test_requests_are_prepared_ahead_only_on_an_accelerator(tiny_adapter):
    # On the CPU the tiny model holds the GIL: a loader thread encoding beside it only adds contention.
    assert tiny_adapter.prepare_ahead is False
    assert VargptAdapter(model=None, processor=None, identity={"id": "x"}, device="cuda:1").prepare_ahead is True
