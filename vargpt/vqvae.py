"""VAR's multi-scale residual VQ-VAE (`vae_local` in VARGPT): images <-> a pyramid of code indices.

Behaviour follows FoundationVision/VAR @78b9539 (`models/vqvae.py`, `models/quant.py`, `models/basic_vae.py`), the
tokenizer VARGPT reuses unchanged; parameter and buffer names match the released checkpoint (`vae_local.*`).
Only the inference paths are here (no VQ training losses, no EMA update of `ema_vocab_hit_SV`).

Shape legend: B batch, C channels, H/W height/width (pixels or latent cells), L tokens over all scales,
l tokens of one scale (pn * pn), V codebook size, Cv code dimension (`z_channels`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vargpt.var_config import VARConfig

NUM_RES_BLOCKS = 2  # per resolution level, as VAR's ddconfig (vq-f16)
QUANT_RESI_RATIO = 0.5  # Phi(h) = (1 - 0.5) * h + 0.5 * conv(h)


def _group_norm(num_channels: int) -> nn.GroupNorm:
    """VAR's `Normalize`: 32 groups; narrower test configs (channels not divisible by 32) use gcd(32, C) groups."""
    groups = 32 if num_channels % 32 == 0 else math.gcd(32, num_channels)
    return nn.GroupNorm(num_groups=groups, num_channels=num_channels, eps=1e-6, affine=True)


class ResnetBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, with a 1x1 shortcut when the width changes."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.norm1 = _group_norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1)
        self.norm2 = _group_norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=1, padding=1)
        self.nin_shortcut = (
            nn.Conv2d(in_channels, out_channels, kernel_size=1) if in_channels != out_channels else nn.Identity()
        )

    def forward(self, x_BCHW: torch.Tensor) -> torch.Tensor:
        h_BCHW = self.conv1(F.silu(self.norm1(x_BCHW)))
        h_BCHW = self.conv2(F.silu(self.norm2(h_BCHW)))
        return self.nin_shortcut(x_BCHW) + h_BCHW


class AttnBlock(nn.Module):
    """Single-head spatial self-attention with a fused 1x1 qkv conv."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        self.norm = _group_norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, kernel_size=1)
        self.proj_out = nn.Conv2d(channels, channels, kernel_size=1)

    def forward(self, x_BCHW: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x_BCHW.shape
        q_BCN, k_BCN, v_BCN = self.qkv(self.norm(x_BCHW)).reshape(B, 3, C, H * W).unbind(1)
        w_BNN = torch.bmm(q_BCN.transpose(1, 2), k_BCN).mul_(C**-0.5).softmax(dim=2)  # [b, query, key]
        h_BCN = torch.bmm(v_BCN, w_BNN.transpose(1, 2))
        return x_BCHW + self.proj_out(h_BCN.view(B, C, H, W))


class Downsample2x(nn.Module):
    """Stride-2 3x3 conv after padding right and bottom by one (VAR's asymmetric padding)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, stride=2, padding=0)

    def forward(self, x_BCHW: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x_BCHW, pad=(0, 1, 0, 1), mode="constant", value=0.0))


