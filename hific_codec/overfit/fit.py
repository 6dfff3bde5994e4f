"""The overfitted encoder: fit an `OverfitModel` to one image by minimising MSE + λ·bpp.

Schedule (Cool-chic / C3): Adam with a cosine-decayed learning rate while the latents see
s_T(s_T(y) + u), soft rounding around uniform noise, the temperature T annealed towards hard
rounding; then a
short stage at a low learning rate with straight-through hard rounding, where the rate and the
distortion are the ones the coder will see.  The hard stage keeps the best state it visits.

Coarse to fine (``coarse``): the fit first runs at lower resolutions, an octave down fitting all
grids but the finest to the image's 2x2 means, and each stage's grids and networks start the next.
An iteration there costs a fifth of one at full resolution, and most of an image's bits at low
rates sit in the coarse grids, which it fits there at that price.

A time budget (``seconds``) fixes the iteration count after a few timed iterations, so the
schedule still runs to its end.  A rate target (``target_bpp``) steers λ multiplicatively from
the model's own rate estimate during the soft stage.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F

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
    coarse: tuple[int, ...] = ()  # iterations first at 1/2, 1/4, ... resolution (_descend)
    coarse_below: float = 2.0  # ... where the image's finest-octave detail is below this many λ (_coarsen)
    device: str = "cpu"  # where the fit runs (torch device); the model comes back on the CPU


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


def _half(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, h, w) -> (B, 3, ⌈h/2⌉, ⌈w/2⌉): 2x2 means, odd edges replicated."""
    h, w = x.shape[-2:]
    return F.avg_pool2d(F.pad(x, (0, w % 2, 0, h % 2), mode="replicate"), 2)


def _coarse(model: OverfitModel) -> OverfitModel:
    """The model one octave down: its grids are this model's grids 1.., its networks this model's
    (the synthesis without the finest grid's input)."""
    cfg = replace(model.cfg, levels=model.cfg.levels - 1)
    h, w = model.latents[1].shape[-2:]
    m = OverfitModel(cfg, h, w, batch=model.latents[0].shape[0]).to(model.latents[0].device)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("latents.")}
    state["synthesis.l1.weight"] = state["synthesis.l1.weight"][:, 1:]
    m.load_state_dict(state, strict=False)
    with torch.no_grad():
        for a, b in zip(m.latents, model.latents[1:], strict=True):
            a.copy_(b)
    return m


def _lift(coarse: OverfitModel, model: OverfitModel) -> None:
    """Back from ``_coarse``: the fitted grids and networks into ``model`` (its finest grid and that
    grid's synthesis weights unchanged)."""
    with torch.no_grad():
        for a, b in zip(model.latents[1:], coarse.latents, strict=True):
            a.copy_(b)
        for k, v in coarse.state_dict().items():
            if k.startswith("latents."):
                continue
            target = model.state_dict()[k]
            (target[:, 1:] if k == "synthesis.l1.weight" else target).copy_(v)


def _can_coarsen(model: OverfitModel) -> bool:
    return model.cfg.levels > 2 and min(model.latents[0].shape[-2:]) >= 32


@dataclass
class _Clock:
    """Progress over all stages of one fit."""

    total: int
    callback: object
    done: int = 0
    t0: float = field(default_factory=time.time)


def _fit(rgb: np.ndarray, cfg: OverfitConfig, fc: FitConfig, callback) -> FitResult:
    torch.manual_seed(fc.seed)
    x = _image(rgb).to(fc.device)
    model = _new_model(cfg, *x.shape[-2:], fc).to(fc.device)
    clock = _Clock(fc.iterations + sum(fc.coarse), callback)
    lm, iterations = _descend(model, x, fc, fc.coarse, x.shape[-2] * x.shape[-1], clock)
    return FitResult(model.cpu(), iterations, time.time() - clock.t0, lm)


