"""Tiny VARGPT checkpoints: the released architecture and file layout at toy sizes, random weights, built offline.

`build(folder)` writes what the released hub repository holds (config.json with model_type "vargpt_llava",
safetensors shards with model.safetensors.index.json, generation_config.json, preprocessor_config.json, tokenizer
files), so `vargpt.load` reads it exactly as it reads the real checkpoint. The tokenizer is a BPE of LLaMA's
tokenizer type trained here on a fixed English text; its added tokens keep the release's id pattern:
`<image>` right after the base vocabulary, then `<pad>`, then the three image-generation tokens, with the
embedding rows padded to a multiple of 64 (32064 in the release).

Answers end. A trained chat model closes its answer with `</s>` after a sentence or a few words; a purely random
one never emits it, so every greedy answer of the demo ran to max_new_tokens (1024 for MMBench and SEED, as
lmms-eval sets them) and the README's demo took about 12 minutes instead of under three. The weights stay random
and the architecture is the released one; `mark_sentence_ends` sets a handful of them so that, like a chat
model, the tiny one says `</s>` right after its first token that ends a sentence (`.`, `?`, `!`):
- one hidden channel of the language model (END_CHANNEL) is private: the token embeddings hold +END_MARK there for
  sentence-final tokens and -END_MARK for every other token (the size of any other embedding entry), and no
  decoder layer reads or writes it, so the random model's answers are otherwise what they were;
- the final RMSNorm carries the mark to lm_head, whose `</s>` row reads that channel with weight EOS_READ (every
  other row ignores it): after a sentence end the `</s>` logit is above +11, far above any random logit (at most
  about 5), and after any other token below -10, so `</s>` wins exactly when the last token ended a sentence;
- the output rows of the sentence-final tokens are scaled by SENTENCE_END_GAIN, so a sentence ends after a few
  tokens, after more or fewer depending on the prompt and the image.
Measured on the 188 text prompts of the demo (seed 0, greedy, cap 1024): median 4 tokens, 90% at most 27, the
longest 90, none empty, none reaching the cap (seeds 1 and 2: medians 7 and 3, longest 61 and 12). A channel
that is the same for every token does not do it: the random model's top logit grows as its answer goes on, so a
constant `</s>` logit wins either at the first step or never.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import AddedToken, CLIPImageProcessor, GenerationConfig, LlamaTokenizer

from vargpt.configuration_vargpt import VARGPTConfig
from vargpt.modeling_vargpt import VARGPTForConditionalGeneration
from vargpt.processing_vargpt import IMAGE_TOKEN, SYSTEM_PROMPT, VARGPTProcessor

TINY_VERSION = 2  # bump when the tiny sizes, tokenizer or weights change, so cached copies are rebuilt
BUILD_INFO = "tiny_build.json"
PAD_TOKEN = "<pad>"
GEN_TOKENS = ("<|image_gen_start|>", "<|image_gen_end|>", "<|image_gen_pad|>")
BASE_VOCAB_SIZE = 512  # upper bound for the trained vocabulary (3 specials + alphabet + merges)
IMAGE_SIZE = 28  # two 14-px patches a side: 4 image features per image
SENTENCE_ENDS = (".", "?", "!")  # a token whose text ends with one of these ends a sentence
END_CHANNEL = 0  # the language model's hidden channel that marks sentence-final tokens (any channel would do)
END_MARK = 0.1  # +/- value of END_CHANNEL in the token embeddings: the initializer_range, the size of the others
# lm_head[</s>, END_CHANNEL]: the final norm divides the mark by the hidden RMS (0.3-0.9 measured), so the </s>
# logit is +11 to +24 after a sentence end and -10 to -30 after any other token; the top random logit is 2 to 5.
EOS_READ = 100.0
# Output rows of sentence-final tokens x1.1: median answer 9 -> 4 tokens and longest 183 -> 90 on the demo (seed 0).
SENTENCE_END_GAIN = 1.1

TINY_VISION_CONFIG = {
    "model_type": "clip_vision_model",
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 3,  # layer -2 is then an inner layer, as in the 24-layer original
    "num_attention_heads": 4,
    "patch_size": 14,
    "image_size": IMAGE_SIZE,
    "projection_dim": 32,
    "hidden_act": "quick_gelu",
    "layer_norm_eps": 1e-5,
}
TINY_TEXT_CONFIG = {
    "model_type": "llama",
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "max_position_embeddings": 1024,
    "rms_norm_eps": 1e-5,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "tie_word_embeddings": False,
    "initializer_range": 0.1,  # larger than LLaMA's 0.02 so greedy decoding of random weights varies
}
TINY_VAR_CONFIG = {
    "depth": 2,
    "embed_dim": 64,
    "num_heads": 2,
    "mlp_ratio": 4.0,
    "patch_nums": [1, 2, 3, 4],
    "vocab_size": 64,
    "z_channels": 8,
    "vae_ch": 16,
    "vae_ch_mult": [1, 2],
    "share_quant_resi": 4,
}

# Training text for the tiny BPE: the prompt template and the words benchmark prompts use most.
TOKENIZER_CORPUS = (
    SYSTEM_PROMPT,
    "USER: ASSISTANT: What is in the image? Answer the question using a single word or phrase.",
    "Is there a dog in the image? Please answer yes or no. Yes No yes no",
    "Answer with the option's letter from the given choices directly. A. B. C. D. (A) (B) (C) (D)",
    "What color is the car? red green blue yellow black white orange purple brown gray pink",
    "How many people are there? zero one two three four five six seven eight nine ten 0 1 2 3 4 5 6 7 8 9",
    "Where is the cat sitting? on the table under the chair next to the window in the room left right",
    "Which animal is this? a dog a cat a horse a bird a cow a sheep an elephant a bear a zebra a giraffe",
    "Describe the picture in detail. A man is riding a bike down the street while a woman walks her dog.",
    "Generate an image of a small house by the lake at sunset. Draw a photo of a tree with flowers.",
    "The quick brown fox jumps over the lazy dog. It was a sunny day, and the children played outside.",
    "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 .,;:!?'\"()[]{}<>-_/\\|@#$%^&*+=~`\n\t",
)


def tiny_config(base_vocab_size: int) -> VARGPTConfig:
    """The tiny VARGPTConfig for a tokenizer whose base vocabulary (before added tokens) has `base_vocab_size` ids."""
    image_id, pad_id = base_vocab_size, base_vocab_size + 1
    gen_start, gen_end, gen_pad = base_vocab_size + 2, base_vocab_size + 3, base_vocab_size + 4
    rows = -(-(gen_pad + 1) // 64) * 64  # padded like the release (32005 tokens -> 32064 rows)
    return VARGPTConfig(
        vision_config=dict(TINY_VISION_CONFIG),
        text_config={**TINY_TEXT_CONFIG, "vocab_size": rows, "pad_token_id": pad_id},
        image_token_index=image_id,
        pad_token_id=pad_id,
        special_tokens={
            "image_gen_start": GEN_TOKENS[0],
            "image_gen_start_token_id": gen_start,
            "image_gen_end": GEN_TOKENS[1],
            "image_gen_end_token_id": gen_end,
            "image_gen_pad": GEN_TOKENS[2],
            "image_gen_pad_token_id": gen_pad,
        },
        var_config=dict(TINY_VAR_CONFIG),
        architectures=["VARGPTForConditionalGeneration"],
    )


def build_tokenizer() -> LlamaTokenizer:
    """A LLaMA-type tokenizer (BPE over `▁`-marked words) trained on TOKENIZER_CORPUS, with the added tokens."""
    trainer_tokenizer = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True))
    # Split on spaces while training so no merge crosses a word boundary (as in LLaMA's sentencepiece model).
    trainer_tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True)
    trainer = trainers.BpeTrainer(
        vocab_size=BASE_VOCAB_SIZE, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False
    )
    trainer_tokenizer.train_from_iterator(TOKENIZER_CORPUS, trainer)
    state = json.loads(trainer_tokenizer.to_str())
    # No byte tokens (LLaMA has 256): random weights would then mostly emit undecodable bytes. Characters
    # outside the corpus alphabet become <unk>.
    vocab = dict(sorted(state["model"]["vocab"].items(), key=lambda item: item[1]))
    merges = [
        tuple(merge) if isinstance(merge, list) else tuple(merge.split(" ")) for merge in state["model"]["merges"]
    ]
    tokenizer = LlamaTokenizer(vocab=vocab, merges=merges, add_bos_token=True, add_eos_token=False)
    tokenizer.model_max_length = TINY_TEXT_CONFIG["max_position_embeddings"]
    # Added in the release's order: <image>, <pad>, then the generation tokens (ids base, base+1, base+2..4).
    tokenizer.add_tokens([AddedToken(IMAGE_TOKEN, special=True, normalized=False)], special_tokens=True)
    tokenizer.add_special_tokens({"pad_token": AddedToken(PAD_TOKEN, special=True, normalized=False)})
    tokenizer.add_tokens(
        [AddedToken(token, special=True, normalized=False) for token in GEN_TOKENS], special_tokens=True
    )
    tokenizer.padding_side = "left"
    return tokenizer


def sentence_end_ids(tokenizer: LlamaTokenizer) -> list[int]:
    """Ids of the tokens whose text ends a sentence (ends with `.`, `?` or `!`)."""
    tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    return [token_id for token_id, token in enumerate(tokens) if token.endswith(SENTENCE_ENDS)]


def mark_sentence_ends(model: VARGPTForConditionalGeneration, tokenizer: LlamaTokenizer) -> None:
    """Set the few weights (see the module docstring) that make `</s>` follow the first sentence-final token."""
    language_model = model.language_model
    ends = sentence_end_ids(tokenizer)
    with torch.no_grad():
        embed_VC = language_model.model.embed_tokens.weight
        embed_VC[:, END_CHANNEL] = -END_MARK
        embed_VC[ends, END_CHANNEL] = END_MARK
        for layer in language_model.model.layers:
            # The channel is private to the embeddings and lm_head: no layer reads it (input columns) or writes it
            # (output rows), so the mark reaches the final norm unchanged and leaves the layers' dynamics alone.
            attention, mlp = layer.self_attn, layer.mlp
            for linear in (attention.q_proj, attention.k_proj, attention.v_proj, mlp.gate_proj, mlp.up_proj):
                linear.weight[:, END_CHANNEL] = 0.0
            for linear in (attention.o_proj, mlp.down_proj):
                linear.weight[END_CHANNEL, :] = 0.0
        head_VC = language_model.lm_head.weight
        head_VC[:, END_CHANNEL] = 0.0
        head_VC[tokenizer.eos_token_id, END_CHANNEL] = EOS_READ
        head_VC[ends] *= SENTENCE_END_GAIN


def build_image_processor() -> CLIPImageProcessor:
    """CLIP preprocessing as released (shortest side, centre crop, CLIP mean/std) at the tiny image size."""
    return CLIPImageProcessor(
        size={"shortest_edge": IMAGE_SIZE},
        crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        do_center_crop=True,
        do_resize=True,
        do_normalize=True,
    )


def layout_fingerprint(config: VARGPTConfig) -> str:
    """Hash of the model's tensor names and shapes plus TINY_VERSION: changes whenever a cached build goes stale."""
    with torch.device("meta"):
        model = VARGPTForConditionalGeneration(config)
    layout = sorted((name, list(tensor.shape)) for name, tensor in model.state_dict().items())
    return hashlib.sha256(json.dumps([TINY_VERSION, layout]).encode()).hexdigest()[:16]