class Upsample2x(nn.Module):
    """Nearest 2x upsampling then a 3x3 conv."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, stride=1, padding=1)

    def forward(self, x_BCHW: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x_BCHW, scale_factor=2, mode="nearest"))


class _Level(nn.Module):
    """One resolution level: `block` and `attn` lists plus an optional resampler (names as the checkpoint)."""

    def __init__(self, blocks: list[nn.Module], attns: list[nn.Module]):
        super().__init__()
        self.block = nn.ModuleList(blocks)
        self.attn = nn.ModuleList(attns)


class _Middle(nn.Module):
    """ResnetBlock -> AttnBlock -> ResnetBlock at the lowest resolution."""

    def __init__(self, channels: int):
        super().__init__()
        self.block_1 = ResnetBlock(channels, channels)
        self.attn_1 = AttnBlock(channels)
        self.block_2 = ResnetBlock(channels, channels)

    def forward(self, h_BCHW: torch.Tensor) -> torch.Tensor:
        return self.block_2(self.attn_1(self.block_1(h_BCHW)))


class Encoder(nn.Module):
    """Image (B, 3, H, W) -> latent (B, Cv, H / 2**(levels-1), W / 2**(levels-1)); attention at the lowest level."""

    def __init__(self, ch: int, ch_mult: tuple[int, ...], z_channels: int):
        super().__init__()
        self.conv_in = nn.Conv2d(3, ch, kernel_size=3, stride=1, padding=1)
        in_ch_mult = (1,) + tuple(ch_mult)
        last = len(ch_mult) - 1
        self.down = nn.ModuleList()
        block_in = ch
        for i_level, mult in enumerate(ch_mult):
            block_in, block_out = ch * in_ch_mult[i_level], ch * mult
            blocks, attns = [], []
            for _ in range(NUM_RES_BLOCKS):
                blocks.append(ResnetBlock(block_in, block_out))
                block_in = block_out
                if i_level == last:
                    attns.append(AttnBlock(block_in))
            level = _Level(blocks, attns)
            if i_level != last:
                level.downsample = Downsample2x(block_in)
            self.down.append(level)
        self.mid = _Middle(block_in)
        self.norm_out = _group_norm(block_in)
        self.conv_out = nn.Conv2d(block_in, z_channels, kernel_size=3, stride=1, padding=1)

    def forward(self, x_B3HW: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x_B3HW)
        for level in self.down:
            for i_block, block in enumerate(level.block):
                h = block(h)
                if len(level.attn) > 0:
                    h = level.attn[i_block](h)
            if hasattr(level, "downsample"):
                h = level.downsample(h)
        h = self.mid(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    """Latent (B, Cv, h, w) -> image (B, 3, h * 2**(levels-1), w * 2**(levels-1)), unclamped."""

    def __init__(self, ch: int, ch_mult: tuple[int, ...], z_channels: int):
        super().__init__()
        last = len(ch_mult) - 1
        block_in = ch * ch_mult[last]
        self.conv_in = nn.Conv2d(z_channels, block_in, kernel_size=3, stride=1, padding=1)
        self.mid = _Middle(block_in)
        levels: dict[int, _Level] = {}
        for i_level in reversed(range(len(ch_mult))):  # built from the lowest resolution up, stored by level index
            block_out = ch * ch_mult[i_level]
            blocks, attns = [], []
            for _ in range(NUM_RES_BLOCKS + 1):
                blocks.append(ResnetBlock(block_in, block_out))
                block_in = block_out
                if i_level == last:
                    attns.append(AttnBlock(block_in))
            level = _Level(blocks, attns)
            if i_level != 0:
                level.upsample = Upsample2x(block_in)
            levels[i_level] = level
        self.up = nn.ModuleList([levels[i] for i in range(len(ch_mult))])
        self.norm_out = _group_norm(block_in)
        self.conv_out = nn.Conv2d(block_in, 3, kernel_size=3, stride=1, padding=1)

    def forward(self, z_BCHW: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.conv_in(z_BCHW))
        for level in reversed(self.up):
            for i_block, block in enumerate(level.block):
                h = block(h)
                if len(level.attn) > 0:
                    h = level.attn[i_block](h)
            if hasattr(level, "upsample"):
                h = level.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Phi(nn.Conv2d):
    """VAR's residual refinement: (1 - r) * h + r * conv3x3(h), r = 0.5."""

    def __init__(self, channels: int):
        super().__init__(channels, channels, kernel_size=3, stride=1, padding=1)

    def forward(self, h_BCHW: torch.Tensor) -> torch.Tensor:
        return h_BCHW.mul(1 - QUANT_RESI_RATIO) + super().forward(h_BCHW).mul_(QUANT_RESI_RATIO)


class PhiPartiallyShared(nn.Module):
    """K shared Phi convs; scale si of SN uses the one whose tick is nearest si / (SN - 1)."""

    def __init__(self, channels: int, count: int):
        super().__init__()
        self.qresi_ls = nn.ModuleList([Phi(channels) for _ in range(count)])
        # VAR's ticks: thirds-of-a-step margins for K == 4, half-step margins otherwise.
        margin = 1 / 3 / count if count == 4 else 1 / 2 / count
        self.ticks = np.linspace(margin, 1 - margin, count)

    def index_for(self, at_from_0_to_1: float) -> int:
        """Which Phi serves relative depth `at_from_0_to_1` (first of equals on a tie, like np.argmin)."""
        return int(np.argmin(np.abs(self.ticks - at_from_0_to_1)))

    def __getitem__(self, at_from_0_to_1: float) -> Phi:
        return self.qresi_ls[self.index_for(at_from_0_to_1)]


