"""Batched next-scale generation over the tiny VARGPT: parity with teacher forcing, batching, seeds, guidance."""

from __future__ import annotations

import pytest
import torch

from vargpt.image_generation import (
    CONDITION_EMITTED,
    CONDITION_FALLBACK,
    CONDITION_UNCONDITIONAL,
    condition_rows,
    filter_top_k_top_p,
    generate_images,
    guided_logits,
    image_prompt_batch,
    images_to_uint8,
    make_generators,
    sample_codes,
    sample_image_tokens,
    teacher_forced_image_logits,
)

PROMPTS = ["a cat", "Generate an image of a small house by the lake at sunset.", "a red car"]
SEEDS = [0, 1, 2]


def tokens_for(model, processor, prompts, seeds, **kwargs):
    input_ids, mask = image_prompt_batch(model, processor, prompts)
    return sample_image_tokens(model, input_ids, mask, make_generators(seeds, input_ids.device), **kwargs)


# -- pure pieces --------------------------------------------------------------------------------------------------
def test_top_k_then_top_p_keep_what_vars_filter_keeps():
    # logits 0..3. top_k=3 drops logit 0. The rest have probabilities e^1, e^2, e^3 / (e^1 + e^2 + e^3)
    # = 0.090, 0.245, 0.665; ascending cumulative sums 0.090, 0.335, 1.0. top_p=0.6 removes cumsum <= 0.4
    # (logits 1 and 2); top_p=0.95 removes cumsum <= 0.05 (nothing more).
    logits = torch.tensor([[[0.0, 1.0, 2.0, 3.0]]])
    kept_p06 = torch.isfinite(filter_top_k_top_p(logits, top_k=3, top_p=0.6))[0, 0].tolist()
    kept_p095 = torch.isfinite(filter_top_k_top_p(logits, top_k=3, top_p=0.95))[0, 0].tolist()
    assert kept_p06 == [False, False, False, True]
    assert kept_p095 == [False, True, True, True]
    assert torch.isfinite(filter_top_k_top_p(logits, top_k=900, top_p=0.0)).all()  # k capped at V, no top-p


def test_each_row_draws_from_its_own_generator():
    logits = torch.randn(3, 5, 16, generator=torch.Generator().manual_seed(0))
    codes = sample_codes(logits, make_generators([7, 8, 9], torch.device("cpu")), top_k=0, top_p=0.0)
    alone = sample_codes(logits[1:2], make_generators([8], torch.device("cpu")), top_k=0, top_p=0.0)
    assert codes.shape == (3, 5)
    assert torch.equal(codes[1:2], alone)


def test_a_token_without_class_row_falls_back_to_image_gen_start():
    # num_classes 10 (rows 0..9 are classes, row 10 is unconditional); image_gen_start is 9.
    rows, sources = condition_rows(torch.tensor([3, 9, 10, 11]), num_classes=10, image_gen_start_id=9)
    assert rows.tolist() == [3, 9, 9, 9]
    assert sources == [CONDITION_EMITTED, CONDITION_EMITTED, CONDITION_FALLBACK, CONDITION_FALLBACK]


def test_the_unconditional_row_condition_ignores_the_emitted_token():
    emitted = torch.tensor([3, 11])
    rows, sources = condition_rows(emitted, num_classes=10, image_gen_start_id=9, condition="unconditional_row")
    assert rows.tolist() == [10, 10]
    assert sources == [CONDITION_UNCONDITIONAL] * 2


def test_guidance_is_vars_ramp():
    # 3 scales: t = cfg * si / 2. cond 2, uncond 1: at si=0 -> 2; at si=2 with cfg 1.5 -> 2.5 * 2 - 1.5 * 1 = 3.5.
    logits = torch.tensor([2.0, 1.0]).view(2, 1, 1)
    assert guided_logits(logits, cfg=1.5, si=0, num_scales=3).item() == 2.0
    assert guided_logits(logits, cfg=1.5, si=2, num_scales=3).item() == 3.5


