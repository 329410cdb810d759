"""CLIP score of generated images against their text, as torchmetrics' `CLIPScore` defines it, on the worker's device.

Definition (torchmetrics 1.9, `functional/multimodal/clip_score.py`): each (image, text) pair scores
100 * cos(E_image, E_text), the cosine of the model's projected embeddings; the metric is max(mean over pairs, 0)
(torchmetrics clamps the mean, not each pair). Images reach the model's CLIPProcessor as uint8 CHW tensors
(shortest-side bicubic resize, centre crop, CLIP mean/std: 224 px for ViT-L/14); texts its tokenizer, cut to the
text tower's positions (77) as torchmetrics cuts them, so a longer caption loses its end token there too.
Every image's score goes into its record; aggregation takes the clamped mean and the standard deviation
(population, ddof 0) of the stored scores, so `evals score --run` recomputes the metric without any model.
tests/tasks/image_metrics/test_clip_score.py holds our scores to torchmetrics' own `CLIPScore` on the same images
and texts.

Batching: every forward pass has one shape (text padded to the 77 positions; on CPU one pair at a time with one
thread, on CUDA a fixed padded batch of CLIP_BATCH), so a score does not depend on the batch it came in, on the
worker count or on resuming: the reasoning of tasks/image_metrics/inception.py.

Which CLIP (options `clip_model`, `clip_revision`):
- a hub id (default `openai/clip-vit-large-patch14`, the CLIP torchmetrics defaults to) at a pinned revision
  (PINNED_REVISIONS; `clip_revision` overrides, other ids default to `main`): the hub snapshot's safetensors
  weights and processor files, from the local HF cache, else downloaded (`evals prefetch` does it ahead);
- a local folder holding such files;
- with `--data demo` and the default model not in the local cache: the tiny random-weights CLIP of
  tasks/image_metrics/tiny_clip.py stands in (no download), and the metric names carry `_random_clip`, as the
  random Inception's carry `_random_inception`. A tiny CLIP folder given as `clip_model` is labelled the same way.
A model that cannot be had is one line naming it and how to supply it (`ClipModelUnavailable`).

torch and transformers are imported inside the functions that need them (as in inception.py).
Shapes: B batch, N pairs, E embedding, T text positions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from evals.errors import HarnessError
from tasks.image_metrics import tiny_clip
from tasks.image_metrics.inception import exact_float32, image_to_hwc_uint8

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

DEFAULT_CLIP_MODEL = "openai/clip-vit-large-patch14"
# Hub commits, each pinned by independent evaluation set-ups: openai's repositories are not expected to change,
# but a pinned commit makes the run fingerprint name exactly the weights that scored.
PINNED_REVISIONS = {
    "openai/clip-vit-large-patch14": "32bd64288804d66eefd0ccbe215aa642df71cc41",
    "openai/clip-vit-base-patch32": "3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268",
}
# What a run reads from a hub snapshot: safetensors weights (never the pickled .bin) and the processor files.
SNAPSHOT_PATTERNS = ("*.json", "*.txt", "model.safetensors")
CLIP_BATCH = 32  # the fixed forward batch on CUDA (padded); one pair at a time on CPU
RANDOM_SUFFIX = "_random_clip"

ClipKind = Literal["hub", "folder", "random"]


class ClipModelUnavailable(HarnessError):
    """The CLIP model is neither a folder nor in the local cache, and cannot be downloaded."""


@dataclass(frozen=True)
class ClipModel:
    """Which CLIP scores: a hub id at a revision, a local folder, or the tiny random stand-in; and where it lies."""

    kind: ClipKind
    name: str  # hub id or folder as given
    path: Path  # the local folder that is loaded
    revision: str | None = None
    seed: int | None = None

    @property
    def label(self) -> str:
        """A short identity stored with every score (scores of two labels never mix)."""
        if self.kind == "random":
            return f"random-clip-seed{self.seed}"
        if self.kind == "hub":
            return f"{self.name}@{(self.revision or 'main')[:12]}"
        return f"folder:{self.name}"


def metric_suffix(label: str) -> str:
    """`_random_clip` for scores of the tiny random CLIP, else ''."""
    return RANDOM_SUFFIX if label.startswith("random-clip") else ""


def resolved_revision(model: str, revision: str) -> str | None:
    """The revision a hub id is read at: the given one, else the pinned one, else None (main)."""
    return revision or PINNED_REVISIONS.get(model)


def resolve_clip(
    model: str, revision: str = "", allow_random_standin: bool = False, download: bool = True
) -> ClipModel:
    """The CLIP to score with (see the module docstring); raises ClipModelUnavailable in one line."""
    folder = Path(model).expanduser()
    if folder.is_dir():
        seed = tiny_clip.random_seed_of(folder)
        kind: ClipKind = "random" if seed is not None else "folder"
        return ClipModel(kind, model, folder, seed=seed)
    if model.startswith((".", "/", "~")) or model.count("/") != 1:  # a path, not an `owner/name` hub id
        raise ClipModelUnavailable(f"clip_model {model} is not a folder; give a folder of CLIP files or a hub id")
    rev = resolved_revision(model, revision)
    try:
        return ClipModel("hub", model, _snapshot(model, rev, local_only=True), revision=rev)
    except ClipModelUnavailable as missing:
        if allow_random_standin and model == DEFAULT_CLIP_MODEL and not revision:
            logger.warning("%s; demo data: the tiny random CLIP stands in, metrics are renamed", missing)
            return ClipModel("random", "tiny-clip", tiny_clip.cached_folder(), seed=0)
        if not download:
            raise
    return ClipModel("hub", model, _snapshot(model, rev, local_only=False), revision=rev)


def prefetch_clip(model: str, revision: str = "") -> str:
    """Download the CLIP snapshot into the HF cache (a folder is taken as it is); says what and where."""
    clip = resolve_clip(model, revision)
    if clip.kind == "hub":
        return f"CLIP model {clip.name}@{clip.revision or 'main'} in {clip.path}"
    return f"CLIP model {clip.path}"


def _snapshot(model: str, revision: str | None, local_only: bool) -> Path:
    """The snapshot folder of a hub CLIP (weights as safetensors); ClipModelUnavailable when it cannot be had."""
    from huggingface_hub import snapshot_download

    where = f"{model}@{revision or 'main'}"
    try:
        patterns = list(SNAPSHOT_PATTERNS)
        folder = Path(snapshot_download(model, revision=revision, allow_patterns=patterns, local_files_only=local_only))
    except Exception as error:  # noqa: BLE001 - the hub client raises many types; all mean "not available"
        reason = " ".join(str(error).split()).split(". ")[0][:200] or type(error).__name__  # its first sentence
        state = "not in the local Hugging Face cache" if local_only else f"not downloadable ({reason})"
        raise ClipModelUnavailable(
            f"CLIP model {where} is {state}; run `python -m evals prefetch --tasks t2i` online, or pass "
            "--gen-kwargs clip_model=FOLDER (a folder with config.json, model.safetensors and the processor files)"
        ) from None
    if not (folder / "model.safetensors").is_file():
        raise ClipModelUnavailable(
            f"CLIP model {where} has no model.safetensors in {folder} (pickled weights are not loaded); "
            "pass --gen-kwargs clip_model=FOLDER with safetensors weights"
        )
    return folder


_LOADED: dict[tuple[str, str], tuple[Any, Any]] = {}


def load_clip(clip: ClipModel, device: torch.device) -> tuple[Any, Any]:
    """(CLIPModel in float32 eval mode on `device`, CLIPProcessor), loaded once per process, model and device."""
    key = (str(clip.path), str(device))
    if key not in _LOADED:
        from transformers import CLIPModel, CLIPProcessor

        # float32 whatever the checkpoint stores: the score is a metric, not a throughput figure.
        model = CLIPModel.from_pretrained(clip.path, use_safetensors=True).float().to(device).eval()
        _LOADED[key] = (model, CLIPProcessor.from_pretrained(clip.path))
    return _LOADED[key]


def _projected(output: Any) -> torch.Tensor:
    """The projected embeddings: transformers 5 returns them as `pooler_output` of a model output, 4 as a tensor."""
    return output if hasattr(output, "norm") else output.pooler_output


def text_tokens(tokenizer: Any, texts: Sequence[str], positions: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), (len(texts), positions): cut to `positions` as torchmetrics cuts, padded to them."""
    import torch

    encoded = tokenizer(list(texts), verbose=False)  # no warning for a caption over `positions`: it is cut below
    ids_BT = torch.full((len(texts), positions), tokenizer.pad_token_id, dtype=torch.long)
    mask_BT = torch.zeros((len(texts), positions), dtype=torch.long)
    for row, (ids, mask) in enumerate(zip(encoded["input_ids"], encoded["attention_mask"])):
        kept = min(len(ids), positions)
        ids_BT[row, :kept] = torch.tensor(ids[:kept])
        mask_BT[row, :kept] = torch.tensor(mask[:kept])
    return ids_BT, mask_BT


