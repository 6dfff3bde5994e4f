"""The per-image model of overfitted coding: latent grids, auto-regressive entropy model, upsampling
and synthesis, all fitted to one image (Cool-chic lineage: Ladune et al., ICCV 2023; Leguay et
al., 2023; C3, Kim et al., CVPR 2024).

    latent grids ŷ_l, l = 0..L-1, of (H/2^l, W/2^l), integers in the file
      │            └──► ARM f_ψ: for each latent, a context (12 causal neighbours in raster
      │                 order in its own grid, the 3x3 neighbourhood of its parent in ŷ_{l+1})
      │                 ─► (μ, log b) of a Laplace: the rate
      ▼
    upsampling f_υ (fixed bicubic, ×2^l) ─► L channels at full resolution
      ▼
    synthesis f_θ: 1x1 convolutions (L ─► C ─► 3), then residual 3x3 convolutions ─► x̂

Grids are decoded coarsest first, so a latent's parent neighbourhood is always known.  Within a
grid the causal neighbours reach two rows up and two columns either side, so every latent on the
anti-diagonal j + 3i = t depends only on earlier ones: the decoder runs W + 3(H - 1) vectorised
wavefronts per grid, not a loop over latents (exact.py).  The ARM is shared by all grids.
"""
from __future__ import annotations

from functools import cache

import torch
import torch.nn.functional as F
from torch import nn

from .layout import CAUSAL, CONTEXT, PARENT, SLOPE, OverfitConfig, grid_shapes  # noqa: F401 (re-exported)
from .render import phase_taps


class ARM(nn.Module):
    """f_ψ: context -> (μ, log b) of a Laplace distribution, shared by every grid (and, with
    ``inputs`` of its own, the lossless coder's pixel model)."""

    def __init__(self, hidden: int, inputs: int = CONTEXT):
        super().__init__()
        self.l1 = nn.Linear(inputs, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 2)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, ctx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.relu(self.l1(ctx))
        h = F.relu(self.l2(h)) + h
        o = self.out(h)
        return o[..., 0], o[..., 1]


class Synthesis(nn.Module):
    """f_θ: upsampled latents (B, L, H, W) -> RGB in [0, 1] (before clamping)."""

    def __init__(self, cfg: OverfitConfig):
        super().__init__()
        self.l1 = nn.Linear(cfg.levels, cfg.syn_hidden)  # 1x1 convolutions, evaluated as (C, HW) products
        self.l2 = nn.Linear(cfg.syn_hidden, 3)
        self.res = nn.ModuleList(nn.Conv2d(3, 3, 3, padding=1, padding_mode="replicate") for _ in range(cfg.syn_residual))
        for r in self.res:
            nn.init.zeros_(r.weight)
            nn.init.zeros_(r.bias)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        B, L, H, W = u.shape
        v = u.reshape(B, L, H * W)
        v = torch.baddbmm(self.l1.bias[:, None], self.l1.weight.expand(B, -1, -1), v).relu_()
        x = torch.baddbmm(self.l2.bias[:, None], self.l2.weight.expand(B, -1, -1), v).view(B, 3, H, W)
        for k, r in enumerate(self.res):
            x = x + r(x if k == 0 else F.relu(x))
        return x


@cache
def _phase_taps(s: int) -> torch.Tensor:
    return torch.from_numpy(phase_taps(s)).float()


def _upsample_rows_cols(g: torch.Tensor, s: int) -> torch.Tensor:
    """(B, 1, h, w) -> (B, 1, s h, s w): the decoder's bicubic (render.upsample) as two strided-phase
    convolutions (rows, then columns) with edge replication, whose gradients are ordinary
    convolutions: 40% less time forward and backward than interpolate's on 2 CPU threads."""
    B, _, h, w = g.shape
    k = _phase_taps(s).to(g.dtype)
    y = F.conv2d(F.pad(g, (0, 0, 2, 2), mode="replicate"), k[:, None, :, None])  # (B, s, h, w)
    y = y.permute(0, 2, 1, 3).reshape(B, 1, h * s, w)
    y = F.conv2d(F.pad(y, (2, 2, 0, 0), mode="replicate"), k[:, None, None, :])  # (B, s, sh, w)
    return y.permute(0, 2, 3, 1).reshape(B, 1, h * s, w * s)


