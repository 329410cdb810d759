"""Batched text generation: Vicuna v1 prompts, left padding, KV cache, greedy or seeded sampling, stop strings.

Greedy decoding is transformers' `generate` (it derives position ids from the attention mask, so left padding
does not move a prompt's positions). Sampling has its own short loop because `generate` draws every row from one
random stream: here each request has its own `torch.Generator` seeded with its own seed, so a request's sample
never depends on its position in the batch or on its neighbours.

Shape legend: B batch, L tokens, V vocabulary.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image
from transformers import GenerationConfig

from vargpt.modeling_vargpt import VARGPTForConditionalGeneration
from vargpt.processing_vargpt import EncodedBatch, VARGPTProcessor


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """`text` up to (not including) the earliest occurrence of any stop string."""
    cut = min((index for index in (text.find(s) for s in stop if s) if index >= 0), default=len(text))
    return text[:cut]


def generate_text(
    model: VARGPTForConditionalGeneration,
    processor: VARGPTProcessor,
    texts: Sequence[str],
    images: Sequence[Sequence[Image.Image]],
    *,
    max_new_tokens: int,
    stop: Sequence[str] = (),
    temperature: float = 0.0,
    seeds: Sequence[int] | None = None,
) -> list[str]:
    """Answer each raw user text (with its images) in one batch; decoded, special tokens skipped, stripped.

    temperature 0 is greedy; above 0, request i samples with its own generator seeded by seeds[i] (seed 0 for
    every request when seeds is None). Generation ends at `</s>`, after max_new_tokens, or at a stop string,
    which is cut from the answer.
    """
    if not texts:
        return []
    batch = processor.encode_batch(texts, images, padding_side="left")
    return generate_from_batch(model, processor, batch, max_new_tokens=max_new_tokens, stop=stop,
                               temperature=temperature, seeds=seeds)


def generate_from_batch(
    model: VARGPTForConditionalGeneration,
    processor: VARGPTProcessor,
    batch: EncodedBatch,
    *,
    max_new_tokens: int,
    stop: Sequence[str] = (),
    temperature: float = 0.0,
    seeds: Sequence[int] | None = None,
) -> list[str]:
    """`generate_text` on prompts already encoded and left-padded (`processor.encode_batch` or `collate`)."""
    num_rows = batch.input_ids.shape[0]
    if seeds is not None and len(seeds) != num_rows:
        raise ValueError(f"got {num_rows} texts but {len(seeds)} seeds; pass one seed per text")
    stop = [s for s in stop if s]
    batch = batch.to(model.device, model.dtype)
    with torch.inference_mode():
        if temperature > 0:
            seeds = list(seeds) if seeds is not None else [0] * num_rows
            new_tokens_BL = _sample(model, processor, batch, max_new_tokens, temperature, seeds, stop)
        else:
            new_tokens_BL = _greedy(model, processor, batch, max_new_tokens, stop)
    return [cut_at_stop(processor.decode(row), stop).strip() for row in new_tokens_BL]


def _greedy_config(processor: VARGPTProcessor, max_new_tokens: int, stop: Sequence[str]) -> GenerationConfig:
    # A complete config, so that settings in the checkpoint's generation_config.json cannot switch on sampling.
    tokenizer = processor.tokenizer
    return GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        stop_strings=list(stop) or None,
    )


def _greedy(
    model: VARGPTForConditionalGeneration,
    processor: VARGPTProcessor,
    batch: EncodedBatch,
    max_new_tokens: int,
    stop: Sequence[str],
) -> torch.Tensor:
    output_BL = model.generate(
        **batch.model_inputs(),
        generation_config=_greedy_config(processor, max_new_tokens, stop),
        tokenizer=processor.tokenizer,  # generate needs it to match stop strings
    )
    return output_BL[:, batch.input_ids.shape[1] :]


def _sample(
    model: VARGPTForConditionalGeneration,
    processor: VARGPTProcessor,
    batch: EncodedBatch,
    max_new_tokens: int,
    temperature: float,
    seeds: Sequence[int],
    stop: Sequence[str],
) -> torch.Tensor:
    tokenizer = processor.tokenizer
    device = batch.input_ids.device
    generators = [torch.Generator(device=device).manual_seed(int(seed)) for seed in seeds]
    attention_mask_BL = batch.attention_mask
    # Positions count real tokens only, so a left-padded prompt sits where it would alone.
    position_ids_BL = (attention_mask_BL.cumsum(-1) - 1).clamp(min=0)
    outputs = model(**batch.model_inputs(), position_ids=position_ids_BL, use_cache=True, logits_to_keep=1)
    finished_B = torch.zeros(len(seeds), dtype=torch.bool, device=device)
    new_tokens: list[torch.Tensor] = []
    for _ in range(max_new_tokens):
        probs_BV = torch.softmax(outputs.logits[:, -1].float() / temperature, dim=-1)
        # One draw per row from that row's own generator: the batch position never changes a sample.
        drawn_B = torch.cat([torch.multinomial(probs_BV[i], 1, generator=g) for i, g in enumerate(generators)])
        next_B = torch.where(finished_B, torch.full_like(drawn_B, tokenizer.pad_token_id), drawn_B)
        new_tokens.append(next_B)
        finished_B |= next_B == tokenizer.eos_token_id
        if stop:
            so_far_BL = torch.stack(new_tokens, dim=1)
            for i in (~finished_B).nonzero().flatten().tolist():
                if any(s in processor.decode(so_far_BL[i]) for s in stop):
                    finished_B[i] = True
        if bool(finished_B.all()):
            break
        attention_mask_BL = torch.cat([attention_mask_BL, torch.ones_like(attention_mask_BL[:, :1])], dim=1)
        position_ids_BL = position_ids_BL[:, -1:] + 1
        outputs = model(
            input_ids=next_B[:, None],
            attention_mask=attention_mask_BL,
            position_ids=position_ids_BL,
            cache=outputs.cache,
            use_cache=True,
        )
    if not new_tokens:
        return torch.empty(len(seeds), 0, dtype=torch.long, device=device)
    return torch.stack(new_tokens, dim=1)


__all__ = ["generate_text", "generate_from_batch", "cut_at_stop"]
