"""The multi-scale VQ-VAE: released layout, encode/decode shapes and range, f_hat rebuilt scale by scale."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from released_state_dict import module_shapes, released_shapes

from vargpt.var_config import VARConfig
from vargpt.vqvae import VQVAE

SMALL = VARConfig(
    depth=2, embed_dim=64, num_heads=2, patch_nums=(1, 2, 3, 4), vocab_size=64,
    z_channels=8, vae_ch=16, vae_ch_mult=(1, 2), share_quant_resi=4,
)


@pytest.fixture(scope="module")
def vqvae() -> VQVAE:
    torch.manual_seed(0)
    return VQVAE(SMALL).eval()


def random_indices(batch_size: int, seed: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randint(0, SMALL.vocab_size, (batch_size, pn * pn), generator=gen) for pn in SMALL.patch_nums]


def test_full_size_vqvae_has_the_released_names_and_shapes():
    with torch.device("meta"):
        model = VQVAE(VARConfig())
    assert module_shapes("vae_local", model) == released_shapes(("vae_local",))


def test_image_size_is_last_patch_num_times_downsampling(vqvae):
    # released: 16 * 2**(5-1) = 256; small: 4 * 2**(2-1) = 8
    with torch.device("meta"):
        assert VQVAE(VARConfig()).image_size == 256
    assert vqvae.image_size == 8


@torch.no_grad()
def test_decode_of_encode_has_image_shape_and_range(vqvae):
    images = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1
    indices = vqvae.encode_to_indices(images)
    assert [tuple(idx.shape) for idx in indices] == [(3, 1), (3, 4), (3, 9), (3, 16)]
    assert all(idx.dtype == torch.long and 0 <= idx.min() and idx.max() < SMALL.vocab_size for idx in indices)
    decoded = vqvae.decode_indices(indices)
    assert decoded.shape == (3, 3, 8, 8)
    assert decoded.min() >= -1 and decoded.max() <= 1


@torch.no_grad()
def test_first_scale_code_is_the_nearest_to_the_mean_latent(vqvae):
    # Scale 0 is 1x1: the area-downsampled latent is the spatial mean; its code is the L2-nearest codebook row.
    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(2)) * 2 - 1
    f_BChw = vqvae.quant_conv(vqvae.encoder(images))
    mean_BC = f_BChw.mean(dim=(2, 3))
    expected_B = torch.cdist(mean_BC, vqvae.quantize.embedding.weight).argmin(dim=1)
    assert torch.equal(vqvae.encode_to_indices(images)[0][:, 0], expected_B)


@torch.no_grad()
def test_f_hat_accumulated_scale_by_scale_equals_the_one_rebuilt_from_indices(vqvae):
    indices = random_indices(2, seed=3)
    f_hat = vqvae.empty_f_hat(2, vqvae.quantize.embedding.weight)
    for si, pn in enumerate(SMALL.patch_nums):
        h_BChw = vqvae.quantize.embedding(indices[si]).transpose(1, 2).reshape(2, SMALL.z_channels, pn, pn)
        f_hat, next_map = vqvae.next_scale_input(si, f_hat, h_BChw)
        if si + 1 < len(SMALL.patch_nums):
            assert next_map.shape == (2, SMALL.z_channels, SMALL.patch_nums[si + 1], SMALL.patch_nums[si + 1])
        else:
            assert next_map is None
    torch.testing.assert_close(f_hat, vqvae.indices_to_f_hat(indices), atol=1e-6, rtol=0)


@torch.no_grad()
def test_teacher_forcing_input_is_f_hat_area_downsampled_to_each_next_scale(vqvae):
    indices = random_indices(2, seed=4)
    var_input = vqvae.indices_to_var_input(indices)
    assert var_input.shape == (2, 4 + 9 + 16, SMALL.z_channels)  # every scale but the first
    # The last block (scale 3, 4x4 = the full latent) is f_hat after scales 0..2, summed independently here.
    q = vqvae.quantize
    f_hat_before_last = sum(
        q.upsampled_residual(si, q.indices_to_map(indices[si], pn)) for si, pn in enumerate((1, 2, 3))
    )
    expected = F.interpolate(f_hat_before_last, size=(4, 4), mode="area").flatten(2).transpose(1, 2)
    torch.testing.assert_close(var_input[:, 13:], expected, atol=1e-5, rtol=0)


def test_released_scales_map_to_vars_four_shared_phi_convs():
    # ticks = linspace(1/12, 11/12, 4) = [.083, .361, .639, .917]; scale si sits at si/9. Scales 2 and 7 fall
    # exactly half-way between two ticks; VAR's float arithmetic (np.linspace + np.argmin) sends them to 1 and 3.
    with torch.device("meta"):
        quantize = VQVAE(VARConfig()).quantize
    assert [quantize.quant_resi.index_for(si / 9) for si in range(10)] == [0, 0, 1, 1, 1, 2, 2, 3, 3, 3]
