"""VAR's next-scale transformer as VARGPT uses it (`vargpt_gen`): AdaLN self-attention blocks over a token pyramid.

Behaviour follows FoundationVision/VAR @78b9539 (`models/var.py`, `models/basic_var.py`) as configured by VARGPT
(VARGPT-family/VARGPT @453d3cf, `build_vae_vargpt_v1`: depth 30, width 64 * depth, heads = depth, L2-normalised
q/k attention, AdaLN not shared, LayerNorm eps 1e-6, tanh-GELU MLP). In VARGPT the blocks do not read the token
pyramid directly: the LLM runs over it first and the blocks read the LLM's last hidden states (mapped back to the
VAR width); see `vargpt.image_generation`. Parameter and buffer names match the released checkpoint.

Shape legend: B batch, L tokens over all scales, l tokens of one scale, C VAR width, D condition width (= C),
H heads, c head dim, V codebook size, Cv code dimension.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vargpt.var_config import VARConfig

NORM_EPS = 1e-6
MAX_SCALE_MUL = math.log(100.0)  # VAR clamps the learned per-head attention scale at 100


def level_ids(patch_nums: tuple[int, ...]) -> torch.Tensor:
    """Scale index of every token of the pyramid, (1, L) int64 (VAR's `lvl_1L`)."""
    return torch.cat([torch.full((pn * pn,), si, dtype=torch.long) for si, pn in enumerate(patch_nums)]).view(1, -1)


def block_causal_bias(patch_nums: tuple[int, ...]) -> torch.Tensor:
    """(1, 1, L, L) additive mask: 0 where the key's scale <= the query's scale, -inf elsewhere (VAR's mask)."""
    lvl_L = level_ids(patch_nums)[0]
    allowed_LL = lvl_L.view(-1, 1) >= lvl_L.view(1, -1)
    return torch.where(allowed_LL, 0.0, -torch.inf).view(1, 1, lvl_L.numel(), lvl_L.numel())


class SelfAttention(nn.Module):
    """Multi-head attention: L2-normalised q and k, learned per-head scale, q/v biases, optional KV cache."""

    def __init__(self, embed_dim: int, num_heads: int):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        self.num_heads, self.head_dim = num_heads, embed_dim // num_heads
        self.scale_mul_1H11 = nn.Parameter(torch.full((1, num_heads, 1, 1), 4.0).log())
        self.mat_qkv = nn.Linear(embed_dim, 3 * embed_dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(embed_dim))
        self.v_bias = nn.Parameter(torch.zeros(embed_dim))
        self.register_buffer("zero_k_bias", torch.zeros(embed_dim))
        self.proj = nn.Linear(embed_dim, embed_dim)
        self.caching = False
        self.cached_k_BHLc: torch.Tensor | None = None
        self.cached_v_BHLc: torch.Tensor | None = None

    def kv_caching(self, enable: bool) -> None:
        """Switch the KV cache on or off; either way the cache is emptied."""
        self.caching, self.cached_k_BHLc, self.cached_v_BHLc = enable, None, None

    def forward(self, x_BLC: torch.Tensor, attn_bias: torch.Tensor | None) -> torch.Tensor:
        B, L, C = x_BLC.shape
        bias = torch.cat((self.q_bias, self.zero_k_bias, self.v_bias))
        qkv = F.linear(x_BLC, self.mat_qkv.weight, bias).view(B, L, 3, self.num_heads, self.head_dim)
        q_BHLc, k_BHLc, v_BHLc = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        scale_mul_1H11 = self.scale_mul_1H11.clamp_max(MAX_SCALE_MUL).exp()
        q_BHLc = F.normalize(q_BHLc, dim=-1).mul(scale_mul_1H11)
        k_BHLc = F.normalize(k_BHLc, dim=-1)
        if self.caching:
            if self.cached_k_BHLc is not None:
                k_BHLc = torch.cat((self.cached_k_BHLc, k_BHLc), dim=2)
                v_BHLc = torch.cat((self.cached_v_BHLc, v_BHLc), dim=2)
            self.cached_k_BHLc, self.cached_v_BHLc = k_BHLc, v_BHLc
        mask = None if attn_bias is None else attn_bias.to(q_BHLc.dtype)
        # scale=1: the learned per-head scale is already folded into the normalised queries.
        out_BHLc = F.scaled_dot_product_attention(q_BHLc, k_BHLc, v_BHLc, attn_mask=mask, scale=1.0)
        return self.proj(out_BHLc.transpose(1, 2).reshape(B, L, C))


class FFN(nn.Module):
    """fc1 -> tanh-approximated GELU -> fc2."""

    def __init__(self, embed_dim: int, hidden_dim: int):
        super().__init__()
        self.fc1 = nn.Linear(embed_dim, hidden_dim)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden_dim, embed_dim)

    def forward(self, x_BLC: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x_BLC)))


