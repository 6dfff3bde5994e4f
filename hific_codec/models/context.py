"""Checkerboard context model (He, Zheng, Ma, Wang, Qin, Wang, "Checkerboard Context Model for
Efficient Learned Image Compression", CVPR 2021) over the mean-scale hyperprior.

The latents are split like a checkerboard.  Anchors (``(i + j)`` even, in the coding tile's
latent grid) are coded with the hyperprior's parameters alone; the other half is coded second,
with parameters that also see the decoded anchors around it::

    ẑ ──h_s──> ψ (2M: scale, mean) ─────────────┬──────────────────> anchors' (scale, mean)
                                                 │
    ŷ_anchors (others zeroed) ──g_cm (5x5)──> φ ─┴─[ψ, φ]──g_ep──> Δ ──ψ + Δ──> non-anchors' (scale, mean)

Both passes are fully parallel, so decoding costs two entropy-decoding calls instead of one, and
a few convolutions at 1/16 of the pixel resolution.  ``g_ep`` predicts a correction Δ to the
hyperprior's parameters and its last layer starts at zero, so training starts from the plain
hyperprior's rate exactly and only ever learns what the context adds.  ReLU only: the coder
evaluates g_cm and g_ep in exact fixed point (models/int_context.py), like h_s.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..entropy_models import ste_round
from .context_config import ContextConfig


def anchor_mask(h: int, w: int, device=None) -> Tensor:
    """(1, 1, h, w) float: 1 on anchors ((i + j) even), 0 on the second pass."""
    i = torch.arange(h, device=device).view(-1, 1)
    j = torch.arange(w, device=device).view(1, -1)
    return ((i + j) % 2 == 0).float()[None, None]


class CheckerboardContext(nn.Module):
    def __init__(self, cfg: ContextConfig = ContextConfig()):
        super().__init__()
        self.cfg = cfg
        M = cfg.M
        self.g_cm = nn.Conv2d(M, cfg.channels, cfg.kernel, padding=cfg.kernel // 2)
        self.g_ep = nn.Sequential(
            nn.Conv2d(2 * M + cfg.channels, cfg.hidden, 1), nn.ReLU(), nn.Conv2d(cfg.hidden, 2 * M, 1),
        )
        nn.init.zeros_(self.g_ep[-1].weight)
        nn.init.zeros_(self.g_ep[-1].bias)

    def delta(self, psi: Tensor, y_hat_anchors: Tensor) -> Tensor:
        """Correction to ψ (valid at second-pass positions) from anchors-only ŷ (others zero)."""
        return self.g_ep(torch.cat([psi, self.g_cm(y_hat_anchors)], dim=1))

    def forward(self, psi: Tensor, y: Tensor, rnd: Callable[[Tensor], Tensor] = ste_round) -> tuple[Tensor, Tensor, Tensor]:
        """ψ = h_s(ẑ) and the (gained) latents y -> (scale, mean, ŷ) at every position, as the
        coder derives them: anchors from ψ, the rest from ψ + Δ(ŷ anchors).  ``rnd`` rounds
        ``y - mean``: straight-through by default, as in mixed quantization; encoder refinement
        passes a soft rounding (refine.py)."""
        mask = anchor_mask(y.shape[2], y.shape[3], y.device)
        scale0, mean0 = psi.chunk(2, dim=1)
        y_hat0 = rnd(y - mean0) + mean0
        d_scale, d_mean = self.delta(psi, y_hat0 * mask).chunk(2, dim=1)
        scale = scale0 + (1 - mask) * d_scale
        mean = mean0 + (1 - mask) * d_mean
        y_hat = mask * y_hat0 + (1 - mask) * (rnd(y - mean) + mean)
        return scale, mean, y_hat
