"""The overfitted encoder: fit an `OverfitModel` to one image by minimising MSE + λ·bpp.

Schedule (Cool-chic / C3): Adam with a cosine-decayed learning rate while the latents see
s_T(s_T(y) + u), soft rounding around uniform noise, the temperature T annealed towards hard
rounding; then a
short stage at a low learning rate with straight-through hard rounding, where the rate and the
distortion are the ones the coder will see.  The hard stage keeps the best state it visits.

A time budget (``seconds``) fixes the iteration count after a few timed iterations, so the
schedule still runs to its end.  A rate target (``target_bpp``) steers λ multiplicatively from
the model's own rate estimate during the soft stage.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from ..progress import Progress  # bpp: the latents' estimate; psnr: of the output as trained
from .model import OverfitConfig, OverfitModel


@dataclass(frozen=True)
class FitConfig:
    iterations: int = 2000  # the most iterations (a time budget may cut them)
    lmbda: float = 1e-3  # loss = MSE (pixels in [0, 1]) + lmbda * bpp
    lr: float = 1e-2
    hard_fraction: float = 0.1  # final share of iterations with straight-through hard rounding
    hard_lr: float = 1e-4
    t_start: float = 0.3  # soft-rounding temperature, annealed to t_end over the soft stage
    t_end: float = 0.1
    seconds: float | None = None  # time budget for the fit
    target_bpp: float | None = None  # steer λ towards this latent rate
    seed: int = 0
    warm_start: bool = True  # start the networks from the shipped starting point (start.py)


def soft_round(y: torch.Tensor, t: float) -> torch.Tensor:
    """Differentiable rounding (Agustsson & Theis 2020): tends to round(y) as t -> 0."""
    m = torch.floor(y) + 0.5
    return m + torch.tanh((y - m) / t) / (2.0 * math.tanh(0.5 / t))


def hard_round(y: torch.Tensor) -> torch.Tensor:
    return y + (torch.round(y) - y).detach()


@dataclass
class FitResult:
    model: OverfitModel
    iterations: int
    seconds: float
    lmbda: float  # the final λ (moved by a rate target)


TIMING_ITERATIONS = 5


SMALL = 1 << 16  # pixels below which one thread is faster: its operations are too small to share


def fit(rgb: np.ndarray, cfg: OverfitConfig, fc: FitConfig, callback=None) -> FitResult:
    """Fit a model to ``rgb`` (h, w, 3) uint8.  ``callback(Progress)`` runs every 10 iterations;
    an exception raised from it (or Ctrl-C) ends the fit and propagates."""
    threads = torch.get_num_threads()
    if rgb.shape[0] * rgb.shape[1] < SMALL:
        torch.set_num_threads(1)  # 48x64 crop, another job on the cores: 0.05 s per iteration, 2 threads 0.38 s
    try:
        return _fit(rgb, cfg, fc, callback)
    finally:
        torch.set_num_threads(threads)


def _stage(it: int, total: int, fc: FitConfig):
    """(hard, learning rate, quantiser) of iteration ``it`` of ``total``."""
    soft_iters = int(total * (1 - fc.hard_fraction))
    if it >= soft_iters:
        return True, fc.hard_lr, hard_round
    frac = it / max(1, soft_iters)
    temp = fc.t_start + (fc.t_end - fc.t_start) * frac

    def quantise(y):
        # soft rounding on both sides of the noise: as the temperature falls, what the synthesis
        # and the ARM see tends to the integers they will get (C3, Cool-chic 3)
        return soft_round(soft_round(y, temp) + torch.rand_like(y) - 0.5, temp)

    return False, fc.lr * 0.5 * (1 + math.cos(math.pi * frac)), quantise


def _steer(lm, bpp, target: float):
    """Multiplicative λ steering on the noisy rate estimate: 2% per iteration at a 100% miss."""
    return lm * torch.exp(0.02 * (bpp.detach() / target - 1.0).clamp(-1.0, 1.0)) if torch.is_tensor(lm) else \
        lm * math.exp(0.02 * max(-1.0, min(1.0, float(bpp.detach()) / target - 1.0)))


def _new_model(cfg: OverfitConfig, h: int, w: int, fc: FitConfig) -> OverfitModel:
    model = OverfitModel(cfg, h, w)
    if fc.warm_start:
        from .start import networks

        start = networks(cfg)
        if start is not None:
            model.load_state_dict(start, strict=False)  # the networks; the latents start at zero
    return model


def _image(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(rgb[:, :, :3], dtype=np.float32)).permute(2, 0, 1)[None] / 255


def _fit(rgb: np.ndarray, cfg: OverfitConfig, fc: FitConfig, callback) -> FitResult:
    torch.manual_seed(fc.seed)
    h, w = rgb.shape[:2]
    model = _new_model(cfg, h, w, fc)
    x = _image(rgb)
    pixels = h * w
    total = fc.iterations
    opt = torch.optim.Adam(model.parameters(), lr=fc.lr)
    lm = fc.lmbda
    best, best_cost, t0 = None, math.inf, time.time()
    it = 0
    while it < total:
        hard, lr, quantise = _stage(it, total, fc)
        for g in opt.param_groups:
            g["lr"] = lr
        xh, bits = model(quantise)
        mse = torch.mean((xh[:, :, :h, :w] - x) ** 2)
        bpp = bits / pixels
        loss = mse + lm * bpp
        if hard:
            cost = float(loss.detach())
            if cost < best_cost:  # this state, before the step below changes it
                best_cost, best = cost, copy.deepcopy(model.state_dict())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        it += 1
        if fc.target_bpp is not None and not hard:
            lm = _steer(lm, bpp, fc.target_bpp)
        if fc.seconds is not None and it == TIMING_ITERATIONS:
            per = (time.time() - t0) / TIMING_ITERATIONS
            total = max(TIMING_ITERATIONS + 10, min(total, int(fc.seconds / per)))
        if callback is not None and (it % 10 == 0 or it == total):
            callback(Progress(it, total, float(bpp.detach()),
                              -10 * math.log10(max(float(mse.detach()), 1e-12)), time.time() - t0))
    if best is not None:
        model.load_state_dict(best)
    return FitResult(model, total, time.time() - t0, lm)


def fit_batch(rgbs: list[np.ndarray], cfg: OverfitConfig, fc: FitConfig, lmbdas: list[float],
              device: str = "cpu") -> list[FitResult]:
    """Fit one model per (image, λ) pair at once: same-shaped images, the networks and latents
    stacked along a batch axis and evaluated with ``torch.func.vmap``.  The summed loss gives each
    model its own gradient and Adam is elementwise, so each fit follows ``fit``'s schedule
    independently (its own noise draws, its own best hard-stage state); only the kernels are
    shared, which is what fills an accelerator.  Time budgets are not supported here."""
    from torch.func import functional_call, stack_module_state, vmap

    if fc.seconds is not None:
        raise ValueError("fit_batch runs a fixed iteration count")
    h, w = rgbs[0].shape[:2]
    torch.manual_seed(fc.seed)
    models = [_new_model(cfg, h, w, fc) for _ in rgbs]
    params, _ = stack_module_state(models)
    params = {k: v.to(device).detach().requires_grad_(True) for k, v in params.items()}
    base = copy.deepcopy(models[0]).to("meta")
    x = torch.cat([_image(r) for r in rgbs]).to(device)
    lm = torch.tensor(lmbdas, dtype=torch.float32, device=device)
    total = fc.iterations
    opt = torch.optim.Adam(params.values(), lr=fc.lr)

    def one(p, quantise):
        return functional_call(base, (p, {}), (quantise,))

    best = {k: v.detach().clone() for k, v in params.items()}
    best_cost = torch.full((len(rgbs),), math.inf, device=device)
    t0 = time.time()
    for it in range(total):
        hard, lr, quantise = _stage(it, total, fc)
        for g in opt.param_groups:
            g["lr"] = lr
        xh, bits = vmap(one, in_dims=(0, None), randomness="different")(params, quantise)
        mse = torch.mean((xh[:, 0, :, :h, :w] - x) ** 2, dim=(1, 2, 3))
        bpp = bits / (h * w)
        cost = mse + lm * bpp
        if hard:
            with torch.no_grad():
                better = cost < best_cost
                best_cost = torch.where(better, cost, best_cost)
                for k, v in params.items():
                    best[k] = torch.where(better.view(-1, *[1] * (v.dim() - 1)), v, best[k])
        opt.zero_grad(set_to_none=True)
        cost.sum().backward()
        opt.step()
        if fc.target_bpp is not None and not hard:
            lm = _steer(lm, bpp, fc.target_bpp)
    seconds = time.time() - t0
    with torch.no_grad():  # a fit with no hard stage keeps its final state, as ``fit`` does
        for k, v in params.items():
            best[k] = torch.where(torch.isinf(best_cost).view(-1, *[1] * (v.dim() - 1)), v, best[k])
    out = []
    for i, m in enumerate(models):
        m.load_state_dict({k: v[i].detach().cpu() for k, v in best.items()})
        out.append(FitResult(m, total, seconds, float(lm[i])))
    return out