def test_uint8_conversion_is_the_released_truncation():
    # (x + 1) / 2 * 255 truncated: -1 -> 0, 0 -> 127.5 -> 127, 1 -> 255, 0.5 -> 191.25 -> 191
    images = torch.tensor([-1.0, 0.0, 1.0, 0.5]).view(1, 1, 2, 2)
    assert images_to_uint8(images).flatten().tolist() == [0, 127, 255, 191]


# -- the tiny model -------------------------------------------------------------------------------------------------
def test_images_are_uint8_at_the_tokenizer_size_with_metadata(tiny_model):
    model, processor = tiny_model
    images, metadata = generate_images(model, processor, PROMPTS, SEEDS)
    size = model.vae_local.image_size  # 4 (last patch_num) * 2 (one downsampling level) = 8 for the tiny VQ-VAE
    assert images.shape == (3, 3, size, size) and images.dtype == torch.uint8
    assert [m["seed"] for m in metadata] == SEEDS
    for m in metadata:
        expected = CONDITION_EMITTED if m["emitted_token_id"] < model.vargpt_gen.num_classes else CONDITION_FALLBACK
        assert m["condition"] == expected


def test_kv_cached_generation_logits_equal_the_teacher_forced_forward(tiny_model):
    model, processor = tiny_model
    tokens = tokens_for(model, processor, PROMPTS[:2], SEEDS[:2], keep_logits=True)
    input_ids, mask = image_prompt_batch(model, processor, PROMPTS[:2])
    # The training layout: <|image_gen_start|> then one <|image_gen_pad|> per pyramid token.
    num_tokens = model.vargpt_gen.L
    pad_id = model.config.special_tokens["image_gen_pad_token_id"]
    input_ids = torch.cat([input_ids, torch.full((2, num_tokens), pad_id)], dim=1)
    mask = torch.cat([mask, torch.ones(2, num_tokens, dtype=mask.dtype)], dim=1)
    with torch.no_grad():
        forced = teacher_forced_image_logits(model, input_ids, mask, tokens.indices, condition_ids=tokens.condition_ids)
    generated = torch.cat(tokens.logits, dim=1)
    assert forced.shape == generated.shape == (2, num_tokens, model.vargpt_gen.V)
    assert (forced - generated).abs().max() < 1e-4


def test_full_model_code_logits_of_a_scale_ignore_codes_of_that_scale_and_later(tiny_model):
    # Scale k's input is f_hat after scales < k, so changing the codes of scales >= k must leave the logits of
    # scales 0..k unchanged (LLM causal, VAR blocks block-causal); scale k + 1 then sees the change.
    model, processor = tiny_model
    input_ids, mask = image_prompt_batch(model, processor, PROMPTS[:2])
    num_tokens, pad_id = model.vargpt_gen.L, model.config.special_tokens["image_gen_pad_token_id"]
    input_ids = torch.cat([input_ids, torch.full((2, num_tokens), pad_id)], dim=1)
    mask = torch.cat([mask, torch.ones(2, num_tokens, dtype=mask.dtype)], dim=1)
    gen = torch.Generator().manual_seed(0)
    indices = [torch.randint(0, model.vargpt_gen.V, (2, pn * pn), generator=gen) for pn in model.vargpt_gen.patch_nums]
    k = 2
    changed = indices[:k] + [(idx + 1) % model.vargpt_gen.V for idx in indices[k:]]
    with torch.no_grad():
        logits = teacher_forced_image_logits(model, input_ids, mask, indices)
        logits_changed = teacher_forced_image_logits(model, input_ids, mask, changed)
    end_k = model.vargpt_gen.begin_ends[k][1]
    assert (logits[:, :end_k] - logits_changed[:, :end_k]).abs().max() < 1e-6
    assert (logits[:, end_k:] - logits_changed[:, end_k:]).abs().max() > 1e-4


def test_generated_f_hat_equals_the_one_rebuilt_from_its_indices(tiny_model):
    model, processor = tiny_model
    tokens = tokens_for(model, processor, PROMPTS, SEEDS)
    with torch.no_grad():
        rebuilt = model.vae_local.indices_to_f_hat(tokens.indices)
    assert (tokens.f_hat - rebuilt).abs().max() < 1e-5