class AdaLNSelfAttn(nn.Module):
    """Pre-norm attention and MLP, each modulated (scale, shift, gate) by a linear map of the condition vector."""

    def __init__(self, embed_dim: int, cond_dim: int, num_heads: int, mlp_ratio: float):
        super().__init__()
        self.embed_dim = embed_dim
        self.attn = SelfAttention(embed_dim, num_heads)
        self.ffn = FFN(embed_dim, round(embed_dim * mlp_ratio))
        self.ln_wo_grad = nn.LayerNorm(embed_dim, eps=NORM_EPS, elementwise_affine=False)
        self.ada_lin = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, 6 * embed_dim))

    def forward(self, x_BLC: torch.Tensor, cond_BD: torch.Tensor, attn_bias: torch.Tensor | None) -> torch.Tensor:
        gamma1, gamma2, scale1, scale2, shift1, shift2 = self.ada_lin(cond_BD).view(-1, 1, 6, self.embed_dim).unbind(2)
        x_BLC = x_BLC + self.attn(self.ln_wo_grad(x_BLC).mul(scale1.add(1)).add_(shift1), attn_bias).mul_(gamma1)
        return x_BLC + self.ffn(self.ln_wo_grad(x_BLC).mul(scale2.add(1)).add_(shift2)).mul(gamma2)


class AdaLNBeforeHead(nn.Module):
    """Final LayerNorm modulated (scale, shift) by the condition vector."""

    def __init__(self, embed_dim: int, cond_dim: int):
        super().__init__()
        self.embed_dim = embed_dim
        self.ln_wo_grad = nn.LayerNorm(embed_dim, eps=NORM_EPS, elementwise_affine=False)
        self.ada_lin = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, 2 * embed_dim))

    def forward(self, x_BLC: torch.Tensor, cond_BD: torch.Tensor) -> torch.Tensor:
        scale, shift = self.ada_lin(cond_BD).view(-1, 1, 2, self.embed_dim).unbind(2)
        return self.ln_wo_grad(x_BLC).mul(scale.add(1)).add_(shift)


