"""The CLIP score (tasks/image_metrics/clip_score.py) against torchmetrics' own `CLIPScore`, on the tiny CLIP.

torchmetrics is called directly on the same images (uint8 CHW tensors) and captions; our per-image scores and
their aggregate must agree to 1e-5 relative. One adaptation, numerics untouched: torchmetrics 1.9 calls `.norm`
on what `get_image_features`/`get_text_features` return, and transformers 5 returns a model output whose
`pooler_output` holds the projected embeddings (torchmetrics issue #3407), so torchmetrics gets, through its
documented callable argument, the same CLIPModel behind a wrapper that hands back that tensor.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from torchmetrics.functional.multimodal import clip_score
from torchmetrics.multimodal.clip_score import CLIPScore
from transformers import CLIPModel, CLIPProcessor

from tasks.image_metrics import tiny_clip
from tasks.image_metrics.clip_score import (
    DEFAULT_CLIP_MODEL,
    ClipModelUnavailable,
    clip_score_metrics,
    image_text_scores,
    load_clip,
    metric_suffix,
    resolve_clip,
)

CAPTIONS = [
    "A red circle on a grey background.",
    "Two blue squares in a row.",
    "a photo of an electric ray.",
    # 90 words: far over the 77 text positions, so it is cut where torchmetrics cuts it (no end token left).
    " ".join(["A small yellow circle next to a green square"] * 10),
]
SIZES = [(48, 64), (64, 48), (32, 32), (20, 90)]  # (height, width): landscape, portrait, square, a strip


@pytest.fixture(scope="module", autouse=True)
def isolated_caches(tmp_path_factory):
    """Empty TORCH_HOME (the tiny CLIP is built there) and an empty HF hub cache: no real CLIP can be found."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch_home")))
        # huggingface_hub reads HF_HUB_CACHE once, at import: its module constant is what snapshot_download uses.
        patch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path_factory.mktemp("hf_hub")))
        yield


@pytest.fixture(
    scope="module", params=[(tiny_clip.SHARED_MARK, 3), (0.0, 0)], ids=["shared-component", "purely-random"]
)
def clip_folder(request, tmp_path_factory):
    """A tiny CLIP folder: the demo's kind (positive scores), and one without the shared component whose scores
    here are mostly negative (seed 0: one of the four pairs positive), so that torchmetrics' clamp of the mean at 0
    is compared too."""
    shared_mark, seed = request.param
    return tiny_clip.build(tmp_path_factory.mktemp("tiny_clip"), seed=seed, shared_mark=shared_mark), shared_mark


def images_hwc() -> list[np.ndarray]:
    """Seeded uint8 images of the sizes in SIZES."""
    rng = np.random.default_rng(5)
    return [rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8) for h, w in SIZES]


class TensorFeatures(torch.nn.Module):
    """The same CLIPModel, returning the projected embeddings as a tensor (what torchmetrics 1.9 expects)."""

    def __init__(self, model: CLIPModel):
        super().__init__()
        self.model, self.config = model, model.config

    def get_image_features(self, *args, **kwargs) -> torch.Tensor:
        return self.model.get_image_features(*args, **kwargs).pooler_output

    def get_text_features(self, *args, **kwargs) -> torch.Tensor:
        return self.model.get_text_features(*args, **kwargs).pooler_output


def torchmetrics_model(folder):
    """torchmetrics' model argument: a callable giving (model, processor) read from the folder."""
    return lambda: (TensorFeatures(CLIPModel.from_pretrained(folder).eval()), CLIPProcessor.from_pretrained(folder))


def ours(folder) -> np.ndarray:
    """Our per-image scores of images_hwc() against CAPTIONS."""
    model, processor = load_clip(resolve_clip(str(folder)), torch.device("cpu"))
    return image_text_scores(model, processor, images_hwc(), CAPTIONS)