def image_text_scores(model: Any, processor: Any, images: Sequence[Any], texts: Sequence[str]) -> np.ndarray:
    """100 * cos(image, text) for each pair, float64 (num_pairs,), in input order (unclamped)."""
    if len(images) != len(texts):
        raise ValueError(f"{len(images)} images but {len(texts)} texts; one text per image")
    if not images:
        return np.zeros(0, np.float64)
    import torch

    device = next(model.parameters()).device
    positions = int(model.config.text_config.max_position_embeddings)
    forward_batch = CLIP_BATCH if device.type == "cuda" else 1
    pixels = [torch.tensor(image_to_hwc_uint8(image)).permute(2, 0, 1) for image in images]  # a copy: may be read-only
    scores = []
    with torch.no_grad(), exact_float32(device):
        for start in range(0, len(pixels), forward_batch):
            chunk, words = pixels[start : start + forward_batch], list(texts[start : start + forward_batch])
            count = len(chunk)
            # Pad with copies of the last pair (a blank text would be an empty attention row): one shape always.
            chunk, words = chunk + [chunk[-1]] * (forward_batch - count), words + [words[-1]] * (forward_batch - count)
            pixels_BCHW = processor(images=chunk, return_tensors="pt")["pixel_values"].to(device)
            ids_BT, mask_BT = text_tokens(processor.tokenizer, words, positions)
            image_BE = _projected(model.get_image_features(pixel_values=pixels_BCHW))
            text_BE = _projected(
                model.get_text_features(input_ids=ids_BT.to(device), attention_mask=mask_BT.to(device))
            )
            image_BE = image_BE / image_BE.norm(p=2, dim=-1, keepdim=True)
            text_BE = text_BE / text_BE.norm(p=2, dim=-1, keepdim=True)
            scores.append((100 * (image_BE * text_BE).sum(dim=-1))[:count].double().cpu().numpy())
    return np.concatenate(scores)


def clip_score_metrics(scores: Sequence[float]) -> tuple[float, float]:
    """(torchmetrics' CLIP score: max(mean, 0), population std) of per-pair scores; needs at least one."""
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"CLIP scores must be a non-empty 1-d sequence; got shape {values.shape}")
    return max(float(values.mean()), 0.0), float(values.std())