def _descend(model: OverfitModel, x: torch.Tensor, fc: FitConfig, coarse: tuple[int, ...], pixels: int,
             clock: _Clock) -> tuple[float, int]:
    """Fit ``model`` to ``x``, first (``coarse``) at lower resolutions where ``_coarsen`` says so:
    coarse[0] iterations one octave down, coarse[1] two octaves down, and so on, each stage's
    result starting the next, which then runs COARSE_COST fewer iterations for each coarse one (the
    same time).  The rate is counted per pixel of the full image throughout, so λ means the same
    at every stage.  Returns (the final λ, iterations run at all stages)."""
    seconds, below = fc.seconds, 0
    if coarse and _coarsen(model, x, fc):
        saved = coarse_saving(coarse)
        share = saved / fc.iterations
        clock.total -= saved  # before the stage, so progress shows the real total from the start
        low = _coarse(model)
        sub = replace(fc, iterations=coarse[0], hard_fraction=0.0, seconds=None if seconds is None else seconds * share)
        lm, below = _descend(low, _half(x), sub, coarse[1:], pixels, clock)
        _lift(low, model)
        fc = replace(fc, iterations=fc.iterations - saved, lmbda=lm,
                     seconds=None if seconds is None else seconds * (1 - share))
    else:
        clock.total -= sum(coarse)
    lm, iterations = _loop(model, x, fc, pixels, clock)
    return lm, iterations + below


COARSE_COST = 0.25  # an iteration one octave down against one at full resolution (0.18 s / 0.93 s measured)


def coarse_saving(coarse: tuple[int, ...]) -> int:
    """Full-resolution iterations that the coarse stages ``coarse`` replace (the same time)."""
    return round(sum(n * COARSE_COST ** (k + 1) for k, n in enumerate(coarse)))


def _detail(x: torch.Tensor) -> float:
    """Mean squared error of ``x`` rebuilt from its 2x2 means by bicubic upsampling: the detail a
    stage one octave down cannot see."""
    h, w = x.shape[-2:]
    up = F.interpolate(_half(x), scale_factor=2, mode="bicubic", align_corners=False)[..., :h, :w]
    return float(torch.mean((up - x) ** 2))


def _coarsen(model: OverfitModel, x: torch.Tensor, fc: FitConfig) -> bool:
    """Whether a stage one octave down pays.  It fits the coarse grids at a fifth of the price,
    which is where a smooth image's bits go; but where the finest octave holds much detail for
    the rate asked (its MSE beyond fc.coarse_below λ: textured images at high qualities) the
    coarse stage spends bits on the grid below the finest that the full-resolution stage then
    pays to undo (kodim01 at quality 80: 13% more bits at equal PSNR)."""
    return _can_coarsen(model) and _detail(x) < fc.coarse_below * fc.lmbda


def _loop(model: OverfitModel, x: torch.Tensor, fc: FitConfig, pixels: int, clock: _Clock) -> tuple[float, int]:
    """The schedule of ``_stage`` on one model; returns (the final λ, iterations run)."""
    h, w = x.shape[-2:]
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
        clock.done += 1
        if fc.target_bpp is not None and not hard:
            lm = _steer(lm, bpp, fc.target_bpp)
        if fc.seconds is not None and it == TIMING_ITERATIONS:
            per = (time.time() - t0) / TIMING_ITERATIONS
            new = max(TIMING_ITERATIONS + 10, min(total, int(fc.seconds / per)))
            clock.total += new - total
            total = new
        if clock.callback is not None and (clock.done % 10 == 0 or it == total):
            clock.callback(Progress(clock.done, clock.total, float(bpp.detach()),
                                    -10 * math.log10(max(float(mse.detach()), 1e-12)), time.time() - clock.t0))
    if best is not None:
        model.load_state_dict(best)
    return lm, total