class VARDecoder(nn.Module):
    """VARGPT's `vargpt_gen`: embeddings of the token pyramid, the AdaLN blocks and the head over the codebook."""

    def __init__(self, var: VARConfig, num_classes: int):
        super().__init__()
        self.var_config = var
        self.patch_nums = tuple(var.patch_nums)
        self.num_classes = num_classes  # row `num_classes` of class_emb is the unconditional class
        self.C = self.D = var.embed_dim
        self.Cvae, self.V = var.z_channels, var.vocab_size
        self.L = sum(pn * pn for pn in self.patch_nums)
        self.first_l = self.patch_nums[0] ** 2
        self.begin_ends: list[tuple[int, int]] = []
        cur = 0
        for pn in self.patch_nums:
            self.begin_ends.append((cur, cur + pn * pn))
            cur += pn * pn

        init_std = math.sqrt(1 / self.C / 3)  # VAR's embedding init
        self.word_embed = nn.Linear(self.Cvae, self.C)
        self.class_emb = nn.Embedding(num_classes + 1, self.C)
        self.pos_start = nn.Parameter(torch.empty(1, self.first_l, self.C))
        self.pos_1LC = nn.Parameter(torch.empty(1, self.L, self.C))
        self.lvl_embed = nn.Embedding(len(self.patch_nums), self.C)
        for weight in (self.class_emb.weight, self.pos_start, self.pos_1LC, self.lvl_embed.weight):
            nn.init.trunc_normal_(weight.data, mean=0.0, std=init_std)

        self.blocks = nn.ModuleList(
            [AdaLNSelfAttn(self.C, self.D, var.num_heads, var.mlp_ratio) for _ in range(var.depth)]
        )
        self.register_buffer("lvl_1L", level_ids(self.patch_nums))
        self.register_buffer("attn_bias_for_masking", block_causal_bias(self.patch_nums))
        self.head_nm = AdaLNBeforeHead(self.C, self.D)
        self.head = nn.Linear(self.C, self.V)

    def reset_buffers(self) -> None:
        """Recompute `lvl_1L` and the block-causal mask (e.g. after building on the meta device)."""
        device = self.pos_1LC.device
        self.lvl_1L = level_ids(self.patch_nums).to(device)
        self.attn_bias_for_masking = block_causal_bias(self.patch_nums).to(device, self.pos_1LC.dtype)

    def set_kv_caching(self, enable: bool) -> None:
        """Switch every block's KV cache on (empty) or off."""
        for block in self.blocks:
            block.attn.kv_caching(enable)

    def level_pos_1LC(self) -> torch.Tensor:
        """Level plus position embedding of every pyramid token, (1, L, C)."""
        return self.lvl_embed(self.lvl_1L.long()) + self.pos_1LC

    def condition(self, class_ids_B: torch.Tensor) -> torch.Tensor:
        """Class rows -> condition vectors (B, D); row `num_classes` is the unconditional one."""
        return self.class_emb(class_ids_B)

    def first_token_map(self, cond_BD: torch.Tensor) -> torch.Tensor:
        """Scale-0 input (B, first_l, C): condition + pos_start + level/position embedding."""
        B = cond_BD.shape[0]
        sos_BlC = cond_BD.unsqueeze(1).expand(B, self.first_l, -1) + self.pos_start.expand(B, self.first_l, -1)
        return sos_BlC + self.level_pos_1LC()[:, : self.first_l]

    def next_token_map(self, si: int, map_BChw: torch.Tensor) -> torch.Tensor:
        """Scale-si input (B, pn*pn, C) from f_hat downsampled to scale si (B, Cv, pn, pn)."""
        begin, end = self.begin_ends[si]
        x_BlCv = map_BChw.flatten(2).transpose(1, 2)
        return self.word_embed(x_BlCv) + self.level_pos_1LC()[:, begin:end]

    def teacher_forced_input(self, cond_BD: torch.Tensor, var_input_BLCv: torch.Tensor) -> torch.Tensor:
        """The whole pyramid's input (B, L, C) from the condition and scales 1.. as f_hat maps (B, L - first_l, Cv)."""
        B = cond_BD.shape[0]
        sos_BlC = cond_BD.unsqueeze(1).expand(B, self.first_l, -1) + self.pos_start.expand(B, self.first_l, -1)
        x_BLC = torch.cat((sos_BlC, self.word_embed(var_input_BLCv.to(sos_BlC.dtype))), dim=1)
        return x_BLC + self.level_pos_1LC()

    def forward(
        self, x_BLC: torch.Tensor, cond_BD: torch.Tensor, attn_bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Blocks -> head_nm -> head: (B, l, C) features -> (B, l, V) code logits.

        With the KV cache on, pass one scale at a time and `attn_bias=None` (a scale sees itself and the cache);
        for a whole pyramid at once pass `self.attn_bias_for_masking`.
        """
        for block in self.blocks:
            x_BLC = block(x_BLC, cond_BD, attn_bias)
        return self.head(self.head_nm(x_BLC, cond_BD))
