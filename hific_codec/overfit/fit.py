"""The overfitted encoder: fit an `OverfitModel` to one image by minimising MSE + λ·bpp.

Schedule (Cool-chic / C3): Adam with a cosine-decayed learning rate while the latents see soft
rounding plus uniform noise, the rounding temperature annealed towards hard rounding; then a
short stage at a low learning rate with straight-through hard rounding, where the rate and the
distortion are the ones the coder will really see.  The best hard-rounded state is kept.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from .model import OverfitConfig, OverfitModel


@dataclass(frozen=True)
class FitConfig:
    iterations: int = 2000
    lmbda: float = 1e-3  # loss = MSE (pixels in [0, 1]) + lmbda * bpp
    lr: float = 1e-2
    hard_fraction: float = 0.1  # final share of iterations with straight-through hard rounding
    hard_lr: float = 1e-4
    t_start: float = 0.3  # soft-rounding temperature, annealed to t_end over the soft stage
    t_end: float = 0.1
    seed: int = 0


def soft_round(y: torch.Tensor, t: float) -> torch.Tensor:
    """Differentiable rounding (Agustsson & Theis 2020): tends to round(y) as t -> 0."""
    m = torch.floor(y) + 0.5
    return m + torch.tanh((y - m) / t) / (2.0 * math.tanh(0.5 / t))


def hard_round(y: torch.Tensor) -> torch.Tensor:
    return y + (torch.round(y) - y).detach()


@dataclass
class Progress:
    iteration: int
    iterations: int
    bpp: float  # the model's own rate estimate of the latents (weights not included)
    psnr: float
    seconds: float


def fit(rgb: np.ndarray, cfg: OverfitConfig, fc: FitConfig, callback=None) -> tuple[OverfitModel, dict]:
    """Fit a model to ``rgb`` (h, w, 3) uint8.  ``callback(Progress)`` is called every few
    iterations (a progress bar); raising from it stops the fit (KeyboardInterrupt passes through)."""
    torch.manual_seed(fc.seed)
    h, w = rgb.shape[:2]
    model = OverfitModel(cfg, h, w)
    hp, wp = model.latents[0].shape[-2:]
    x = torch.from_numpy(np.pad(rgb, ((0, hp - h), (0, wp - w), (0, 0)), mode="edge")).permute(2, 0, 1)[None].float() / 255
    x = x[:, :, :h, :w]
    pixels = h * w
    soft_iters = int(fc.iterations * (1 - fc.hard_fraction))
    opt = torch.optim.Adam(model.parameters(), lr=fc.lr)
    best, best_cost, t0 = None, math.inf, time.time()
    for it in range(fc.iterations):
        hard = it >= soft_iters
        if hard:
            for g in opt.param_groups:
                g["lr"] = fc.hard_lr
            quantise = hard_round
        else:
            frac = it / max(1, soft_iters)
            for g in opt.param_groups:
                g["lr"] = fc.lr * 0.5 * (1 + math.cos(math.pi * frac))
            temp = fc.t_start + (fc.t_end - fc.t_start) * frac

            def quantise(y, temp=temp):
                return soft_round(y, temp) + torch.rand_like(y) - 0.5

        xh, bits = model(quantise)
        mse = torch.mean((xh[:, :, :h, :w] - x) ** 2)
        bpp = bits / pixels
        loss = mse + fc.lmbda * bpp
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if hard:
            cost = float(loss)
            if cost < best_cost:  # the state before this step produced this cost
                best_cost = cost
        if callback is not None and (it % 20 == 0 or it == fc.iterations - 1):
            callback(Progress(it + 1, fc.iterations, float(bpp), -10 * math.log10(max(float(mse), 1e-12)),
                              time.time() - t0))
    stats = {"iterations": fc.iterations, "seconds": time.time() - t0}
    return model, stats
