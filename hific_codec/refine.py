"""Encoder effort: per-image refinement of the latents before coding (decoder and format unchanged).

The analysis transform ``g_a`` is amortised: it gives good latents for images in general, not
the best ones for this image.  With the decoder fixed, the encoder may search for latents with a
lower rate-distortion cost ``lambda(t) * 255^2 * MSE + bpp`` for this image (Campos et al. 2019,
"Content adaptive optimization for neural image compression").

The search is stochastic Gumbel annealing (SGA; Yang et al. 2020, "Improving inference for
neural image compression"): Adam on the gained latents ``y``, where each ``y - μ`` is rounded
to a random soft mix of its two neighbouring integers, the nearer the likelier, with a
temperature that anneals from 0.5 to 0.05, so the objective turns from smooth into the hard
rounding the coder does.  Means and scales come from ``ẑ = round(h_a(y))`` and
the checkerboard context as the coder derives them; the rate of ``ẑ`` (a few percent of the file)
is left out of the objective.  Every ``SCORE_EVERY`` steps the latents are scored with hard
rounding, and the best scoring ones are kept.

Why not straight-through rounding: it was this module's first method, at lr 0.03,
and its hard cost rose from the first step (kodim23 at quality 50: 0.357 -> 0.507), so the
encoder kept the unrefined latents and effort bought -0.3%.  SGA at 50 steps on the same image:
0.357 -> 0.331, 12% fewer bits at +0.06 dB (``python -m benchmarks.effort``).

Encodes are reproducible: the Gumbel noise comes from a generator seeded per call.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from . import allocator
from .codec import Analysis, Model
from .entropy_models import bits, gaussian_likelihood, ste_round
from .progress import Progress


@dataclass(frozen=True)
class Effort:
    steps: int
    lr: float  # Adam's peak step, in quantisation bins (the latents are gained); cosine-decayed to 10%


EFFORTS = {0: Effort(0, 0.0), 1: Effort(50, 0.03), 2: Effort(150, 0.015)}
TAU_MAX, TAU_MIN = 0.5, 0.05  # Gumbel-softmax temperature, annealed geometrically over the steps
SCORE_EVERY = 10
SEED = 0
MAX_PIXELS = 1 << 22  # refinement back-propagates through g_s on the whole image: 4 Mpx at most


def sga_round(v: torch.Tensor, tau: float, gen: torch.Generator) -> torch.Tensor:
    """A soft, random rounding of ``v``: floor(v) + w, with w in (0, 1) the weight of the integer
    above in softmax(-atanh(distance) / tau + Gumbel noise).  The logits are SGA's; unlike its
    Gumbel-softmax the noise is not divided by tau as well, so the noise fades relative to the
    logits as tau anneals (the variant measured against it)."""
    lo = torch.floor(v)
    r = (v - lo).clamp(1e-4, 1 - 1e-4)  # distance to the integer below; atanh(1) is infinite
    logits = torch.stack([-torch.atanh(r), -torch.atanh(1 - r)]) / tau
    u = torch.rand(logits.shape, generator=gen).clamp_(1e-9, 1 - 1e-9)
    return lo + torch.softmax(logits - torch.log(-torch.log(u)), dim=0)[1]


def refine(model: Model, a: Analysis, rgb: np.ndarray, quality: float, effort: Effort, progress=None) -> Analysis:
    """Return an Analysis whose latents have a lower RD cost at ``quality`` for the HxWx3 uint8
    image ``rgb`` than ``a``'s (or ``a``'s own latents if no scored iterate beat them).
    ``progress(hific_codec.progress.Progress)`` is called after every step."""
    if effort.steps <= 0:
        return a
    h, w = a.height, a.width
    if h * w > MAX_PIXELS:
        raise ValueError(f"encoder effort above 0 supports images up to {MAX_PIXELS} pixels, got {w}x{h}")
    allocator.tune()  # many g_s passes in one process: the case allocator.py is for
    x = torch.from_numpy(np.array(rgb)).permute(2, 0, 1)[None].float().div_(255.0)
    net = model.net
    t = model.t(quality)
    gain, inv, lam = net.gain(t), net.inv_gain(t), net.lmbda(t)
    y = (a.y0 * gain).detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([y], lr=effort.lr)
    gen = torch.Generator().manual_seed(SEED)

    def cost(rnd) -> torch.Tensor:
        scale, mean, y_hat = model.y_params(net.h_s(ste_round(net.h_a(y))), y, rnd)
        x_hat = net.g_s(y_hat * inv)[:, :, :h, :w]
        bpp = bits(gaussian_likelihood(y_hat, scale, mean)) / (h * w)
        return (lam * 255.0**2 * (x_hat - x).pow(2).mean() + bpp).sum()

    best_cost, best_y = float("inf"), y.detach()
    n = effort.steps
    t0 = time.perf_counter()
    for step in range(n + 1):
        if step % SCORE_EVERY == 0 or step == n:
            with torch.no_grad():
                c = cost(torch.round).item()
            if c < best_cost:
                best_cost, best_y = c, y.detach().clone()
        if step == n:
            break
        tau = TAU_MAX * (TAU_MIN / TAU_MAX) ** (step / max(1, n - 1))
        for g in opt.param_groups:
            g["lr"] = effort.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * step / n)))
        with torch.enable_grad():
            loss = cost(lambda v, tau=tau: sga_round(v, tau, gen))
            opt.zero_grad(set_to_none=True)
            loss.backward()
        opt.step()
        if progress is not None:
            progress(Progress(step + 1, n, math.nan, math.nan, time.perf_counter() - t0))
    return Analysis((best_y / gain).detach(), h, w)
