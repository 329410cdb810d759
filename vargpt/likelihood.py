"""Log-likelihood of candidate continuations (multiple choice by likelihood), batched.

Each (request, continuation) pair is one row: the templated prompt's tokens followed by the continuation's.
The continuation's tokens are found as lm-evaluation-harness finds them (`_encode_pair`): trailing spaces of
the context move to the continuation, then context and context + continuation are tokenised and the
continuation is the tail of the latter beyond the context's length, so a merge at the boundary is scored
as part of the continuation. A request's image features are computed once and shared by all its rows.

Shape legend: R rows (request x continuation), L tokens, K kept positions, V vocabulary, D hidden size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from PIL import Image

from vargpt.modeling_vargpt import VARGPTForConditionalGeneration
from vargpt.processing_vargpt import VARGPTProcessor


@dataclass(frozen=True)
class ScoredRow:
    """One (request, continuation) pair as token ids."""

    request_index: int
    choice_index: int
    context_ids: list[int]
    continuation_ids: list[int]


def split_continuation(tokenizer, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """(context ids, continuation ids) the lm-evaluation-harness way (see the module docstring)."""
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    whole_ids = tokenizer(context + continuation).input_ids
    context_ids = tokenizer(context).input_ids
    return context_ids, whole_ids[len(context_ids) :]


def score_continuations(
    model: VARGPTForConditionalGeneration,
    processor: VARGPTProcessor,
    texts: Sequence[str],
    images: Sequence[Sequence[Image.Image]],
    continuations: Sequence[Sequence[str]],
    *,
    rows_per_batch: int | None = None,
) -> list[list[float]]:
    """Summed log-probability of each continuation's tokens after request i's templated prompt and images."""
    if not (len(texts) == len(images) == len(continuations)):
        raise ValueError(
            f"got {len(texts)} texts, {len(images)} image lists and {len(continuations)} continuation lists; "
            "pass one of each per request"
        )
    rows = []
    for request_index, (text, request_images, choices) in enumerate(zip(texts, images, continuations)):
        prompt = processor.expand_image_tokens(processor.build_prompt(text, len(request_images)))
        for choice_index, continuation in enumerate(choices):
            context_ids, continuation_ids = split_continuation(processor.tokenizer, prompt, continuation)
            rows.append(ScoredRow(request_index, choice_index, context_ids, continuation_ids))
    scores = [[0.0] * len(choices) for choices in continuations]
    if not rows:
        return scores
    with torch.inference_mode():
        features = _image_features_per_request(model, processor, images)
        step = rows_per_batch or len(rows)
        for start in range(0, len(rows), step):
            chunk = rows[start : start + step]
            for row, value in zip(chunk, _score_rows(model, processor, chunk, features)):
                scores[row.request_index][row.choice_index] = value
    return scores


def _image_features_per_request(
    model: VARGPTForConditionalGeneration,
    processor: VARGPTProcessor,
    images: Sequence[Sequence[Image.Image]],
) -> list[torch.Tensor | None]:
    # One CLIP pass over all images; then split back per request: (num_images_of_request, P, D) or None.
    pixel_values = processor.pixel_values(images)
    if pixel_values is None:
        return [None] * len(images)
    features_NPD = model.get_image_features(pixel_values.to(model.device, model.dtype))
    per_request, offset = [], 0
    for request_images in images:
        count = len(request_images)
        per_request.append(features_NPD[offset : offset + count] if count else None)
        offset += count
    return per_request


def _score_rows(
    model: VARGPTForConditionalGeneration,
    processor: VARGPTProcessor,
    rows: Sequence[ScoredRow],
    features: Sequence[torch.Tensor | None],
) -> list[float]:
    # The model reads context + continuation minus the last token; position t predicts token t + 1.
    sequences = [row.context_ids + row.continuation_ids for row in rows]
    inputs = [sequence[:-1] for sequence in sequences]
    length = max(len(ids) for ids in inputs)
    pad_id = processor.tokenizer.pad_token_id
    device = model.device
    input_ids_RL = torch.tensor([[pad_id] * (length - len(ids)) + ids for ids in inputs], device=device)
    attention_mask_RL = torch.tensor([[0] * (length - len(ids)) + [1] * len(ids) for ids in inputs], device=device)
    position_ids_RL = (attention_mask_RL.cumsum(-1) - 1).clamp(min=0)

    inputs_embeds_RLD = model.get_input_embeddings()(input_ids_RL)
    row_features = [features[row.request_index] for row in rows if features[row.request_index] is not None]
    if row_features:
        inputs_embeds_RLD = model.merge_image_features(input_ids_RL, inputs_embeds_RLD, torch.cat(row_features))

    # Left padding puts every continuation at the end of its row: only the last K positions are needed.
    kept = max(len(row.continuation_ids) for row in rows)
    if kept == 0:
        return [0.0] * len(rows)
    outputs = model(
        inputs_embeds=inputs_embeds_RLD,
        attention_mask=attention_mask_RL,
        position_ids=position_ids_RL,
        logits_to_keep=kept,
    )
    log_probs_RKV = torch.log_softmax(outputs.logits.float(), dim=-1)
    scores = []
    for r, row in enumerate(rows):
        count = len(row.continuation_ids)
        if count == 0:
            scores.append(0.0)
            continue
        targets_K = torch.tensor(row.continuation_ids, device=device)
        picked = log_probs_RKV[r, kept - count :].gather(-1, targets_K[:, None])
        scores.append(float(picked.sum()))
    return scores


__all__ = ["score_continuations", "split_continuation"]
