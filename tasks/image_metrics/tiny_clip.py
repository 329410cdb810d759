"""A tiny CLIP of the real architecture with seeded random weights, built locally in a second (demos and tests).

It stands in for the CLIP of the CLIP score where the real one cannot be had (the demo, offline), as the
random-weights Inception stands in for FID's: `transformers`' CLIPModel at toy sizes (two layers of width 32 in
each tower, 32-px images in 8-px patches, 77 text positions as the real model, so long captions are cut at the same
place), a byte-level BPE tokenizer of CLIP's form (CLIP's normaliser and pre-tokeniser, `</w>` word ends,
`<|startoftext|>`/`<|endoftext|>`) whose merges spell out the words of a fixed English text, and CLIP's image
preprocessing at 32 px.

One thing is set by hand. Two random towers give cosines scattered around 0, and torchmetrics clamps the mean at 0,
so the demo's CLIP score would read 0.00 whatever the images. As in a trained CLIP, where every image-text pair
shares a common component (matching pairs typically score 20-35 with ViT-L/14, unrelated ones stay above 0), one
pooled channel (SHARED_CHANNEL) carries a constant SHARED_MARK in both towers (the bias of the last layer norm) and
both projections map it to the same unit direction: the scores then sit well above 0 and still move with the image
and the text (measured on the demo slice's 24 images and first captions: mean 44.9, std 8.4, range 28-60;
seeded noise images against the same captions: mean 42.8, std 7.9).

`build(folder)` writes what a CLIP hub repository holds (config.json, model.safetensors, the processor and
tokenizer files), so the folder loads with `CLIPModel/CLIPProcessor.from_pretrained` and through torchmetrics'
`CLIPScore`; a build-info file marks it random wherever the folder is copied, and metric names say so.

`cached_folder()` builds it once into `$TORCH_HOME/vargpt_evals/clip/` (beside the cached FID reference features),
atomically, and rebuilds it when TINY_CLIP_VERSION changes.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

from tasks.image_metrics.inception import hub_checkpoint_dir

TINY_CLIP_VERSION = 2  # bump when sizes, tokenizer or weights change, so cached copies are rebuilt
BUILD_INFO = "tiny_clip_build.json"
RANDOM_KEY = "random_clip_seed"  # in BUILD_INFO: the seed of the random weights
BOS, EOS = "<|startoftext|>", "<|endoftext|>"
IMAGE_SIZE, PATCH_SIZE = 32, 8
TEXT_POSITIONS = 77  # as every released CLIP: captions are cut at the same token
TOWER = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}
PROJECTION_DIM = 16
SHARED_CHANNEL, SHARED_MARK = 0, 4.0  # the component both towers share (see the module docstring)

# The words the tiny BPE keeps whole: caption-like sentences, the words of the demo captions and class prompts.
TOKENIZER_CORPUS = (
    "A man riding a wave on top of a surfboard. A woman is holding an umbrella on a rainy street.",
    "Two dogs are playing with a ball in the grass next to a wooden fence.",
    "A red circle and two blue squares on a grey background. A small green triangle above a yellow bar.",
    "There is one white shape in the middle of the picture, left of a large black circle.",
    "a photo of a tench, a goldfish, a great white shark, a tiger shark, a hammerhead, an electric ray.",
    "Please create a photo of a cat sitting on a table by the window at sunset.",
    "abcdefghijklmnopqrstuvwxyz 0123456789 .,;:!?'\"()-",
)


def cache_root() -> Path:
    """$TORCH_HOME/vargpt_evals/clip: where the tiny CLIP is built once."""
    return hub_checkpoint_dir().parent.parent / "vargpt_evals" / "clip"


def bpe_vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """CLIP-form BPE tables: every byte alone and word-final, then each corpus word merged left to right.

    Written out rather than trained: `tokenizers`' BPE trainer breaks ties between equally frequent pairs in a
    different order in each process, and a tokenizer that changes between builds changes every CLIP score.
    """
    from tokenizers import pre_tokenizers

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    # The unknown token is <|endoftext|>, the token CLIP pools at: a character missing from the vocabulary would
    # end the caption early. Every byte, alone and word-final, has an id, so nothing is ever unknown.
    pieces = [BOS, EOS, *alphabet, *(f"{char}</w>" for char in alphabet)]
    merges: list[tuple[str, str]] = []
    words = sorted({word for text in TOKENIZER_CORPUS for word in re.findall(r"[a-z]+", text.lower())})
    for word in words:
        left, *rest = [*word[:-1], word[-1] + "</w>"]
        for right in rest:
            if (left, right) not in merges:
                merges.append((left, right))
                pieces.append(left + right)
            left += right
    vocab = {piece: index for index, piece in enumerate(dict.fromkeys(pieces))}
    return vocab, merges


def build_tokenizer():
    """A CLIPTokenizer (CLIP's normaliser and pre-tokeniser) over `bpe_vocab_and_merges`."""
    from transformers import CLIPTokenizer

    vocab, merges = bpe_vocab_and_merges()
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges)
    tokenizer.model_max_length = TEXT_POSITIONS
    return tokenizer


