"""Overfitted coding of one image: fit, quantise the networks, range-code -> OFIT payload; and back.

Encode: fit.fit (float, the model's own rate estimate) -> the ARM's weights in fixed point
(`arm_shift` chosen for the fewest total bits: weights plus latents as really coded) -> the
synthesis weights quantised (`syn_shift` chosen for the lowest MSE + λ·bpp of the decoded image)
-> two range-coded streams: the weight tensors, then the latents in the interleaved order of
exact.Plan (exact.encode_parts).  Decode: the weights -> exact ARM -> the latents step by step ->
bicubic upsampling and the float synthesis, in row bands with a halo.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from bitstream import entropy
from bitstream import overfit as fmt
from bitstream.container import FormatError

from . import exact
from .fit import FitConfig, FitResult, fit
from .model import OverfitConfig, Synthesis, grid_shapes, upsample

ARM_SHIFTS = range(6, 11)
SYN_SHIFTS = range(5, 11)
BAND = 128  # decode rows per synthesis band (pixels)


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


def _load_syn(cfg: OverfitConfig, ints: list[np.ndarray], shift: int) -> Synthesis:
    syn = Synthesis(cfg)
    step = 2.0 ** -shift
    with torch.no_grad():
        for p, v in zip(_syn_tensors(syn), ints, strict=True):
            p.copy_(torch.from_numpy(v.reshape(p.shape).astype(np.float64) * step))
    return syn.eval().requires_grad_(False)


def render(cfg: OverfitConfig, syn: Synthesis, grids: list[np.ndarray], h: int, w: int) -> np.ndarray:
    """Latent grids -> (h, w, 3) uint8.  The upsampled latents (L floats per pixel) exist whole;
    the synthesis runs in bands of BAND rows with a halo of its 3x3 convolutions, so its wide
    hidden layer never does."""
    hp, wp = grids[0].shape
    out = np.empty((h, w, 3), dtype=np.uint8)
    halo = cfg.syn_residual
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a TF32 notice irrelevant on CPU
        # oneDNN's convolutions change their summation order with the thread count; the native
        # path with MKL in strict mode does not (as for the hyperprior's g_s, numerics.py)
        with torch.backends.mkldnn.flags(enabled=False):
            u = upsample([torch.from_numpy(g.astype(np.float32))[None, None] for g in grids], hp, wp)
            for r0 in range(0, h, BAND):
                a, b = max(0, r0 - halo), min(hp, r0 + BAND + halo)
                x = syn(u[:, :, a:b])[0]
                x = torch.nan_to_num(x, nan=0.0).clamp_(0, 1).mul_(255).round_()
                rows = min(BAND, h - r0)
                out[r0 : r0 + rows] = x[:, r0 - a : r0 - a + rows, :w].permute(1, 2, 0).to(torch.uint8).numpy()
    return out


def _latent_ints(model) -> list[np.ndarray]:
    with torch.no_grad():
        return [g[0].numpy().astype(np.int64).clip(-exact.LATENT_MAX, exact.LATENT_MAX) for g in model.grids(torch.round)]


def _weight_code(ints: list[np.ndarray]) -> tuple[list[int], float]:
    """Each tensor's best zero-mean table, and the bits the tensors then cost."""
    scales = [exact.best_scale(t) for t in ints]
    bits = sum(exact.code_length(t, np.full(t.shape, fmt.table_index(fmt.ZERO_MEAN, k))) for t, k in zip(ints, scales))
    return scales, bits


def encode(rgb: np.ndarray, fc: FitConfig, cfg: OverfitConfig = OverfitConfig(), callback=None) -> Encoded:
    return code(rgb, fit(rgb, cfg, fc, callback))


def code(rgb: np.ndarray, fr: FitResult) -> Encoded:
    """A fitted model -> its OFIT payload (the networks' step sizes chosen here)."""
    h, w = rgb.shape[:2]
    model, lmbda, cfg = fr.model, fr.lmbda, fr.model.cfg
    grids = _latent_ints(model)
    # ARM: fewest bits for its weights plus the latents it codes
    best = None
    for s in ARM_SHIFTS:
        ints = exact.arm_ints(model.arm, s)
        try:
            arm = exact.ExactARM(ints, s)
        except FormatError:
            continue
        parts = exact.encode_parts(grids, arm)
        lat = exact.code_length(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
        scales, wbits = _weight_code(ints)
        if best is None or lat + wbits < best[0]:
            best = (lat + wbits, s, ints, scales, parts)
    if best is None:
        raise ValueError("the fitted entropy model's weights are beyond the exact range at every step size")
    _, arm_shift, arm_w, arm_scales, parts = best
    # synthesis: lowest MSE + λ bpp of the decoded pixels
    ref = rgb.astype(np.float64)
    best_syn = None
    for s in SYN_SHIFTS:
        ints = [exact.quantise(t, s) for t in _syn_tensors(model.synthesis)]
        scales, wbits = _weight_code(ints)
        px = render(cfg, _load_syn(cfg, ints, s), grids, h, w)
        cost = np.mean((px - ref) ** 2) / 255.0**2 + lmbda * wbits / (h * w)
        if best_syn is None or cost < best_syn[0]:
            best_syn = (cost, s, ints, scales)
    _, syn_shift, syn_w, syn_scales = best_syn
    tables = fmt.laplace_tables()
    weights = [(t.ravel(), np.full(t.size, fmt.table_index(fmt.ZERO_MEAN, k)))
               for t, k in zip(arm_w + syn_w, arm_scales + syn_scales)]
    payload = fmt.OverfitPayload(cfg.levels, cfg.arm_hidden, cfg.syn_hidden, cfg.syn_residual, arm_shift, syn_shift,
                                 tuple(arm_scales + syn_scales), entropy.encode_parts(weights, tables),
                                 entropy.encode_rows(parts, tables), interleaved=True)
    return Encoded(payload.to_bytes(), len(payload.weights), len(payload.latents), fr.iterations, fr.seconds)


def decode_latents(p: fmt.OverfitPayload, h: int, w: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The payload's weight tensors (integers, stream order) and its latent grids (int64)."""
    tables = fmt.laplace_tables()
    wdec = entropy.StreamDecoder(p.weights)
    ints = [wdec.decode(np.full(math.prod(shape), fmt.table_index(fmt.ZERO_MEAN, k)), tables).reshape(shape)
            for shape, k in zip(p.tensor_shapes(), p.weight_scales)]
    arm = exact.ExactARM(ints[:6], p.arm_shift)
    dec = entropy.StreamDecoder(p.latents)
    grids = exact.decode_grids(grid_shapes(p.levels, h, w), arm, lambda idx: dec.decode_rows(idx, tables), p.interleaved)
    return ints, grids


def decode(payload: bytes, h: int, w: int) -> np.ndarray:
    p = fmt.OverfitPayload.from_bytes(payload)
    cfg = OverfitConfig(p.levels, p.arm_hidden, p.syn_hidden, p.syn_residual)
    ints, grids = decode_latents(p, h, w)
    return render(cfg, _load_syn(cfg, ints[6:], p.syn_shift), grids, h, w)
