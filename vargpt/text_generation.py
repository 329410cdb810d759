"""Batched text generation: Vicuna v1 prompts, left padding, KV cache, greedy or seeded sampling, stop strings.

One decoding loop serves greedy decoding and sampling. It drops a row from the batch (and from the KV cache) as
soon as that row is done, so a batch whose answers end at different steps does not keep computing the finished
ones, as transformers' `generate` does until the last row ends; greedy answers are the ones `generate` gives.
Positions come from the attention mask, so left padding does not move a prompt's positions. When sampling, each
request has its own `torch.Generator` seeded with its own seed, so a request's sample never depends on its
position in the batch or on its neighbours (`generate` draws every row from one random stream).

Greedy rows stop at a stop string where `generate` would stop them (its StopStringCriteria); samples stop once
the decoded answer holds one. The two rules differ only at the edges (see `_stop_rule`), and each keeps the
answers the code gave before it shared this loop.

Shape legend: B batch (the rows still generating), L tokens, V vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from PIL import Image
from transformers import StopStringCriteria

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
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be 0 or more, but is {max_new_tokens}")
    stop = [s for s in stop if s]
    batch = batch.to(model.device, model.dtype)
    generators = None
    if temperature > 0:
        seeds = list(seeds) if seeds is not None else [0] * num_rows
        generators = [torch.Generator(device=model.device).manual_seed(int(seed)) for seed in seeds]
    reached_stop = _stop_rule(processor, stop, batch.input_ids.shape[1], sampling=generators is not None)
    with torch.inference_mode():
        new_tokens = _decode(model, batch, max_new_tokens, processor.tokenizer.eos_token_id, reached_stop,
                             temperature, generators)
    return [cut_at_stop(processor.decode(tokens), stop).strip() for tokens in new_tokens]


def _stop_rule(
    processor: VARGPTProcessor, stop: Sequence[str], prompt_length: int, sampling: bool
) -> Callable[[torch.Tensor], list[bool]] | None:
    """Which rows of `sequence_BL` (prompts, then the new tokens) have reached a stop string; None without any."""
    if not stop:
        return None
    if sampling:
        # A stop string in the decoded answer (special tokens skipped, stripped): the rule samples always had.
        return lambda sequence_BL: [any(s in processor.decode(row[prompt_length:]) for s in stop) for row in sequence_BL]
    # Greedy rows stop where transformers' `generate` stops them, by its own check, so greedy answers stay
    # `generate`'s. It also reads the prompt's end, a leading "\n\n" and the text of special tokens (the "a" of
    # "<image>"), which the decoded answer does not show.
    criteria = StopStringCriteria(processor.tokenizer, list(stop))
    return lambda sequence_BL: criteria(sequence_BL, None).tolist()


def _decode(
    model: VARGPTForConditionalGeneration,
    batch: EncodedBatch,
    max_new_tokens: int,
    eos_token_id: int,
    reached_stop: Callable[[torch.Tensor], list[bool]] | None,
    temperature: float,
    generators: list[torch.Generator] | None,
) -> list[list[int]]:
    """New token ids of every request, its `</s>` included; greedy when `generators` is None."""
    prompt_length = batch.input_ids.shape[1]
    new_tokens: list[list[int]] = [[] for _ in range(batch.input_ids.shape[0])]
    if max_new_tokens == 0:
        return new_tokens
    rows = list(range(len(new_tokens)))  # the request that each batch row answers
    sequence_BL, attention_mask_BL = batch.input_ids, batch.attention_mask
    # Positions count real tokens only, so a left-padded prompt sits where it would alone.
    position_ids_BL = (attention_mask_BL.cumsum(-1) - 1).clamp(min=0)
    outputs = model(**batch.model_inputs(), position_ids=position_ids_BL, use_cache=True, logits_to_keep=1)
    while True:
        next_B = _next_tokens(outputs.logits[:, -1], temperature, generators)
        sequence_BL = torch.cat([sequence_BL, next_B[:, None]], dim=1)
        done = (next_B == eos_token_id).tolist()
        if sequence_BL.shape[1] - prompt_length == max_new_tokens:
            done = [True] * len(rows)
        elif reached_stop is not None:
            done = [d or s for d, s in zip(done, reached_stop(sequence_BL))]
        for b in (b for b, d in enumerate(done) if d):
            new_tokens[rows[b]] = sequence_BL[b, prompt_length:].tolist()
        keep = [b for b, d in enumerate(done) if not d]
        if not keep:
            return new_tokens
        if len(keep) < len(rows):
            # Finished rows leave the batch and the KV cache: the next steps compute only the rows still going.
            keep_B = torch.tensor(keep, device=sequence_BL.device)
            outputs.cache.batch_select_indices(keep_B)
            sequence_BL, attention_mask_BL = sequence_BL[keep_B], attention_mask_BL[keep_B]
            position_ids_BL = position_ids_BL[keep_B]
            rows = [rows[b] for b in keep]
            if generators is not None:
                generators = [generators[b] for b in keep]  # each row keeps drawing from its own generator
        attention_mask_BL = torch.cat([attention_mask_BL, torch.ones_like(attention_mask_BL[:, :1])], dim=1)
        position_ids_BL = position_ids_BL[:, -1:] + 1
        outputs = model(
            input_ids=sequence_BL[:, -1:],
            attention_mask=attention_mask_BL,
            position_ids=position_ids_BL,
            cache=outputs.cache,
            use_cache=True,
        )


def _next_tokens(logits_BV: torch.Tensor, temperature: float, generators: list[torch.Generator] | None) -> torch.Tensor:
    """Greedy: the top token of each row; sampling: one draw per row from that row's own generator."""
    if generators is None:
        return logits_BV.argmax(dim=-1)
    probs_BV = torch.softmax(logits_BV.float() / temperature, dim=-1)
    return torch.cat([torch.multinomial(probs_V, 1, generator=g) for probs_V, g in zip(probs_BV, generators)])


__all__ = ["generate_text", "generate_from_batch", "cut_at_stop"]