def test_first_scale_logits_in_a_batch_equal_those_alone(tiny_model):
    model, processor = tiny_model
    batch = tokens_for(model, processor, PROMPTS, SEEDS, keep_logits=True)
    for i in range(len(PROMPTS)):
        alone = tokens_for(model, processor, [PROMPTS[i]], [SEEDS[i]], keep_logits=True)
        assert (batch.logits[0][i] - alone.logits[0][0]).abs().max() < 1e-4


def test_an_image_depends_on_its_seed_not_on_its_batch_or_position(tiny_model):
    model, processor = tiny_model
    batch, _ = generate_images(model, processor, PROMPTS, SEEDS)
    reordered, _ = generate_images(model, processor, PROMPTS[::-1], SEEDS[::-1])
    alone, _ = generate_images(model, processor, [PROMPTS[1]], [SEEDS[1]])
    assert torch.equal(batch, reordered.flip(0))
    assert torch.equal(batch[1], alone[0])


def test_same_seeds_give_the_same_images_and_different_seeds_different_ones(tiny_model):
    model, processor = tiny_model
    first, _ = generate_images(model, processor, PROMPTS, SEEDS)
    again, _ = generate_images(model, processor, PROMPTS, SEEDS)
    other, _ = generate_images(model, processor, PROMPTS, [s + 100 for s in SEEDS])
    assert torch.equal(first, again)
    for i in range(len(PROMPTS)):
        assert not torch.equal(first[i], other[i])


def test_released_loop_draws_the_same_images_as_the_batched_sampler(tiny_model):
    model, processor = tiny_model
    batched, batched_meta = generate_images(model, processor, PROMPTS, SEEDS)
    released, released_meta = generate_images(model, processor, PROMPTS, SEEDS, sampler="released")
    assert torch.equal(batched, released)
    assert [m["condition_class_id"] for m in batched_meta] == [m["condition_class_id"] for m in released_meta]


def test_guidance_runs_and_leaves_the_first_scale_unguided(tiny_model):
    # t = cfg * si / (num_scales - 1) is 0 at scale 0, so (1 + t) * cond - t * uncond == cond there.
    model, processor = tiny_model
    plain = tokens_for(model, processor, PROMPTS, SEEDS, keep_logits=True)
    guided = tokens_for(model, processor, PROMPTS, SEEDS, cfg=1.5, keep_logits=True)
    assert (guided.logits[0] - plain.logits[0]).abs().max() < 1e-5
    assert (guided.logits[-1] - plain.logits[-1]).abs().max() > 1e-3
    images, metadata = generate_images(model, processor, PROMPTS, SEEDS, cfg=1.5)
    assert images.shape[0] == 3 and all(m["unconditional_branch"] for m in metadata)


def test_released_loop_matches_the_batched_sampler_with_the_guided_demo_settings(tiny_model):
    # The guided released copy: class row num_classes for both branches, cfg 1.5, top-p 0.96.
    model, processor = tiny_model
    settings = {"cfg": 1.5, "top_p": 0.96, "condition": "unconditional_row"}
    batched, metadata = generate_images(model, processor, PROMPTS, SEEDS, **settings)
    released, _ = generate_images(model, processor, PROMPTS, SEEDS, sampler="released", **settings)
    assert torch.equal(batched, released)
    assert {m["condition_class_id"] for m in metadata} == {model.vargpt_gen.num_classes}
    assert {m["condition"] for m in metadata} == {CONDITION_UNCONDITIONAL}


def test_teacher_forcing_needs_one_pad_per_pyramid_token(tiny_model):
    model, processor = tiny_model
    input_ids, mask = image_prompt_batch(model, processor, PROMPTS[:1])
    indices = [torch.zeros(1, pn * pn, dtype=torch.long) for pn in model.vargpt_gen.patch_nums]
    with pytest.raises(ValueError, match="image_gen_pad"):
        teacher_forced_image_logits(model, input_ids, mask, indices)