def fit_batch(rgbs: list[np.ndarray], cfg: OverfitConfig, fc: FitConfig, lmbdas: list[float],
              device: str = "cpu") -> list[FitResult]:
    """Fit one model per (image, λ) pair at once: same-shaped images, the networks and latents
    stacked along a batch axis and evaluated with ``torch.func.vmap``.  The summed loss gives each
    model its own gradient and Adam is elementwise, so each fit follows ``fit``'s schedule
    (coarse stages included) independently (its own noise draws, its own best hard-stage state);
    only the kernels are shared, which is what fills an accelerator.  Time budgets are not
    supported here."""
    if fc.seconds is not None:
        raise ValueError("fit_batch runs a fixed iteration count")
    torch.manual_seed(fc.seed)
    xs = [_image(r) for r in rgbs]
    models = [_new_model(cfg, *x.shape[-2:], fc) for x in xs]
    lms = torch.tensor(lmbdas, dtype=torch.float32)
    t0 = time.time()
    # the coarse stage where _coarsen says so for that image and λ: one stacked fit per choice
    use = [bool(fc.coarse) and _coarsen(m, x, replace(fc, lmbda=lm)) for m, x, lm in zip(models, xs, lmbdas, strict=True)]
    out: list[FitResult | None] = [None] * len(models)
    for choice in (True, False):
        idx = [i for i, u in enumerate(use) if u == choice]
        if not idx:
            continue
        sub = replace(fc, coarse=fc.coarse if choice else ())
        x = torch.cat([xs[i] for i in idx]).to(device)
        lm, iterations = _descend_batch([models[i] for i in idx], x, sub, sub.coarse, lms[idx], x.shape[-2] * x.shape[-1])
        for k, i in enumerate(idx):
            out[i] = FitResult(models[i], iterations, time.time() - t0, float(lm[k]))
    return out


def _descend_batch(models: list[OverfitModel], x: torch.Tensor, fc: FitConfig, coarse: tuple[int, ...],
                   lm: torch.Tensor, pixels: int) -> tuple[torch.Tensor, int]:
    """``_descend`` for ``fit_batch``, whose caller has made the coarse-stage choice."""
    below = 0
    if coarse and _can_coarsen(models[0]):
        saved = coarse_saving(coarse)
        low = [_coarse(m) for m in models]
        lm, below = _descend_batch(low, _half(x), replace(fc, iterations=coarse[0], hard_fraction=0.0), coarse[1:],
                                   lm, pixels)
        for a, m in zip(low, models, strict=True):
            _lift(a, m)
        fc = replace(fc, iterations=fc.iterations - saved)
    lm, iterations = _loop_batch(models, x, fc, lm, pixels)
    return lm, iterations + below


def _loop_batch(models: list[OverfitModel], x: torch.Tensor, fc: FitConfig, lm: torch.Tensor,
                pixels: int) -> tuple[torch.Tensor, int]:
    """``_loop`` over stacked models; each model gets its best hard-stage state (or its last)."""
    from torch.func import functional_call, stack_module_state, vmap

    device = x.device
    h, w = x.shape[-2:]
    params, _ = stack_module_state(models)
    params = {k: v.to(device).detach().requires_grad_(True) for k, v in params.items()}
    base = copy.deepcopy(models[0]).to("meta")
    lm = lm.to(device)
    total = fc.iterations
    opt = torch.optim.Adam(params.values(), lr=fc.lr)

    def one(p, quantise):
        return functional_call(base, (p, {}), (quantise,))

    best = {k: v.detach().clone() for k, v in params.items()}
    best_cost = torch.full((len(models),), math.inf, device=device)
    for it in range(total):
        hard, lr, quantise = _stage(it, total, fc)
        for g in opt.param_groups:
            g["lr"] = lr
        xh, bits = vmap(one, in_dims=(0, None), randomness="different")(params, quantise)
        mse = torch.mean((xh[:, 0, :, :h, :w] - x) ** 2, dim=(1, 2, 3))
        bpp = bits / pixels
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
    with torch.no_grad():  # a fit with no hard stage keeps its final state, as ``fit`` does
        for k, v in params.items():
            best[k] = torch.where(torch.isinf(best_cost).view(-1, *[1] * (v.dim() - 1)), v, best[k])
    for i, m in enumerate(models):
        m.load_state_dict({k: v[i].detach().cpu() for k, v in best.items()})
    return lm.cpu(), total
