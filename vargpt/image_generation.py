"""Next-scale image generation over the full VARGPT model, batched; and the teacher-forced image logits.

The procedure is the released one (VARGPT-family/VARGPT @453d3cf, the `inference_image_gen` branch of
`modeling_vargpt_llava.py`, driven by `patching_utils/vargpt_sample.py`):
  1. the prompt (Vicuna v1 template, no image) ends with `<|image_gen_start|>`; one LLM step follows (greedy) and
     a class row of `vargpt_gen.class_emb` is the condition vector (which row: see "Two released loops");
  2. the first token map is cond + pos_start + level/position embedding, mapped into the LLM by
     `image_gen_projector`;
  3. per scale: the LLM runs on the token map, continuing its KV cache; its last (normed) hidden states go through
     `image_gen_projector_out`, the VAR blocks (own KV cache, AdaLN on the condition), head_nm and head;
  4. codes are sampled (top-k, top-p), accumulated into f_hat with VAR's residual rule, and f_hat downsampled to
     the next scale, `word_embed`-ed plus its level/position embedding, is the next token map;
  5. the VQ-VAE decodes f_hat into an image in [-1, 1].

Two released loops. The repository holds two copies of that branch and they differ:
  - `understand_eval/lmms_eval/models/visionllm/vargpt_llava/modeling_vargpt_llava.py` (the lmms-eval copy, what
    shared/reference/vargpt_model.md describes): the condition is the row of the token the LLM emitted after
    `<|image_gen_start|>`; no guidance (`cfg = 4` and `t` are computed and never used); top-k 900, top-p 0.95.
  - `vargpt_llava/modeling_vargpt_llava.py`, the copy `inference/generation_vargpt.py` (the image-generation demo)
    imports, as changed by b9391f2 "Fix bugs in the inference for generating image": the emitted token is
    ignored and both branches use class row num_classes (32003, the unconditional class); guidance cfg 1.5 with
    the noise rule below; top-k 900, top-p 0.96. The initial commit 931a811 of that copy used the emitted token
    with the same guidance.
  The defaults here are the first (issue 2): `condition="emitted_token"`, cfg 0, top-p 0.95. The second is
  `condition="unconditional_row", cfg=1.5, top_p=0.96`. Both samplers accept both.

What this module adds to the released loops:
  - the prompt is the templated instruction with `<|image_gen_start|>` appended as a token id (the released model
    first writes a reply and then emits that token itself; the reply is not generated here);
  - a batch of prompts runs at once: the prompts are left-padded, the LLM gets an attention mask and explicit
    positions, and each scale is one LLM forward and one VAR forward for the whole batch;
  - every image draws its codes (and its guidance noise) from its own `torch.Generator` seeded by its seed,
    so an image does not depend on its batch or its position in it (the released loops use the global RNG);
  - with `condition="emitted_token"`, an emitted token that has no class row (id >= num_classes) is replaced by
    `<|image_gen_start|>` itself, the condition used in training; the metadata says so.

The unconditional branch. No VARGPT code feeds an unconditional branch to the LLM. The guided released loop
(and VARGPT-v1.1 @8c67c26, `VARGPT-family-training/visionllm/vargpt_llava/modeling_vargpt_llava.py`) runs the
LLM on the conditional rows only and gives the unconditional rows standard Gaussian noise in place of the LLM's
hidden states; those rows go through `image_gen_projector_out` and the VAR blocks with AdaLN on class row
num_classes, and the logits are mixed with VAR's ramp `(1 + t) * cond - t * uncond`, t = cfg * si /
(num_scales - 1). That is the rule implemented here (`GUIDANCE_UNCONDITIONAL`), with the noise drawn from each
image's own generator, so the LLM cost does not double. Caveat: it is the authors' inference rule, not a trained
one. Training drops only the class row (to row num_classes, p = 0.1) and keeps the text in the LLM context, so
VARGPT never saw noise in place of hidden states; the alternative that training does support (same prompt, class
row num_classes) differs from the conditional branch only by the constant class row and would barely guide
towards the text.

`sampler="released"` re-implements the released one-image loop for the benchmark baseline (see
`released_image_tokens`); for the same seeds and settings it draws the same images as the batched sampler.

Shape legend: B batch, T prompt tokens, L pyramid tokens, l tokens of one scale, C VAR width, D LLM hidden size,
V codebook size, Cv code dimension, H/W pixels.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from transformers import LlamaModel

Sampler = Literal["batched", "released"]
SAMPLERS: tuple[str, ...] = ("batched", "released")
Condition = Literal["emitted_token", "unconditional_row"]
CONDITIONS: tuple[str, ...] = ("emitted_token", "unconditional_row")
GUIDANCE_UNCONDITIONAL = "gaussian_noise_hidden_states"  # as the guided released loop; see the module docstring
# Metadata values of "condition": how each image's class row was chosen.
CONDITION_EMITTED = "emitted_token"
CONDITION_FALLBACK = "image_gen_start_fallback"
CONDITION_UNCONDITIONAL = "unconditional_row"

# transformers 5 renamed the LLM's `past_key_values` argument and output to `cache`.
_CACHE_ARG = "cache" if "cache" in inspect.signature(LlamaModel.forward).parameters else "past_key_values"


@dataclass
class ImageTokens:
    """What a generation run produced before decoding: codes per scale, f_hat, and how each image was conditioned."""

    indices: list[torch.Tensor]  # per scale (batch, pn * pn) code indices
    f_hat: torch.Tensor  # (batch, Cv, pn_last, pn_last)
    emitted_ids: torch.Tensor  # (batch,) token the LLM emitted after <|image_gen_start|>
    condition_ids: torch.Tensor  # (batch,) class_emb row used as the condition
    condition_sources: list[str]  # per image, a CONDITION_* value: how its row was chosen
    logits: list[torch.Tensor] | None = None  # per scale (batch, pn * pn, V) float32 logits sampled from


# -- sampling -----------------------------------------------------------------------------------------------------
def filter_top_k_top_p(logits_BlV: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """VAR's sample_with_top_k_top_p_ filters: keep the top_k largest, then the smallest set holding top_p mass.

    Logits tied with the k-th largest are kept; the most likely code always survives top-p. Returns a new tensor
    with removed entries at -inf. top_k <= 0 or top_p <= 0 disables that filter; top_k is capped at V.
    """
    logits_BlV = logits_BlV.clone()
    V = logits_BlV.shape[-1]
    if top_k > 0:
        kth_Bl1 = logits_BlV.topk(min(top_k, V), dim=-1, largest=True, sorted=False).values.amin(dim=-1, keepdim=True)
        logits_BlV.masked_fill_(logits_BlV < kth_Bl1, -torch.inf)
    if top_p > 0:
        sorted_BlV, order_BlV = logits_BlV.sort(dim=-1, descending=False)
        remove_sorted = sorted_BlV.softmax(dim=-1).cumsum_(dim=-1) <= (1 - top_p)
        remove_sorted[..., -1:] = False
        logits_BlV.masked_fill_(remove_sorted.scatter(-1, order_BlV, remove_sorted), -torch.inf)
    return logits_BlV


def sample_codes(
    logits_BlV: torch.Tensor, generators: Sequence[torch.Generator], top_k: int, top_p: float
) -> torch.Tensor:
    """One code per token, (B, l), each row drawn with its own generator (one multinomial call per image)."""
    probs_BlV = filter_top_k_top_p(logits_BlV.float(), top_k, top_p).softmax(dim=-1)
    # The only per-image loop: torch has no batched generators. Each call is the one the released loop makes for
    # its single image (multinomial over the (l, V) rows), so a seed draws the same codes in either sampler.
    draws = [
        torch.multinomial(probs_lV, 1, generator=gen)[:, 0] for probs_lV, gen in zip(probs_BlV, generators, strict=True)
    ]
    return torch.stack(draws)


def make_generators(seeds: Sequence[int], device: torch.device) -> list[torch.Generator]:
    """One generator per image, on the model's device, seeded with that image's seed."""
    return [torch.Generator(device=device).manual_seed(int(seed)) for seed in seeds]


def condition_rows(
    emitted_B: torch.Tensor, num_classes: int, image_gen_start_id: int, condition: Condition = "emitted_token"
) -> tuple[torch.Tensor, list[str]]:
    """Emitted tokens -> (class rows to condition on (B,), how each was chosen: one CONDITION_* value per row).

    "emitted_token": rows below num_classes are class rows; row num_classes is the unconditional class and larger
    ids have no row, so those use the `<|image_gen_start|>` row, the condition VARGPT was trained with.
    "unconditional_row": row num_classes for every image, whatever was emitted (the guided released loop).
    """
    if condition == "unconditional_row":
        return torch.full_like(emitted_B, num_classes), [CONDITION_UNCONDITIONAL] * emitted_B.shape[0]
    if condition != "emitted_token":
        raise ValueError(f"unknown condition {condition!r}; known: {list(CONDITIONS)}")
    fallback_B = emitted_B >= num_classes
    rows_B = torch.where(fallback_B, torch.full_like(emitted_B, image_gen_start_id), emitted_B)
    return rows_B, [CONDITION_FALLBACK if fell_back else CONDITION_EMITTED for fell_back in fallback_B.tolist()]


def guided_logits(logits_2BlV: torch.Tensor, cfg: float, si: int, num_scales: int) -> torch.Tensor:
    """VAR's ramped guidance on [conditional; unconditional] rows: (1 + t) * cond - t * uncond, t = cfg*si/(S-1)."""
    B = logits_2BlV.shape[0] // 2
    t = cfg * si / (num_scales - 1)
    return (1 + t) * logits_2BlV[:B] - t * logits_2BlV[B:]