def build(folder: str | Path, seed: int = 0) -> Path:
    """Write a complete tiny checkpoint (released layout, at least two safetensors shards) into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    base_vocab_size = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    config = tiny_config(base_vocab_size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = VARGPTForConditionalGeneration(config).eval()
    mark_sentence_ends(model, tokenizer)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=config.pad_token_id
    )
    total_bytes = sum(tensor.numel() * tensor.element_size() for tensor in model.state_dict().values())
    model.save_pretrained(folder, max_shard_size=total_bytes // 3 + 1)  # several shards: the sharded path runs
    processor = VARGPTProcessor(tokenizer, build_image_processor(), config.num_image_features, config.special_tokens)
    processor.check_against(config)
    processor.save_pretrained(folder)
    info = {"tiny_version": TINY_VERSION, "seed": seed, "layout": layout_fingerprint(config)}
    (folder / BUILD_INFO).write_text(json.dumps(info, indent=2) + "\n")
    return folder


def cache_dir() -> Path:
    """Where `vargpt.load("tiny")` keeps its build: $VARGPT_CACHE, else ~/.cache/vargpt-evals."""
    return Path(os.environ.get("VARGPT_CACHE") or Path.home() / ".cache" / "vargpt-evals")


def cached_folder(seed: int = 0) -> Path:
    """The cached tiny checkpoint, built (once, atomically) if absent or stale."""
    folder = cache_dir() / f"tiny-v{TINY_VERSION}-seed{seed}"
    if _is_current(folder, seed):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = build(Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent)), seed=seed)
    if _is_current(folder, seed):
        # Another process (another rank) finished first while we built: keep its copy, it may be in use.
        shutil.rmtree(staging, ignore_errors=True)
        return folder
    if folder.exists():
        shutil.rmtree(folder, ignore_errors=True)  # stale: an older TINY_VERSION or model layout
    try:
        staging.rename(folder)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not _is_current(folder, seed):
            raise
    return folder


def _is_current(folder: Path, seed: int) -> bool:
    try:
        info = json.loads((folder / BUILD_INFO).read_text())
        image_token_index = json.loads((folder / "config.json").read_text())["image_token_index"]
    except (OSError, ValueError, KeyError):
        return False
    if info.get("tiny_version") != TINY_VERSION or info.get("seed") != seed:
        return False
    return info.get("layout") == layout_fingerprint(tiny_config(image_token_index))


__all__ = [
    "TINY_VERSION",
    "build",
    "build_tokenizer",
    "cache_dir",
    "cached_folder",
    "mark_sentence_ends",
    "sentence_end_ids",
    "tiny_config",
]