class MultiScaleQuantizer(nn.Module):
    """VAR's VectorQuantizer2 at inference: nearest-code lookup scale by scale on the residual, f_hat accumulation."""

    def __init__(self, vocab_size: int, z_channels: int, patch_nums: tuple[int, ...], share_quant_resi: int):
        super().__init__()
        if share_quant_resi < 1:
            raise ValueError(
                f"share_quant_resi={share_quant_resi} (unshared Phi per scale) is not supported; "
                "use a positive count such as the released 4"
            )
        if len(patch_nums) < 2:
            raise ValueError(f"patch_nums {patch_nums} needs at least two scales")
        self.vocab_size, self.z_channels, self.patch_nums = vocab_size, z_channels, tuple(patch_nums)
        self.quant_resi = PhiPartiallyShared(z_channels, share_quant_resi)
        # Code-usage statistics from VQ training; kept only because the checkpoint carries it.
        self.register_buffer("ema_vocab_hit_SV", torch.zeros(len(patch_nums), vocab_size))
        self.embedding = nn.Embedding(vocab_size, z_channels)

    def phi(self, si: int) -> Phi:
        """The Phi conv of scale index `si`."""
        return self.quant_resi[si / (len(self.patch_nums) - 1)]

    def upsampled_residual(self, si: int, h_BChw: torch.Tensor) -> torch.Tensor:
        """Scale si's code map (B, Cv, pn, pn) -> its f_hat increment (B, Cv, H, W).

        Bicubic upsampling to the last scale's size (except at the last scale), then that scale's Phi conv.
        """
        side = self.patch_nums[-1]
        if si != len(self.patch_nums) - 1:
            h_BChw = F.interpolate(h_BChw, size=(side, side), mode="bicubic")
        return self.phi(si)(h_BChw)

    def f_to_indices(self, f_BChw: torch.Tensor) -> list[torch.Tensor]:
        """Latent (B, Cv, H, W) -> one (B, pn*pn) index tensor per scale (nearest code in L2 on the residual)."""
        B, C, H, W = f_BChw.shape
        side = self.patch_nums[-1]
        if (H, W) != (side, side):
            raise ValueError(f"latent is {H}x{W} but the last patch_num is {side}; encode images of the model's size")
        f_rest = f_BChw.detach().clone()
        weight_VC = self.embedding.weight
        indices = []
        for si, pn in enumerate(self.patch_nums):
            last = si == len(self.patch_nums) - 1
            z_BChw = f_rest if last else F.interpolate(f_rest, size=(pn, pn), mode="area")
            z_NC = z_BChw.permute(0, 2, 3, 1).reshape(-1, C)
            dist_NV = z_NC.square().sum(dim=1, keepdim=True) + weight_VC.square().sum(dim=1)
            dist_NV = torch.addmm(dist_NV, z_NC, weight_VC.T, alpha=-2, beta=1)
            idx_Bl = dist_NV.argmin(dim=1).view(B, pn * pn)
            f_rest = f_rest - self.upsampled_residual(si, self.indices_to_map(idx_Bl, pn))
            indices.append(idx_Bl)
        return indices

    def indices_to_map(self, idx_Bl: torch.Tensor, pn: int) -> torch.Tensor:
        """Code indices (B, pn*pn) -> code vectors laid out as a map (B, Cv, pn, pn)."""
        return self.embedding(idx_Bl).transpose(1, 2).reshape(idx_Bl.shape[0], self.z_channels, pn, pn)


