"""Variable-rate mean-scale hyperprior (Minnen, Ballé, Toderici, NeurIPS 2018) with gain units (Cui et al., CVPR 2021).

::

    x ──g_a──> y ──×gain(t)──> y_g ──h_a──> z ──Q──> ẑ ──h_s──> (scale, mean)
                                 │                                   │
                                 └──Q(y_g - mean) + mean = ŷ_g <──────┘
    x̂ <──g_s── ŷ_g ×inv_gain(t)

``t`` in [0, L-1] is the continuous rate level: gains are interpolated geometrically between
the L learned gain vectors, and training samples ``t`` continuously with lambda(t) interpolated
in the log domain, so every level in between is a trained operating point.

``h_s`` uses ReLU (not leaky ReLU) so that it can be evaluated in exact fixed-point arithmetic
at coding time (see :mod:`hific_codec.models.int_hyper_synthesis`).
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..entropy_models import gaussian_likelihood, ste_round
from .gdn import GDN
from .layers import conv, deconv


@dataclass(frozen=True)
class HyperpriorConfig:
    N: int = 96  # channels of the hidden layers
    M: int = 128  # channels of the latent y
    levels: int = 8  # number of learned gain vectors (rate anchors)
    lambda_min: float = 0.0015  # distortion weight at t = 0 (MSE on 0..255 pixels)
    lambda_max: float = 0.1  # distortion weight at t = levels - 1
    # Lowest rate level quality 0 maps to.  Below 0 the gains are extrapolated from levels 0 and 1
    # (log-linear): untrained operating points, measured smooth down to t = -3 (~0.09 bpp on Kodak).
    t_min: float = 0.0
    # How the decoder evaluates g_s (inference only; training always uses the transposed form):
    # "transposed" (models 1-3) or "subpixel" (model 4 on: same function, ~1.5x faster on CPU, see
    # models/layers.subpixel).  Pixels may differ by one level between the two, so it is per model.
    gs_form: str = "transposed"


def synthesis_transform(N: int, M: int) -> nn.Sequential:
    """g_s: four stride-2 transposed convolutions with inverse GDN (Ballé et al. 2018)."""
    return nn.Sequential(
        deconv(M, N), GDN(N, inverse=True), deconv(N, N), GDN(N, inverse=True),
        deconv(N, N), GDN(N, inverse=True), deconv(N, 3),
    )


@dataclass
class HyperpriorOutput:
    x_hat: Tensor  # (B, 3, H, W) reconstruction
    y_likelihoods: Tensor  # (B, M, H/16, W/16)
    z_likelihoods: Tensor  # (B, N, H/64, W/64)


class MeanScaleHyperprior(nn.Module):
    def __init__(self, cfg: HyperpriorConfig = HyperpriorConfig(), *, trainable_prior: bool = True):
        super().__init__()
        N, M = cfg.N, cfg.M
        self.cfg = cfg
        self.g_a = nn.Sequential(
            conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M),
        )
        self.g_s = synthesis_transform(N, M)
        self.h_a = nn.Sequential(
            conv(M, N, 3, 1), nn.ReLU(), conv(N, N), nn.ReLU(), conv(N, N),
        )
        self.h_s = nn.Sequential(
            deconv(N, M), nn.ReLU(), deconv(M, M * 3 // 2), nn.ReLU(), conv(M * 3 // 2, 2 * M, 3, 1),
        )
        if trainable_prior:  # training only: coding uses the tables frozen from it at export
            with warnings.catch_warnings():  # compressai 1.2.8 uses deprecated torch.jit.script
                warnings.simplefilter("ignore", FutureWarning)
                from compressai.entropy_models import EntropyBottleneck
            self.entropy_bottleneck = EntropyBottleneck(N)
        # Log-domain gains per rate level; the decoder has its own inverse gains (Cui et al.).
        # Initialised at the high-rate optimum: quantiser step ~ 1/sqrt(lambda), so gain ~ sqrt(lambda);
        # starting from equal gains the levels took >1000 steps to separate at all.
        log_l = torch.linspace(math.log(cfg.lambda_min), math.log(cfg.lambda_max), cfg.levels)
        init = (0.5 * (log_l - log_l.mean())).unsqueeze(1).repeat(1, M)
        self.log_gain = nn.Parameter(init.clone())
        self.log_inv_gain = nn.Parameter(-init)

    # -- rate level helpers -------------------------------------------------------------------
    def _interp(self, table: Tensor, t: Tensor) -> Tensor:
        """Linear interpolation of rows of ``table`` (L, M) at levels ``t`` (B,) -> (B, M, 1, 1);
        below level 0 (down to ``t_min``) linear extrapolation from rows 0 and 1."""
        t = t.clamp(self.cfg.t_min, self.cfg.levels - 1)
        i = t.floor().clamp(0, self.cfg.levels - 2).long()
        f = (t - i.to(t.dtype)).unsqueeze(1)
        rows = table[i] * (1 - f) + table[i + 1] * f
        return rows[:, :, None, None]

    def gain(self, t: Tensor) -> Tensor:
        return torch.exp(self._interp(self.log_gain, t))

    def inv_gain(self, t: Tensor, log_table: Tensor | None = None) -> Tensor:
        """Decoder-side gains at ``t``; ``log_table``: another decoder's table (realism generator)."""
        return torch.exp(self._interp(self.log_inv_gain if log_table is None else log_table, t))

    def lmbda(self, t: Tensor) -> Tensor:
        lo, hi = math.log(self.cfg.lambda_min), math.log(self.cfg.lambda_max)
        return torch.exp(lo + (hi - lo) * t / (self.cfg.levels - 1))

    # -- training forward ----------------------------------------------------------------------
    def hyper_params(self, z_hat: Tensor) -> tuple[Tensor, Tensor]:
        scale, mean = self.h_s(z_hat).chunk(2, dim=1)
        return scale, mean

    @staticmethod
    def y_params(psi: Tensor, y: Tensor, context: nn.Module | None = None,
                 rnd: Callable[[Tensor], Tensor] = ste_round) -> tuple[Tensor, Tensor, Tensor]:
        """ψ = h_s(ẑ) and the gained latents y -> (scale, mean, ŷ) at every position, as the coder
        derives them: ψ alone, or ψ corrected by a checkerboard ``context`` (models/context.py)
        for the second pass.  ŷ = rnd(y - mean) + mean, ``rnd`` straight-through rounding unless
        given (encoder refinement passes a soft one)."""
        if context is not None:
            return context(psi, y, rnd)
        scale, mean = psi.chunk(2, dim=1)
        return scale, mean, rnd(y - mean) + mean

    def forward(self, x: Tensor, t: Tensor, context: nn.Module | None = None) -> HyperpriorOutput:
        """Training pass.  ``context``: a checkerboard context model (models/context.py) trained
        jointly; it gives the second pass's (scale, mean) from the rounded anchors, as the coder does."""
        y = self.g_a(x) * self.gain(t)
        z = self.h_a(y)
        _, z_likelihoods = self.entropy_bottleneck(z)  # additive-noise proxy for the rate of round(z)
        z_hat = ste_round(z)  # the decoder sees integers, so h_s trains on integers
        scale, mean, y_hat = self.y_params(self.h_s(z_hat), y, context)
        # Mixed quantization (Minnen & Singh 2020): noise for the rate, rounding for the synthesis.
        noisy = y + torch.empty_like(y).uniform_(-0.5, 0.5)
        y_likelihoods = gaussian_likelihood(noisy, scale, mean)
        x_hat = self.g_s(y_hat * self.inv_gain(t))
        return HyperpriorOutput(x_hat, y_likelihoods, z_likelihoods)
