"""Overfitted coding of one image: fit, quantise the networks, range-code -> OFIT payload (the
decoder is decoder.py, which needs no torch).

Encode: fit.fit (float, the model's own rate estimate) -> the ARM's weights in fixed point
(`arm_shift` chosen for the fewest total bits: weights plus latents as really coded) -> the
synthesis weights quantised (`syn_shift` chosen for the lowest MSE + λ·bpp of the decoded image)
-> two range-coded streams: the weight tensors, then the latents in the interleaved order of
exact.Plan (exact.encode_parts).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from bitstream import entropy
from bitstream import overfit as fmt
from bitstream.container import FormatError

from . import exact, render
from .decoder import decode, decode_latents  # noqa: F401 (the codec's other half)
from .fit import FitConfig, FitResult, fit
from .layout import OverfitConfig
from .model import Synthesis

ARM_SHIFTS = range(6, 11)
SYN_SHIFTS = range(5, 11)


@dataclass(frozen=True)
class Encoded:
    payload: bytes
    weight_bytes: int
    latent_bytes: int
    iterations: int
    fit_seconds: float


def _syn_tensors(syn: Synthesis) -> list[torch.Tensor]:
    out = [syn.l1.weight, syn.l1.bias, syn.l2.weight, syn.l2.bias]
    for r in syn.res:
        out += [r.weight, r.bias]
    return out


def _latent_ints(model) -> list[np.ndarray]:
    with torch.no_grad():
        return [g[0].numpy().astype(np.int64).clip(-exact.LATENT_MAX, exact.LATENT_MAX) for g in model.grids(torch.round)]


def _weight_code(ints: list[np.ndarray]) -> tuple[list[int], float]:
    """Each tensor's best zero-mean table, and the bits the tensors then cost."""
    scales = [exact.best_scale(t) for t in ints]
    bits = sum(exact.code_length(t, np.full(t.shape, fmt.table_index(fmt.ZERO_MEAN, k))) for t, k in zip(ints, scales))
    return scales, bits


def encode(rgb: np.ndarray, fc: FitConfig, cfg: OverfitConfig | None = None, callback=None) -> Encoded:
    return code(rgb, fit(rgb, cfg or OverfitConfig(), fc, callback))


def code(rgb: np.ndarray, fr: FitResult) -> Encoded:
    """A fitted model -> its OFIT payload (the networks' step sizes chosen here)."""
    h, w = rgb.shape[:2]
    model, lmbda, cfg = fr.model, fr.lmbda, fr.model.cfg
    grids = _latent_ints(model)
    # ARM: fewest bits for its weights plus the latents it codes (one coding order for every step size)
    plan = exact.Plan([g.shape for g in grids], interleaved=True)
    buf = plan.buffer(grids)
    best = None
    for s in ARM_SHIFTS:
        ints = exact.arm_ints(model.arm, s)
        try:
            arm = exact.ExactARM(ints, s)
        except FormatError:
            continue
        sym, idx = plan.evaluate(buf, arm)
        scales, wbits = _weight_code(ints)
        bits = exact.code_length(sym, idx) + wbits
        if best is None or bits < best[0]:
            best = (bits, s, ints, scales, sym, idx)
    if best is None:
        raise ValueError("the fitted entropy model's weights are beyond the exact range at every step size")
    _, arm_shift, arm_w, arm_scales, sym, idx = best
    # synthesis: lowest MSE + λ bpp of the decoded pixels (the latents upsampled once for every step size)
    ref = rgb.astype(np.float64)
    u = render.upsample(grids)
    best_syn = None
    for s in SYN_SHIFTS:
        ints = [exact.quantise(t, s) for t in _syn_tensors(model.synthesis)]
        scales, wbits = _weight_code(ints)
        px = render.render(cfg, render.weights_from_ints(ints, s), u, h, w)  # the decoder's pixels
        cost = np.mean((px - ref) ** 2) / 255.0**2 + lmbda * wbits / (h * w)
        if best_syn is None or cost < best_syn[0]:
            best_syn = (cost, s, ints, scales)
    _, syn_shift, syn_w, syn_scales = best_syn
    tables = fmt.laplace_tables()
    weights = [(t.ravel(), np.full(t.size, fmt.table_index(fmt.ZERO_MEAN, k)))
               for t, k in zip(arm_w + syn_w, arm_scales + syn_scales)]
    payload = fmt.OverfitPayload(cfg.levels, cfg.arm_hidden, cfg.syn_hidden, cfg.syn_residual, arm_shift, syn_shift,
                                 tuple(arm_scales + syn_scales), entropy.encode_parts(weights, tables),
                                 entropy.encode_rows(plan.parts(sym, idx), tables), interleaved=True)
    return Encoded(payload.to_bytes(), len(payload.weights), len(payload.latents), fr.iterations, fr.seconds)
