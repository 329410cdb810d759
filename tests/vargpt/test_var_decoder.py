"""The VAR decoder and the bridges: released layout, block-causal mask, KV cache == teacher forcing."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from released_state_dict import module_shapes, released_shapes

from vargpt.bridges import ImageGenProjector
from vargpt.var_config import VARConfig
from vargpt.var_decoder import VARDecoder, block_causal_bias
from vargpt.vqvae import VQVAE

SMALL = VARConfig(
    depth=2, embed_dim=64, num_heads=2, patch_nums=(1, 2, 3, 4), vocab_size=64,
    z_channels=8, vae_ch=16, vae_ch_mult=(1, 2), share_quant_resi=4,
)
NUM_CLASSES = 10
L_SMALL = 1 + 4 + 9 + 16


@pytest.fixture(scope="module")
def decoder() -> VARDecoder:
    torch.manual_seed(0)
    model = VARDecoder(SMALL, NUM_CLASSES).eval()
    # Non-zero gates and biases so that every path (AdaLN, q/v bias, scale) carries signal.
    with torch.no_grad():
        for block in model.blocks:
            block.attn.q_bias.normal_(std=0.1)
            block.attn.v_bias.normal_(std=0.1)
            block.attn.scale_mul_1H11.add_(torch.randn_like(block.attn.scale_mul_1H11) * 0.1)
    return model


def random_pyramid(batch_size: int, seed: int) -> torch.Tensor:
    return torch.randn(batch_size, L_SMALL, SMALL.embed_dim, generator=torch.Generator().manual_seed(seed))


def test_full_size_decoder_and_bridges_have_the_released_names_and_shapes():
    with torch.device("meta"):
        shapes = module_shapes("vargpt_gen", VARDecoder(VARConfig(), num_classes=32003))
        shapes |= module_shapes("image_gen_projector", ImageGenProjector(1920, 4096))
        shapes |= module_shapes("image_gen_projector_out", ImageGenProjector(4096, 1920))
    assert shapes == released_shapes(("vargpt_gen", "image_gen_projector", "image_gen_projector_out"))


def test_mask_lets_a_token_see_its_own_and_earlier_scales():
    # patch_nums (1, 2): token 0 is scale 0, tokens 1..4 are scale 1.
    # Row 0 sees column 0 only; rows 1..4 see all five columns.
    bias = block_causal_bias((1, 2))[0, 0]
    allowed = bias == 0
    expected = torch.tensor([[1, 0, 0, 0, 0]] + [[1, 1, 1, 1, 1]] * 4, dtype=torch.bool)
    assert torch.equal(allowed, expected)
    assert torch.isneginf(bias[~allowed]).all()


@torch.no_grad()
def test_logits_of_a_scale_do_not_change_when_later_scales_change(decoder):
    cond_BD = decoder.condition(torch.tensor([3, NUM_CLASSES]))
    x_BLC = random_pyramid(2, seed=1)
    logits = decoder(x_BLC, cond_BD, decoder.attn_bias_for_masking)
    for si in range(len(SMALL.patch_nums) - 1):
        end = decoder.begin_ends[si][1]
        changed = x_BLC.clone()
        changed[:, end:] = torch.randn_like(changed[:, end:])
        logits_changed = decoder(changed, cond_BD, decoder.attn_bias_for_masking)
        assert (logits_changed[:, :end] - logits[:, :end]).abs().max() < 1e-6
        assert (logits_changed[:, end:] - logits[:, end:]).abs().max() > 1e-3  # later scales do see the change


@torch.no_grad()
def test_kv_cached_scale_by_scale_logits_equal_the_teacher_forced_forward(decoder):
    cond_BD = decoder.condition(torch.tensor([0, 7, NUM_CLASSES]))
    x_BLC = random_pyramid(3, seed=2)
    full = decoder(x_BLC, cond_BD, decoder.attn_bias_for_masking)
    decoder.set_kv_caching(True)
    try:
        per_scale = [decoder(x_BLC[:, begin:end], cond_BD) for begin, end in decoder.begin_ends]
    finally:
        decoder.set_kv_caching(False)
    assert (torch.cat(per_scale, dim=1) - full).abs().max() < 1e-5


@torch.no_grad()
def test_teacher_forced_input_equals_the_token_maps_generation_builds(decoder):
    torch.manual_seed(3)
    vqvae = VQVAE(SMALL).eval()
    indices = [torch.randint(0, SMALL.vocab_size, (2, pn * pn)) for pn in SMALL.patch_nums]
    cond_BD = decoder.condition(torch.tensor([1, 2]))
    maps = [decoder.first_token_map(cond_BD)]
    f_hat = vqvae.empty_f_hat(2, cond_BD)
    for si, pn in enumerate(SMALL.patch_nums[:-1]):
        f_hat, next_map = vqvae.next_scale_input(si, f_hat, vqvae.quantize.indices_to_map(indices[si], pn))
        maps.append(decoder.next_token_map(si + 1, next_map))
    expected = decoder.teacher_forced_input(cond_BD, vqvae.indices_to_var_input(indices))
    assert (torch.cat(maps, dim=1) - expected).abs().max() < 1e-6


@torch.no_grad()
def test_projector_is_linear_gelu_linear_and_ignores_ln_q():
    torch.manual_seed(4)
    projector = ImageGenProjector(8, 16)
    x = torch.randn(2, 3, 8)
    fc1, fc2 = projector.mlp[0], projector.mlp[2]
    expected = F.linear(F.gelu(F.linear(x, fc1.weight, fc1.bias)), fc2.weight, fc2.bias)
    projector.ln_q.weight.zero_()  # would zero the output if it were applied
    assert projector(x).shape == (2, 3, 16)
    torch.testing.assert_close(projector(x), expected)
