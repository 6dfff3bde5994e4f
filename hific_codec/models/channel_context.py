"""Channel-conditional checkerboard context: the checkerboard context model (models/context.py)
with the latent channels coded in slices, each slice conditioned on the slices before it.

Channel-wise conditioning follows Minnen & Singh, "Channel-wise autoregressive entropy models for
learned image compression", ICIP 2020; combining it with a checkerboard follows He, Yang, Peng,
Ma, Qin, Wang, "ELIC: Efficient learned image compression with unevenly grouped space-channel
contextual adaptive coding", CVPR 2022.  Slices are uneven (small first, as in ELIC), in a fixed
channel order (the base model's channels by their share of the rate, largest first).

Passes, all fully parallel over positions, S = number of slices::

    anchors of slice 0          ψ                                            (as the checkerboard)
    anchors of slice k ≥ 1      ψ_k + a_k([ψ_k, c^a_k(ŷ anchors of slices < k)])
    (then the checkerboard's correction Δ from all anchors, as in models/context.py)
    the rest of slice 0         ψ_0 + Δ_0                                    (as the checkerboard)
    the rest of slice k ≥ 1     (ψ + Δ)_k + n_k([(ψ + Δ)_k, c^n_k(ŷ of slices < k)])

c^a_k, c^n_k are 5x5 convolutions; a_k, n_k are 1x1 -> ReLU -> 1x1 heads whose last layer starts
at zero, so a new channel context starts at its base checkerboard's rate exactly.  ReLU and
convolutions only: the coder evaluates it in exact fixed point (models/int_channel_context.py).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..entropy_models import ste_round
from .context import CheckerboardContext, anchor_mask
from .context_config import ChannelContextConfig, ContextConfig  # noqa: F401 (re-exported)


def _head(channels: int, features: int, hidden: int) -> nn.Sequential:
    """[scale, mean of the slice, context features] -> correction to (scale, mean); starts at zero."""
    h = nn.Sequential(nn.Conv2d(2 * channels + features, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, 2 * channels, 1))
    nn.init.zeros_(h[-1].weight)
    nn.init.zeros_(h[-1].bias)
    return h


class ChannelContext(nn.Module):
    def __init__(self, cfg: ChannelContextConfig = ChannelContextConfig(), base: CheckerboardContext | None = None):
        super().__init__()
        self.cfg = cfg
        self.base = base if base is not None else CheckerboardContext(cfg.base)
        order = torch.tensor(cfg.coding_order)
        self.register_buffer("order", order, persistent=False)
        self.register_buffer("inverse", torch.argsort(order), persistent=False)
        F, k = cfg.features, cfg.kernel
        self.c_a, self.a, self.c_n, self.n = (nn.ModuleList() for _ in range(4))
        for first, end in cfg.bounds[1:]:
            self.c_a.append(nn.Conv2d(first, F, k, padding=k // 2))
            self.a.append(_head(end - first, F, cfg.hidden))
            self.c_n.append(nn.Conv2d(first, F, k, padding=k // 2))
            self.n.append(_head(end - first, F, cfg.hidden))

    @staticmethod
    def correct(head: nn.Module, conv: nn.Module, scale: Tensor, mean: Tensor, prior: Tensor) -> tuple[Tensor, Tensor]:
        """One slice's (scale, mean) corrected from ``prior``: the decoded slices before it."""
        d_scale, d_mean = head(torch.cat([scale, mean, conv(prior)], dim=1)).chunk(2, dim=1)
        return scale + d_scale, mean + d_mean

    def forward(self, psi: Tensor, y: Tensor, rnd: Callable[[Tensor], Tensor] = ste_round) -> tuple[Tensor, Tensor, Tensor]:
        """ψ = h_s(ẑ) and the gained latents y -> (scale, mean, ŷ) at every position, as the coder
        derives them (the interface of CheckerboardContext.forward)."""
        mask = anchor_mask(y.shape[2], y.shape[3], y.device)
        o = self.order
        s0, m0 = (p[:, o] for p in psi.chunk(2, dim=1))
        yo = y[:, o]
        # anchors, slice by slice
        sa, ma, ya = [], [], []
        for k, (i, j) in enumerate(self.cfg.bounds):
            s, m = s0[:, i:j], m0[:, i:j]
            if k:
                s, m = self.correct(self.a[k - 1], self.c_a[k - 1], s, m, torch.cat(ya, 1) * mask)
            sa.append(s), ma.append(m), ya.append(rnd(yo[:, i:j] - m) + m)
        anchors = torch.cat(ya, 1) * mask
        # the checkerboard's correction, from all anchors (in the latents' own channel order)
        d_s, d_m = self.base.delta(psi, anchors[:, self.inverse]).chunk(2, dim=1)
        s1, m1 = s0 + d_s[:, o], m0 + d_m[:, o]
        # the rest, slice by slice
        scale, mean, y_hat = [], [], []
        for k, (i, j) in enumerate(self.cfg.bounds):
            s, m = s1[:, i:j], m1[:, i:j]
            if k:
                s, m = self.correct(self.n[k - 1], self.c_n[k - 1], s, m, torch.cat(y_hat, 1))
            scale.append(mask * sa[k] + (1 - mask) * s)
            mean.append(mask * ma[k] + (1 - mask) * m)
            y_hat.append(mask * ya[k] + (1 - mask) * (rnd(yo[:, i:j] - m) + m))
        inv = self.inverse
        return torch.cat(scale, 1)[:, inv], torch.cat(mean, 1)[:, inv], torch.cat(y_hat, 1)[:, inv]