def test_the_clip_score_equals_torchmetrics_clipscore_on_the_same_images_and_captions(clip_folder):
    clip_folder, shared_mark = clip_folder
    metric = CLIPScore(model_name_or_path=torchmetrics_model(clip_folder))
    with torch.no_grad():
        metric.update([torch.from_numpy(image).permute(2, 0, 1) for image in images_hwc()], CAPTIONS)
        expected = float(metric.compute())
    per_image = ours(clip_folder)
    # Each variant covers what it is there for: a positive mean compared as it is, a negative one clamped.
    assert (per_image.mean() > 0) == (shared_mark > 0)
    mean, _ = clip_score_metrics(per_image)
    assert mean == pytest.approx(expected, rel=1e-5, abs=1e-6)  # abs: both clamp a negative mean to exactly 0


def test_each_images_score_equals_torchmetrics_on_that_pair_alone(clip_folder):
    # torchmetrics' functional clip_score of one pair is max(100 * cos, 0); ours keeps the sign, so clamp it here.
    clip_folder, _ = clip_folder
    per_image = ours(clip_folder)
    for image, caption, score in zip(images_hwc(), CAPTIONS, per_image):
        with torch.no_grad():
            pixels = torch.from_numpy(image).permute(2, 0, 1)
            expected = float(clip_score(pixels, caption, torchmetrics_model(clip_folder)))
        assert max(score, 0.0) == pytest.approx(expected, rel=1e-5, abs=1e-6), caption[:30]


def test_the_tiny_clip_with_its_shared_component_scores_well_above_zero():
    # The demo's CLIP (module docstring of tiny_clip): every score positive, and not all equal.
    per_image = ours(tiny_clip.cached_folder())
    assert per_image.min() > 0 and per_image.std() > 1


def test_two_builds_of_the_tiny_clip_are_the_same_bytes(tmp_path):
    # Scores of one run come from several processes, each of which may build its own copy.
    first, second = tiny_clip.build(tmp_path / "a"), tiny_clip.build(tmp_path / "b")
    for name in ("tokenizer.json", "model.safetensors", "config.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_metrics_are_the_clamped_mean_and_the_population_std_by_hand():
    # [-30, 10, 14]: mean -2 -> clamped to 0; deviations -28, 12, 16 -> squares 784 + 144 + 256 = 1184 over 3
    # values -> std sqrt(394.67) = 19.866.
    mean, std = clip_score_metrics([-30.0, 10.0, 14.0])
    assert mean == 0.0 and std == pytest.approx((1184 / 3) ** 0.5)
    # [20, 30]: mean 25, deviations +-5 -> std 5.
    assert clip_score_metrics([20.0, 30.0]) == (25.0, 5.0)


def test_a_tiny_clip_folder_is_labelled_random_wherever_it_is_copied(tmp_path):
    copy = tmp_path / "elsewhere"
    shutil.copytree(tiny_clip.cached_folder(), copy)
    clip = resolve_clip(str(copy))
    assert (clip.kind, clip.label, metric_suffix(clip.label)) == ("random", "random-clip-seed0", "_random_clip")


def test_the_default_clip_offline_is_one_line_except_on_demo_data_where_the_tiny_one_stands_in():
    with pytest.raises(ClipModelUnavailable) as refused:
        resolve_clip(DEFAULT_CLIP_MODEL, allow_random_standin=False, download=False)
    message = str(refused.value)
    assert "\n" not in message and DEFAULT_CLIP_MODEL in message and "prefetch" in message
    assert resolve_clip(DEFAULT_CLIP_MODEL, allow_random_standin=True).label == "random-clip-seed0"
    # Only the default stands in: a model the user named must be found.
    with pytest.raises(ClipModelUnavailable):
        resolve_clip("openai/clip-vit-base-patch32", allow_random_standin=True, download=False)


def test_a_prefetched_hub_snapshot_is_found_offline_at_its_pinned_revision(prefetched_clip):
    # The offline lookup is huggingface_hub's own, in the cache layout it writes (conftest.prefetched_clip).
    clip = resolve_clip(DEFAULT_CLIP_MODEL, download=False)
    assert (clip.kind, clip.path, clip.label) == ("hub", prefetched_clip, "openai/clip-vit-large-patch14@32bd64288804")