def share_a_component(model, mark: float, seed: int) -> None:
    """Give both towers' embeddings one common direction of weight `mark` (see the module docstring)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    direction_E = torch.nn.functional.normalize(torch.randn(PROJECTION_DIM, generator=generator), dim=0)
    with torch.no_grad():
        model.vision_model.post_layernorm.bias[SHARED_CHANNEL] = mark
        model.text_model.final_layer_norm.bias[SHARED_CHANNEL] = mark
        model.visual_projection.weight[:, SHARED_CHANNEL] = direction_E
        model.text_projection.weight[:, SHARED_CHANNEL] = direction_E


def build(folder: str | Path, seed: int = 0, shared_mark: float = SHARED_MARK) -> Path:
    """Write the tiny CLIP (config, safetensors weights, processor, tokenizer, build info) into `folder`.

    `shared_mark=0` leaves the towers purely random (scores scattered around 0).
    """
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    config = CLIPConfig(
        text_config={
            **TOWER,
            "vocab_size": len(tokenizer),
            "max_position_embeddings": TEXT_POSITIONS,
            "bos_token_id": tokenizer.bos_token_id,
            # The real id (not the legacy 2 of the released configs): the text tower pools at this token.
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={**TOWER, "image_size": IMAGE_SIZE, "patch_size": PATCH_SIZE},
        projection_dim=PROJECTION_DIM,
    )
    with torch.random.fork_rng(devices=[]):  # leave the caller's RNG untouched
        torch.manual_seed(seed)
        model = CLIPModel(config).eval()
    share_a_component(model, shared_mark, seed)
    model.save_pretrained(folder)
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    )
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    info = {"tiny_clip_version": TINY_CLIP_VERSION, RANDOM_KEY: seed}
    (folder / BUILD_INFO).write_text(json.dumps(info, indent=2) + "\n")
    return folder


def random_seed_of(folder: Path) -> int | None:
    """The seed a tiny CLIP folder was built with, or None for any other folder."""
    try:
        info = json.loads((Path(folder) / BUILD_INFO).read_text())
    except (OSError, ValueError):
        return None
    seed = info.get(RANDOM_KEY) if isinstance(info, dict) else None
    return int(seed) if isinstance(seed, int) else None


def cached_folder(seed: int = 0) -> Path:
    """The cached tiny CLIP, built (once, atomically) if absent or of another TINY_CLIP_VERSION."""
    folder = cache_root() / f"tiny-clip-v{TINY_CLIP_VERSION}-seed{seed}"
    if _is_current(folder, seed):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = build(Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent)), seed=seed)
    if _is_current(folder, seed):  # another process (another rank) finished first: keep its copy
        shutil.rmtree(staging, ignore_errors=True)
        return folder
    shutil.rmtree(folder, ignore_errors=True)  # stale or half-written
    try:
        staging.rename(folder)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not _is_current(folder, seed):
            raise
    return folder


def _is_current(folder: Path, seed: int) -> bool:
    """True when `folder` holds a complete tiny CLIP of this version and seed."""
    try:
        info = json.loads((folder / BUILD_INFO).read_text())
    except (OSError, ValueError):
        return False
    expected = {"tiny_clip_version": TINY_CLIP_VERSION, RANDOM_KEY: seed}
    return info == expected and (folder / "model.safetensors").is_file()
