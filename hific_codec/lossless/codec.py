"""Lossless coding of one image: fit each plane's model, round it to integers, range-code the
weights and then the pixels -> PIXL payload; and back, bit for bit.

Encode, per plane (grey; or R, G, B; then alpha): the context of every pixel -> least-squares
linear predictor (rounded to units 2^-LIN_SHIFT) -> the MLP fitted on top of it (model.fit_plane)
-> its weights rounded at the step (2^-s) that gives the fewest bits for weights plus pixels as
really coded.  The decoder is decoder.py, which needs no torch.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from bitstream import entropy
from bitstream import lossless as fmt
from bitstream import overfit as tables_fmt
from bitstream.container import FormatError

from ..overfit.exact import LATENT_MAX, best_scale, code_length
from ..overfit.model import ARM
from . import context as ctx
from . import exact
from .decoder import _zero_mean, decode  # noqa: F401 (the codec's other half)
from .model import (
    INPUT_SCALE,
    MEAN_SCALE,
    LosslessConfig,
    fit_plane,
    linear_predictor,
)

SHIFTS = range(6, 12)


@dataclass(frozen=True)
class Encoded:
    payload: bytes
    weight_bytes: int
    pixel_bytes: int
    seconds: float


def _ints(v: np.ndarray, shift: int) -> np.ndarray:
    return np.clip(np.round(np.asarray(v, dtype=np.float64) * (1 << shift)), -LATENT_MAX, LATENT_MAX).astype(np.int64)


def mlp_ints(m: ARM, shift: int) -> tuple[np.ndarray, ...]:
    """The float MLP as the exact model's integers (input and mean scales folded in)."""
    t = [p.detach().double().numpy() for p in (m.l1.weight, m.l1.bias, m.l2.weight, m.l2.bias, m.out.weight, m.out.bias)]
    w1, b1, w2, b2, w3, b3 = t
    w3, b3 = w3.copy(), b3.copy()
    w3[0] *= MEAN_SCALE
    b3[0] *= MEAN_SCALE
    return tuple(_ints(v, shift) for v in (w1 / INPUT_SCALE, b1, w2, b2, w3, b3))


def _features(plane: np.ndarray, causal: np.ndarray, values: np.ndarray, errors: np.ndarray, lin: np.ndarray,
              radius: int):
    """The float view of a plane (``errors``: the earlier planes' 3x3 errors in grey levels): MLP
    features (scaled as the fit sees them), residuals from the linear prediction, and the plane's
    error plane (grey levels)."""
    p = plane.astype(np.float64)
    ref = np.concatenate([causal, values], axis=1) @ lin[:-1] + lin[-1]
    err = (p.ravel() - ref).reshape(p.shape)
    ec = ctx.causal_context(err, radius, edge=0.0)[:, ctx.error_columns(radius)]
    d = np.concatenate([causal - ref[:, None], ec, values - ref[:, None], errors], axis=1) / INPUT_SCALE
    return d, p.ravel() - ref, err


def encode(planes: np.ndarray, cfg: LosslessConfig | None = None, progress=None) -> Encoded:
    """(h, w, P) uint8, P in 1, 3, 4 -> PIXL payload.  ``progress(done, total)`` counts MLP steps."""
    t0 = time.perf_counter()
    a = np.asarray(planes)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] not in fmt.PLANES:
        raise ValueError(f"lossless coding takes an HxWx{{1,3,4}} uint8 array, got {a.dtype} {a.shape}")
    h, w, P = a.shape
    cfg = (cfg or LosslessConfig()).for_pixels(h * w)
    ps = [np.ascontiguousarray(a[:, :, c]) for c in range(P)]
    n_causal = fmt.causal_count(cfg.radius)
    fronts = ctx.wavefronts(h, w, cfg.radius)
    total = P * cfg.iterations
    chosen, parts = [], []
    errs, exact_errs = [], []  # error planes: as the float fit sees them (grey levels), as coded (2^-LIN_SHIFT)
    for c in range(P):
        causal = ctx.causal_context(ps[c].astype(np.float64), cfg.radius)
        values = exact.earlier_values(ps, c, h * w)
        errors = exact.earlier_errors(exact_errs, c, h * w)
        lin = _ints(linear_predictor(np.concatenate([causal, values], axis=1), ps[c].ravel()), exact.LIN_SHIFT)
        d, residual, err = _features(ps[c], causal, values, exact.earlier_errors(errs, c, h * w),
                                     lin / float(1 << exact.LIN_SHIFT), cfg.radius)
        step = None if progress is None else (lambda i, c=c: progress(c * cfg.iterations + i, total))
        mlp = fit_plane(d, residual, cfg, step)
        pixels = ps[c].ravel().astype(np.int64)
        best = None
        for s in SHIFTS:
            pw = exact.PlaneWeights(lin, mlp_ints(mlp, s), s)
            try:
                model = exact.ExactPlaneModel(pw, n_causal)
            except FormatError:
                continue
            mu, log_b, e_fixed = exact.evaluate_plane(model, ps[c], causal, values, errors, cfg.radius)
            idx, centre = exact.params(mu, log_b)
            tensors = pw.tensors()
            scales = [best_scale(v) for v in tensors]
            bits = code_length(pixels - centre, idx)
            bits += sum(code_length(v.ravel(), _zero_mean(v, k)) for v, k in zip(tensors, scales))
            if best is None or bits < best[0]:
                best = (bits, pw, scales, e_fixed, pixels - centre, idx)
        if best is None:
            raise ValueError("the fitted pixel model's weights are beyond the exact range at every step size")
        _, pw, scales, e_fixed, sym, idx = best
        chosen.append((pw, scales))
        parts += [(sym[f], idx[f]) for f in fronts]
        errs.append(err)
        exact_errs.append(e_fixed)
    tables = tables_fmt.laplace_tables()
    weights = []
    for pw, scales in chosen:
        weights += [(v.ravel(), _zero_mean(v, k)) for v, k in zip(pw.tensors(), scales)]
    p = fmt.LosslessPayload(P, cfg.radius, cfg.hidden, tuple(pw.shift for pw, _ in chosen),
                            tuple(k for _, scales in chosen for k in scales), entropy.encode_parts(weights, tables),
                            entropy.encode_rows(parts, tables))
    return Encoded(p.to_bytes(), len(p.weights), len(p.pixels), time.perf_counter() - t0)