def upsample_fit(grids: list[torch.Tensor]) -> torch.Tensor:
    """The decoder's upsampling (render.upsample, numpy) for the fit: equal to float rounding."""
    return torch.cat([grids[0]] + [_upsample_rows_cols(g, 1 << l) for l, g in enumerate(grids[1:], 1)], dim=1)


def contexts(grid: torch.Tensor, parent: torch.Tensor | None) -> torch.Tensor:
    """Context vectors of every latent of a grid: (B, H, W, CONTEXT).  ``grid`` (B, H, W);
    ``parent`` (B, H/2, W/2), the next coarser grid, or None for the coarsest (zeros).  Outside
    the grids values read as 0."""
    B, H, W = grid.shape
    g = F.pad(grid, (2, 2, 2, 0))
    feats = [g[:, 2 + di : 2 + di + H, 2 + dj : 2 + dj + W] for di, dj in CAUSAL]
    if parent is None:
        feats += [grid.new_zeros(B, H, W)] * len(PARENT)
    else:
        h2, w2 = parent.shape[1:]
        p = F.pad(parent, (1, 1, 1, 1))
        for di, dj in PARENT:
            q = p[:, 1 + di : 1 + di + h2, 1 + dj : 1 + dj + w2]
            feats.append(q.repeat_interleave(2, 1).repeat_interleave(2, 2)[:, :H, :W])
    return torch.stack(feats, dim=-1)


LATENT_GAIN = 16.0
LOG_B_MIN, LOG_B_MAX = -4.6, 5.0  # Laplace scales the coder's table covers (about 0.01 to 148)


def laplace_bits(v: torch.Tensor, mu: torch.Tensor, log_b: torch.Tensor) -> torch.Tensor:
    """-log2 P(v) for integer-valued v under the Laplace(μ, b) integrated over [v - ½, v + ½]."""
    b = log_b.clamp(LOG_B_MIN, LOG_B_MAX).exp()
    x = (v - mu).abs()
    # P = F(x + ½) - F(x - ½) with x ≥ 0: ½(e^{-(x-½)/b} - e^{-(x+½)/b}) off the centre bin,
    # 1 - e^{-½/b} cosh(x/b)  within it (x < ½)
    lo = (x - 0.5).clamp_min(0.0)
    outer = 0.5 * (torch.exp(-lo / b) - torch.exp(-(x + 0.5) / b))
    inner = 1.0 - torch.exp(-0.5 / b) * torch.cosh(torch.minimum(x, torch.full_like(x, 0.5)) / b)
    p = torch.where(x < 0.5, inner, outer)
    return -torch.log2(p.clamp_min(2.0**-24))


class OverfitModel(nn.Module):
    """One image's decoder and entropy model, with its latent grids as parameters.

    ``forward(quantise)`` -> (x̂ (1, 3, hp, wp), rate in bits): ``quantise`` maps the continuous
    latents to what the decoder sees (noise, soft or hard rounding: fit.py's schedule).
    """

    def __init__(self, cfg: OverfitConfig, h: int, w: int, batch: int = 1):
        super().__init__()
        self.cfg, self.h, self.w = cfg, h, w
        # batch > 1: several images' latents sharing one ARM and synthesis (a learned starting point)
        self.latents = nn.ParameterList(nn.Parameter(torch.zeros(batch, *s)) for s in grid_shapes(cfg.levels, h, w))
        self.arm = ARM(cfg.arm_hidden)
        self.synthesis = Synthesis(cfg)

    def rate(self, grids: list[torch.Tensor]) -> torch.Tensor:
        total = grids[0].new_zeros(())
        for l, g in enumerate(grids):
            mu, log_b = self.arm(contexts(g, grids[l + 1] if l + 1 < len(grids) else None))
            total = total + laplace_bits(g, mu, log_b).sum()
        return total

    def grids(self, quantise) -> list[torch.Tensor]:
        """The decoder-side latents: Q(gain · y).  The gain makes Adam's steps on the stored y
        move ŷ by about a sixth of a bin at lr 1e-2 (Cool-chic's encoder gain) rather than 1%."""
        return [quantise(g * LATENT_GAIN) for g in self.latents]

    def forward(self, quantise) -> tuple[torch.Tensor, torch.Tensor]:
        grids = self.grids(quantise)
        x = self.synthesis(upsample_fit([g[:, None] for g in grids]))
        return x, self.rate(grids)
