"""Random-weights VARGPT models for the benchmark: the full released size on a GPU, no download.

Speed does not depend on weight values, so the benchmark builds `VARGPTConfig()` (the released 7B LLM, CLIP
ViT-L/14-336 and VAR-d30 sizes) with random weights straight on the device in the run's dtype, with a
processor whose token ids are the released ones (`<image>` 32000 ... `<|image_gen_pad|>` 32004) and CLIP
preprocessing at 336 px, so a request costs what it costs on the real checkpoint: 576 image features per
image, a 32064-row vocabulary, 680 pyramid tokens per generated image. The tokenizer is the tiny BPE
(vargpt/tiny.py) padded with filler entries to 32000 base ids; prompts therefore tokenise into a few more
tokens than Vicuna's would, which moves the cost of a request by a few percent at most.

`small` keeps every code path of `full` (released token ids, 336 px, the same processor) at toy widths, so
the GPU benchmark can be dry-run on a CPU and in tests.
"""

from __future__ import annotations

import json
from typing import Literal

import torch
from transformers import AddedToken, CLIPImageProcessor, LlamaTokenizer

from vargpt import tiny
from vargpt.configuration_vargpt import RELEASED_SPECIAL_TOKENS, VARGPTConfig
from vargpt.modeling_vargpt import VARGPTForConditionalGeneration
from vargpt.processing_vargpt import IMAGE_TOKEN, VARGPTProcessor

RandomSize = Literal["full", "small"]
RANDOM_SIZES: tuple[str, ...] = ("full", "small")
RELEASED_BASE_VOCAB = 32000  # `<image>` is id 32000 in the release
CLIP_IMAGE_SIZE = 336
# OpenAI CLIP's normalisation, as LLaVA-1.5's preprocessor_config.json gives it.
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

# `small`: released ids and image size, toy widths (a few million parameters).
SMALL_VISION = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 3, "num_attention_heads": 4}
SMALL_TEXT = {"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4,
              "num_key_value_heads": 4}
SMALL_VAR = {"depth": 2, "embed_dim": 64, "num_heads": 2, "vocab_size": 512, "z_channels": 8, "vae_ch": 16,
             "vae_ch_mult": [1, 1, 2, 2, 4]}


def random_config(size: RandomSize) -> VARGPTConfig:
    """`VARGPTConfig()` (released sizes) for "full"; the same ids and image size at toy widths for "small"."""
    if size == "full":
        return VARGPTConfig()
    if size != "small":
        raise ValueError(f"unknown random model size {size!r}; known: {list(RANDOM_SIZES)}")
    full = VARGPTConfig()
    return VARGPTConfig(
        vision_config={**full.vision_config.to_dict(), **SMALL_VISION},
        text_config={**full.text_config.to_dict(), **SMALL_TEXT},
        var_config=SMALL_VAR,
    )


def released_id_tokenizer() -> LlamaTokenizer:
    """The tiny BPE padded to 32000 base ids, then `<image>`, `<pad>` and the generation tokens at 32000-32004."""
    trained = tiny.build_tokenizer()
    base = trained.convert_tokens_to_ids(IMAGE_TOKEN)  # first added id = size of the trained vocabulary
    state = json.loads(trained.backend_tokenizer.to_str())
    vocab = {token: index for token, index in state["model"]["vocab"].items() if index < base}
    # Filler entries have no merges, so BPE never produces them; a random model may still emit them.
    vocab.update({f"<filler_{index}>": index for index in range(base, RELEASED_BASE_VOCAB)})
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in state["model"]["merges"]]
    tokenizer = LlamaTokenizer(vocab=vocab, merges=merges, add_bos_token=True, add_eos_token=False)
    tokenizer.add_tokens([AddedToken(IMAGE_TOKEN, special=True, normalized=False)], special_tokens=True)
    tokenizer.add_special_tokens({"pad_token": AddedToken(tiny.PAD_TOKEN, special=True, normalized=False)})
    tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t in tiny.GEN_TOKENS], special_tokens=True)
    tokenizer.padding_side = "left"
    start_id = tokenizer.convert_tokens_to_ids(tiny.GEN_TOKENS[0])
    assert start_id == RELEASED_SPECIAL_TOKENS["image_gen_start_token_id"], start_id
    return tokenizer


def clip_image_processor() -> CLIPImageProcessor:
    """LLaVA-1.5's preprocessing: shortest side 336, centre crop 336, CLIP mean and std."""
    return CLIPImageProcessor(
        size={"shortest_edge": CLIP_IMAGE_SIZE},
        crop_size={"height": CLIP_IMAGE_SIZE, "width": CLIP_IMAGE_SIZE},
        do_center_crop=True,
        do_resize=True,
        do_normalize=True,
        image_mean=CLIP_MEAN,
        image_std=CLIP_STD,
    )


def random_vargpt(
    size: RandomSize, device: str | torch.device, dtype: torch.dtype, seed: int = 0
) -> tuple[VARGPTForConditionalGeneration, VARGPTProcessor]:
    """(model in eval mode with random weights, built on `device` in `dtype`; its processor)."""
    config = random_config(size)
    torch.manual_seed(seed)
    # Built in place on the device and in the dtype (as from_pretrained materialises a checkpoint): the
    # full model is 19 GB in bf16, and building it in fp32 on the host first would need 38 GB of RAM.
    with torch.device(device):
        model = VARGPTForConditionalGeneration._from_config(config, dtype=dtype)
    processor = VARGPTProcessor(released_id_tokenizer(), clip_image_processor(), config.num_image_features,
                                config.special_tokens)
    processor.check_against(config)
    return model.eval(), processor


def parameter_count(model: torch.nn.Module) -> int:
    """Number of parameters (shared tensors counted once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