class VQVAE(nn.Module):
    """The multi-scale VQ-VAE: `encode_to_indices`, `decode_indices` and the f_hat steps next-scale generation uses."""

    def __init__(self, var: VARConfig):
        super().__init__()
        self.var_config = var
        self.patch_nums = tuple(var.patch_nums)
        self.z_channels, self.vocab_size = var.z_channels, var.vocab_size
        self.downsample = 2 ** (len(var.vae_ch_mult) - 1)
        self.encoder = Encoder(var.vae_ch, tuple(var.vae_ch_mult), var.z_channels)
        self.decoder = Decoder(var.vae_ch, tuple(var.vae_ch_mult), var.z_channels)
        self.quantize = MultiScaleQuantizer(var.vocab_size, var.z_channels, self.patch_nums, var.share_quant_resi)
        self.quant_conv = nn.Conv2d(var.z_channels, var.z_channels, kernel_size=3, stride=1, padding=1)
        self.post_quant_conv = nn.Conv2d(var.z_channels, var.z_channels, kernel_size=3, stride=1, padding=1)

    @property
    def image_size(self) -> int:
        """Side in pixels of the images this tokenizer encodes and decodes (256 for the released model)."""
        return self.patch_nums[-1] * self.downsample

    def encode_to_indices(self, images_B3HW: torch.Tensor) -> list[torch.Tensor]:
        """Images in [-1, 1] (batch, 3, image_size, image_size) -> per scale a (batch, pn*pn) LongTensor."""
        return self.quantize.f_to_indices(self.quant_conv(self.encoder(images_B3HW)))

    def indices_to_f_hat(self, indices: list[torch.Tensor]) -> torch.Tensor:
        """Per-scale indices -> the accumulated latent f_hat (batch, Cv, pn_last, pn_last), as VAR rebuilds it."""
        side = self.patch_nums[-1]
        f_hat_BChw = None
        for si, (pn, idx_Bl) in enumerate(zip(self.patch_nums, indices, strict=True)):
            h_BChw = self.quantize.upsampled_residual(si, self.quantize.indices_to_map(idx_Bl, pn))
            f_hat_BChw = h_BChw if f_hat_BChw is None else f_hat_BChw + h_BChw
        assert f_hat_BChw is not None and f_hat_BChw.shape[-1] == side
        return f_hat_BChw

    def f_hat_to_images(self, f_hat_BChw: torch.Tensor) -> torch.Tensor:
        """Latent f_hat -> images in [-1, 1] (batch, 3, image_size, image_size), clamped as VAR's fhat_to_img."""
        return self.decoder(self.post_quant_conv(f_hat_BChw)).clamp_(-1, 1)

    def decode_indices(self, indices: list[torch.Tensor]) -> torch.Tensor:
        """Per-scale indices -> images in [-1, 1] (batch, 3, image_size, image_size)."""
        return self.f_hat_to_images(self.indices_to_f_hat(indices))

    def empty_f_hat(self, batch_size: int, like: torch.Tensor) -> torch.Tensor:
        """The zero f_hat generation starts from (batch, Cv, pn_last, pn_last), on `like`'s device and dtype."""
        side = self.patch_nums[-1]
        return like.new_zeros(batch_size, self.z_channels, side, side)

    def next_scale_input(
        self, si: int, f_hat_BChw: torch.Tensor, h_BChw: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """VAR's get_next_autoregressive_input: add scale si's codes (B, Cv, pn, pn) to f_hat; return (f_hat, next map).

        The next map is f_hat area-downsampled to scale si+1, (B, Cv, pn_next, pn_next); None after the last scale.
        f_hat is not modified in place.
        """
        f_hat_BChw = f_hat_BChw + self.quantize.upsampled_residual(si, h_BChw)
        if si == len(self.patch_nums) - 1:
            return f_hat_BChw, None
        pn_next = self.patch_nums[si + 1]
        return f_hat_BChw, F.interpolate(f_hat_BChw, size=(pn_next, pn_next), mode="area")

    def indices_to_var_input(self, indices: list[torch.Tensor]) -> torch.Tensor:
        """Teacher-forcing input of scales 1.. (VAR's idxBl_to_var_input): (batch, L - first_l, Cv)."""
        B = indices[0].shape[0]
        f_hat_BChw = self.empty_f_hat(B, self.quantize.embedding.weight)
        next_maps = []
        for si in range(len(self.patch_nums) - 1):
            h_BChw = self.quantize.indices_to_map(indices[si], self.patch_nums[si])
            f_hat_BChw, next_BChw = self.next_scale_input(si, f_hat_BChw, h_BChw)
            next_maps.append(next_BChw.flatten(2).transpose(1, 2))
        return torch.cat(next_maps, dim=1)