def guidance_noise(generators: Sequence[torch.Generator], l: int, hidden_size: int, dtype: torch.dtype) -> torch.Tensor:
    """Standard normal stand-ins (B, l, D) for the unconditional rows' LLM hidden states, one generator per image."""
    noise = [torch.randn(l, hidden_size, generator=gen, device=gen.device) for gen in generators]
    return torch.stack(noise).to(dtype)


def images_to_uint8(images_B3HW: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] -> uint8 (B, 3, H, W) as the released code saves them: (x + 1) / 2 * 255, truncated."""
    return images_B3HW.float().add(1).mul(0.5).mul(255).clamp(0, 255).to(torch.uint8)


# -- the LLM ------------------------------------------------------------------------------------------------------
def _llm_forward(
    language_model, *, attention_mask, position_ids, cache, input_ids=None, inputs_embeds=None, use_cache=True
):
    """Decoder-only LLM forward (no lm_head): (last normed hidden states (B, l, D), updated KV cache or None)."""
    outputs = language_model.model(
        input_ids=input_ids,
        inputs_embeds=inputs_embeds,
        attention_mask=attention_mask,
        position_ids=position_ids,
        use_cache=use_cache,
        **{_CACHE_ARG: cache},
    )
    return outputs.last_hidden_state, getattr(outputs, _CACHE_ARG, None)


def positions_from_mask(attention_mask_BT: torch.Tensor) -> torch.Tensor:
    """Position ids of a left-padded batch: 0.. over real tokens, 1 on padding (as transformers' generate)."""
    return (attention_mask_BT.long().cumsum(-1) - 1).masked_fill_(attention_mask_BT == 0, 1)


def image_prompt_batch(model, processor, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Templated, left-padded prompts ending with `<|image_gen_start|>`: (input_ids, attention_mask) (B, T)."""
    tokens = processor.tokenize_prompts([processor.build_prompt(text, 0) for text in prompts], padding_side="left")
    input_ids_BT, mask_BT = tokens["input_ids"], tokens["attention_mask"]
    start_id = int(model.config.special_tokens["image_gen_start_token_id"])
    # Appended as an id, as the released model emits it, rather than tokenised from text.
    input_ids_BT = torch.cat([input_ids_BT, torch.full_like(input_ids_BT[:, :1], start_id)], dim=1)
    mask_BT = torch.cat([mask_BT, torch.ones_like(mask_BT[:, :1])], dim=1)
    device = model.vargpt_gen.pos_1LC.device
    return input_ids_BT.to(device), mask_BT.to(device)


# -- batched generation -------------------------------------------------------------------------------------------
@torch.no_grad()
def sample_image_tokens(
    model,
    input_ids_BT: torch.Tensor,
    attention_mask_BT: torch.Tensor,
    generators: Sequence[torch.Generator],
    *,
    cfg: float = 0.0,
    top_k: int = 900,
    top_p: float = 0.95,
    condition: Condition = "emitted_token",
    keep_logits: bool = False,
) -> ImageTokens:
    """The batched next-scale loop from prompts that end with `<|image_gen_start|>` (left-padded, (batch, T))."""
    lm, var, vae = model.language_model, model.vargpt_gen, model.vae_local
    start_id = int(model.config.special_tokens["image_gen_start_token_id"])
    B, num_scales = input_ids_BT.shape[0], len(var.patch_nums)
    if len(generators) != B:
        raise ValueError(f"got {len(generators)} generators for {B} prompts; pass one per prompt")

    # Prefill the prompt; the greedy next token picks the condition row. That token is not fed to the LLM.
    hidden_BTD, cache = _llm_forward(
        lm, input_ids=input_ids_BT, attention_mask=attention_mask_BT,
        position_ids=positions_from_mask(attention_mask_BT), cache=None,
    )
    emitted_B = lm.lm_head(hidden_BTD[:, -1]).argmax(dim=-1)
    condition_B, sources = condition_rows(emitted_B, var.num_classes, start_id, condition)
    cond_BD = var.condition(condition_B)
    if cfg > 0:
        cond_var_BD = torch.cat([cond_BD, var.condition(torch.full_like(condition_B, var.num_classes))])
    else:
        cond_var_BD = cond_BD

    mask_BT = attention_mask_BT
    next_pos_B1 = attention_mask_BT.long().sum(dim=1, keepdim=True)
    x_BlC = var.first_token_map(cond_BD)
    f_hat = vae.empty_f_hat(B, cond_BD)
    indices, kept_logits = [], []
    var.set_kv_caching(True)
    try:
        for si, pn in enumerate(var.patch_nums):
            l = pn * pn
            mask_BT = torch.cat([mask_BT, mask_BT.new_ones(B, l)], dim=1)
            position_ids_Bl = next_pos_B1 + torch.arange(l, device=next_pos_B1.device)
            next_pos_B1 = next_pos_B1 + l
            hidden_BlD, cache = _llm_forward(
                lm, inputs_embeds=model.image_gen_projector(x_BlC), attention_mask=mask_BT,
                position_ids=position_ids_Bl, cache=cache,
            )
            if cfg > 0:
                noise_BlD = guidance_noise(generators, l, hidden_BlD.shape[-1], hidden_BlD.dtype)
                hidden_BlD = torch.cat([hidden_BlD, noise_BlD])
            logits_BlV = var(model.image_gen_projector_out(hidden_BlD), cond_var_BD).float()
            if cfg > 0:
                logits_BlV = guided_logits(logits_BlV, cfg, si, num_scales)
            if keep_logits:
                kept_logits.append(logits_BlV)
            idx_Bl = sample_codes(logits_BlV, generators, top_k, top_p)
            indices.append(idx_Bl)
            f_hat, next_map = vae.next_scale_input(si, f_hat, vae.quantize.indices_to_map(idx_Bl, pn))
            if next_map is not None:
                x_BlC = var.next_token_map(si + 1, next_map)
    finally:
        var.set_kv_caching(False)
    return ImageTokens(indices, f_hat, emitted_B, condition_B, sources, kept_logits if keep_logits else None)


# -- the released loop (benchmark baseline) -----------------------------------------------------------------------
@torch.no_grad()
def released_image_tokens(
    model,
    input_ids_BT: torch.Tensor,
    attention_mask_BT: torch.Tensor,
    generators: Sequence[torch.Generator],
    *,
    cfg: float = 0.0,
    top_k: int = 900,
    top_p: float = 0.95,
    condition: Condition = "emitted_token",
    keep_logits: bool = False,
) -> ImageTokens:
    """The released one-image-at-a-time loop, faithfully, for each prompt in turn.

    Per image: the prompt alone (padding stripped) through the causal LM with logits for its last position;
    greedy next token; condition rows for both branches and both first token maps projected into the LLM (only
    the first is used); per scale the full causal-LM forward with all hidden states kept and no attention mask
    or positions (they continue from the cache), `hidden_states[-1]` (plus noise rows when cfg > 0) through the
    bridge and VAR blocks, guidance, sampling, f_hat update, the next map projected and repeated to two rows as
    the released code does. cfg 0 is the lmms-eval copy (conditional rows only); cfg > 0 the guided copy.
    Deviations: codes and noise are drawn with the image's own generator (the released code uses the global
    RNG), codes in float32; the condition row follows `condition_rows` (with "emitted_token" the released code
    would use row 32003 for an emitted `<|image_gen_end|>` and fail on larger ids).
    """
    lm, var, vae = model.language_model, model.vargpt_gen, model.vae_local
    start_id = int(model.config.special_tokens["image_gen_start_token_id"])
    if len(generators) != input_ids_BT.shape[0]:
        raise ValueError(f"got {len(generators)} generators for {input_ids_BT.shape[0]} prompts; pass one per prompt")
    rows = 2 if cfg > 0 else 1  # VAR rows per image: [conditional; unconditional] when guiding
    results = []
    for input_ids_T, mask_T, gen in zip(input_ids_BT, attention_mask_BT, generators, strict=True):
        prompt_1T = input_ids_T[mask_T.bool()].unsqueeze(0)
        outputs = lm(input_ids=prompt_1T, use_cache=True, logits_to_keep=1)
        cache = getattr(outputs, _CACHE_ARG)
        emitted_1 = outputs.logits[:, -1].argmax(dim=-1)
        condition_1, sources = condition_rows(emitted_1, var.num_classes, start_id, condition)
        cond_2D = var.condition(torch.cat([condition_1, torch.full_like(condition_1, var.num_classes)]))
        token_map = model.image_gen_projector(var.first_token_map(cond_2D))
        f_hat = vae.empty_f_hat(1, cond_2D)
        indices, kept_logits = [], []
        var.set_kv_caching(True)
        try:
            for si, pn in enumerate(var.patch_nums):
                outputs = lm(
                    inputs_embeds=token_map[:1], use_cache=True, output_hidden_states=True, logits_to_keep=1,
                    **{_CACHE_ARG: cache},
                )
                cache = getattr(outputs, _CACHE_ARG)
                hidden_1lD = outputs.hidden_states[-1]
                if cfg > 0:
                    noise_1lD = guidance_noise([gen], pn * pn, hidden_1lD.shape[-1], hidden_1lD.dtype)
                    hidden_1lD = torch.cat([hidden_1lD, noise_1lD])
                logits_1lV = var(model.image_gen_projector_out(hidden_1lD), cond_2D[:rows]).float()
                if cfg > 0:
                    logits_1lV = guided_logits(logits_1lV, cfg, si, len(var.patch_nums))
                if keep_logits:
                    kept_logits.append(logits_1lV)
                idx_1l = sample_codes(logits_1lV, [gen], top_k, top_p)
                indices.append(idx_1l)
                f_hat, next_map = vae.next_scale_input(si, f_hat, vae.quantize.indices_to_map(idx_1l, pn))
                if next_map is not None:
                    token_map = model.image_gen_projector(var.next_token_map(si + 1, next_map)).repeat(2, 1, 1)
        finally:
            var.set_kv_caching(False)
        results.append(ImageTokens(indices, f_hat, emitted_1, condition_1, sources, kept_logits or None))
    return ImageTokens(
        indices=[torch.cat(scale) for scale in zip(*(r.indices for r in results))],
        f_hat=torch.cat([r.f_hat for r in results]),
        emitted_ids=torch.cat([r.emitted_ids for r in results]),
        condition_ids=torch.cat([r.condition_ids for r in results]),
        condition_sources=[source for r in results for source in r.condition_sources],
        logits=[torch.cat(scale) for scale in zip(*(r.logits for r in results))] if keep_logits else None,
    )


# -- public entry points ------------------------------------------------------------------------------------------
@torch.no_grad()
def generate_images(
    model,
    processor,
    prompts: list[str],
    seeds: list[int],
    *,
    cfg: float = 0.0,
    top_k: int = 900,
    top_p: float = 0.95,
    sampler: Sampler = "batched",
    condition: Condition = "emitted_token",
) -> tuple[torch.Tensor, list[dict]]:
    """Images for `prompts`: uint8 `(batch, 3, size, size)` (256 px released) and one metadata dict per image.

    Defaults are the lmms-eval copy of the released loop (emitted-token condition, no guidance, top-k 900,
    top-p 0.95); `condition="unconditional_row", cfg=1.5, top_p=0.96` is the guided demo copy (module docstring).
    Each image's randomness comes from a generator on the model's device seeded with its seed.
    `sampler="released"` runs the released one-image loop (the benchmark baseline).
    """
    if len(prompts) != len(seeds):
        raise ValueError(f"got {len(prompts)} prompts but {len(seeds)} seeds; pass one seed per prompt")
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; known: {list(SAMPLERS)}")
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; known: {list(CONDITIONS)}")
    if cfg < 0:
        raise ValueError(f"cfg must be >= 0 (0 disables guidance), got {cfg}")
    if not prompts:
        size = model.vae_local.image_size
        return torch.empty(0, 3, size, size, dtype=torch.uint8), []
    input_ids_BT, mask_BT = image_prompt_batch(model, processor, prompts)
    generators = make_generators(seeds, input_ids_BT.device)
    run = released_image_tokens if sampler == "released" else sample_image_tokens
    tokens = run(model, input_ids_BT, mask_BT, generators, cfg=cfg, top_k=top_k, top_p=top_p, condition=condition)
    images_B3HW = images_to_uint8(model.vae_local.f_hat_to_images(tokens.f_hat)).cpu()
    metadata = []
    emitted_ids, condition_ids = tokens.emitted_ids.tolist(), tokens.condition_ids.tolist()
    for i, (prompt, seed) in enumerate(zip(prompts, seeds)):
        metadata.append({
            "prompt": prompt,
            "seed": int(seed),
            "sampler": sampler,
            "cfg": float(cfg),
            "top_k": int(top_k),
            "top_p": float(top_p),
            "emitted_token_id": int(emitted_ids[i]),
            "condition_class_id": int(condition_ids[i]),
            "condition": tokens.condition_sources[i],
            "unconditional_branch": GUIDANCE_UNCONDITIONAL if cfg > 0 else None,
        })
    return images_B3HW, metadata


def teacher_forced_image_logits(
    model,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    indices: list[torch.Tensor],
    *,
    condition_ids: torch.Tensor | None = None,
    inputs_embeds: torch.Tensor | None = None,
) -> torch.Tensor:
    """Code logits `(batch, num_image_tokens, codebook_size)` of one LLM + VAR forward over a teacher-forced pyramid.

    `input_ids` (batch, seq_len) hold, per row, exactly num_image_tokens `<|image_gen_pad|>` tokens (the training
    layout); their embeddings are replaced by the projected token pyramid of `indices` (per scale (batch, pn*pn)).
    The LLM is causal as always; the VAR blocks use the block-causal mask. `condition_ids` (batch,) default to
    `<|image_gen_start|>`, the training condition (training also drops it to the unconditional row with
    probability 0.1; not here). `inputs_embeds` may carry embeddings with image features already merged.
    """
    lm, var, vae = model.language_model, model.vargpt_gen, model.vae_local
    pad_id = int(model.config.special_tokens["image_gen_pad_token_id"])
    B = input_ids.shape[0]
    pad_mask_BT = input_ids == pad_id
    counts = pad_mask_BT.sum(dim=1)
    if not bool((counts == var.L).all()):
        raise ValueError(
            f"each row needs exactly {var.L} <|image_gen_pad|> tokens (one per pyramid token); got {counts.tolist()}"
        )
    if condition_ids is None:
        start_id = int(model.config.special_tokens["image_gen_start_token_id"])
        condition_ids = torch.full((B,), start_id, device=input_ids.device)
    cond_BD = var.condition(condition_ids)
    x_BLC = var.teacher_forced_input(cond_BD, vae.indices_to_var_input(indices))
    if inputs_embeds is None:
        inputs_embeds = lm.get_input_embeddings()(input_ids)
    projected_BLD = model.image_gen_projector(x_BLC).to(inputs_embeds.dtype)
    inputs_embeds = inputs_embeds.masked_scatter(pad_mask_BT.unsqueeze(-1), projected_BLD)
    position_ids = None if attention_mask is None else positions_from_mask(attention_mask)
    hidden_BTD, _ = _llm_forward(
        lm, inputs_embeds=inputs_embeds, attention_mask=attention_mask, position_ids=position_ids, cache=None,
        use_cache=False,
    )
    hidden_BLD = hidden_BTD[pad_mask_BT].view(B, var.L, -1)
    return var(model.image_gen_projector_out(hidden_BLD), cond_BD, var.attn_bias_for_masking)
