"""The lossless pixel model in fixed point, exact on every machine, and the coding order.

For a pixel of plane c, with integer values v (its causal neighbours, then the 3x3 neighbourhoods
of the earlier planes) and prediction errors e (of six causal neighbours, then the earlier
planes' 3x3; each error is a pixel times 2^LIN_SHIFT minus its `ref`, see `context`):

    ref  = v · w_lin + b_lin                              linear prediction, units 2^-LIN_SHIFT
    d    = (v · 2^LIN_SHIFT - ref, e)                     the context relative to the prediction
    h1   = floor(relu(d · W1 + b1 · 2^LIN_SHIFT) · 2^(ACT_SHIFT - LIN_SHIFT - s))
    h2   = floor(relu(h1 · W2 + b2 · 2^ACT_SHIFT) · 2^-s) + h1
    o    = floor((h2 · W3 + b3 · 2^ACT_SHIFT) · 2^-s)
    μ    = floor(ref · 2^(ACT_SHIFT - LIN_SHIFT)) + o[0],   log b = o[1]      (units 2^-ACT_SHIFT)

with every MLP weight an integer in units 2^-s.  All values are integers held in float64 below
2^52 (`check_bounds` refuses weights for which they might not be), so any summation order gives
the same result.  (μ, log b) pick a discretised Laplace table as the overfitted coder's ARM does
(hific_codec.overfit.exact.params).

The encoder evaluates a plane at once (`evaluate_plane`); the decoder per wavefront
(`decode_planes`), with the earlier planes' share of the first layer computed once per plane (the
same integers, split).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bitstream import lossless as fmt
from bitstream.container import FormatError

from ..overfit.exact import ACT_SHIFT, params
from . import context as ctx

LIN_SHIFT = 12  # linear predictor weights and prediction errors: units 2^-12 (format constant)
PIXEL_MAX = 255
EXACT = 2.0**52


@dataclass(frozen=True)
class PlaneWeights:
    """One plane's model as integers: the linear predictor (values + 1: weights then bias) and the
    MLP's six tensors (W1 (h, inputs), b1, W2 (h, h), b2, W3 (2, h), b3) in units 2^-shift."""

    lin: np.ndarray
    mlp: tuple[np.ndarray, ...]
    shift: int

    def tensors(self) -> list[np.ndarray]:
        return [self.lin, *self.mlp]


class ExactPlaneModel:
    """One plane's model ready to evaluate.  W1's columns: causal values (n), causal errors
    (ERRORS), earlier planes' values (9c), their errors (9c)."""

    def __init__(self, pw: PlaneWeights, n_causal: int):
        f = [np.asarray(t, dtype=np.float64) for t in pw.tensors()]
        lin, w1, b1, w2, b2, w3, b3 = f
        n, ne = n_causal, fmt.ERRORS
        k = (lin.size - 1 - n)  # 9c earlier values
        if k < 0 or k % 9 or w1.shape[1] != n + ne + 2 * k:
            raise FormatError("PIXL weight shapes do not fit the context")
        check_bounds(pw)
        one, L = float(1 << ACT_SHIFT), float(1 << LIN_SHIFT)
        self.n, self.ne, self.k = n, ne, k
        self.wl, self.bl = lin[:-1], lin[-1]
        w1t = np.ascontiguousarray(w1.T)
        self.w1_v = w1t[:n] * L  # causal values enter as v·2^L
        self.w1_e = w1t[n : n + ne]
        self.w1_pv = w1t[n + ne : n + ne + k] * L
        self.w1_pe = w1t[n + ne + k :]
        self.w1_sum = w1[:, :n].sum(axis=1) + w1[:, n + ne : n + ne + k].sum(axis=1)  # ref's share
        self.b1 = b1 * L
        self.w2, self.b2 = np.ascontiguousarray(w2.T), b2 * one
        self.w3, self.b3 = np.ascontiguousarray(w3.T), b3 * one
        self.s1 = 2.0 ** (ACT_SHIFT - LIN_SHIFT - pw.shift)
        self.inv = 2.0**-pw.shift
        self.ref_to_act = 2.0 ** (ACT_SHIFT - LIN_SHIFT)

    def earlier_part(self, values: np.ndarray, errors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Earlier planes' values and errors (m, 9c each) -> their shares of ref and of layer 1."""
        ref = values @ self.wl[self.n :] + self.bl
        pre = values @ self.w1_pv + errors @ self.w1_pe + self.b1
        return ref, pre

    def __call__(self, causal: np.ndarray, errors: np.ndarray, ref_pre: np.ndarray, pre: np.ndarray):
        """-> (μ, log b) in units 2^-ACT_SHIFT (int64) and ref (units 2^-LIN_SHIFT)."""
        ref = causal @ self.wl[: self.n] + ref_pre
        a = causal @ self.w1_v
        a += errors @ self.w1_e
        a += pre
        a -= ref[:, None] * self.w1_sum
        h1 = np.floor(np.maximum(a, 0.0) * self.s1)
        a = h1 @ self.w2
        a += self.b2
        h2 = np.floor(np.maximum(a, 0.0) * self.inv) + h1
        o = np.floor((h2 @ self.w3 + self.b3) * self.inv)
        mu = np.floor(ref * self.ref_to_act) + o[:, 0]
        return mu.astype(np.int64), o[:, 1].astype(np.int64), ref


def check_bounds(pw: PlaneWeights) -> None:
    """Refuse weights whose sums could reach 2^52 for pixels within 0..PIXEL_MAX.  Every input of
    the first layer (v·2^L, ref, errors) is bounded by `big` below."""
    lin = np.abs(pw.lin.astype(np.float64))
    w1, b1, w2, b2, w3, b3 = (np.abs(np.asarray(t, dtype=np.float64)) for t in pw.mlp)
    one, L, inv = float(1 << ACT_SHIFT), float(1 << LIN_SHIFT), 2.0**-pw.shift
    ref = lin[:-1].sum() * PIXEL_MAX + lin[-1]
    big = PIXEL_MAX * L + ref  # |v·2^L|, |ref|, |error| are all at most this
    a1 = w1.sum(1) * big * 2 + b1 * L
    h1 = a1.max(initial=0.0) * 2.0 ** (ACT_SHIFT - LIN_SHIFT - pw.shift)
    a2 = w2.sum(1) * h1 + b2 * one
    h2 = a2.max(initial=0.0) * inv + h1
    a3 = w3.sum(1) * h2 + b3 * one
    if max(big * L, a1.max(initial=0), a2.max(initial=0), a3.max(initial=0)) >= EXACT:
        raise FormatError("PIXL model weights too large for exact evaluation")


def earlier_values(planes: list[np.ndarray], c: int, n: int) -> np.ndarray:
    """(n, 9c) float64: the 3x3 values of the planes before plane c."""
    if c == 0:
        return np.zeros((n, 0))
    return np.concatenate([ctx.plane_context(p.astype(np.float64)) for p in planes[:c]], axis=1)


def earlier_errors(errors: list[np.ndarray], c: int, n: int) -> np.ndarray:
    """(n, 9c) float64: the 3x3 prediction errors of the planes before plane c."""
    if c == 0:
        return np.zeros((n, 0))
    return np.concatenate([ctx.plane_context(q) for q in errors[:c]], axis=1)


def evaluate_plane(m: ExactPlaneModel, plane: np.ndarray, causal: np.ndarray, values: np.ndarray,
                   errors: np.ndarray, radius: int):
    """The encoder's view of a plane, every pixel known: from its causal values and the earlier
    planes' values and errors (`earlier_values`, `earlier_errors`) -> (μ, log b, error plane)."""
    h, w = plane.shape
    ref_pre, pre = m.earlier_part(values, errors)
    # the errors of the causal neighbours need every ref first: ref is linear in the values only
    ref = causal @ m.wl[: m.n] + ref_pre
    err = (plane.astype(np.float64).ravel() * float(1 << LIN_SHIFT) - ref).reshape(h, w)
    ecausal = ctx.causal_context(err, radius, edge=0.0)[:, ctx.error_columns(radius)]
    mu, log_b, _ = m(causal, ecausal, ref_pre, pre)
    return mu, log_b, err


def decode_planes(h: int, w: int, models: list[ExactPlaneModel], radius: int, read) -> list[np.ndarray]:
    """Every plane, wavefront by wavefront, in the encoder's stream order (one part per wavefront
    of each plane; hific_codec.lossless.codec): ``read(table indexes)`` returns the next part's
    symbols."""
    slots = ctx.neighbour_slots(h, w, radius)
    cols = ctx.error_columns(radius)
    # each wavefront's gathers, formed once for all planes
    fronts = [(f, slots[f], slots[f][:, cols]) for f in ctx.wavefronts(h, w, radius)]
    del slots
    L = float(1 << LIN_SHIFT)
    planes: list[np.ndarray] = []
    errors: list[np.ndarray] = []
    for c, m in enumerate(models):
        ref_pre, pre = m.earlier_part(earlier_values(planes, c, h * w), earlier_errors(errors, c, h * w))
        buf = np.empty(h * w + 1, dtype=np.float64)
        buf[-1] = ctx.EDGE
        ebuf = np.zeros(h * w + 1, dtype=np.float64)
        for f, vslots, eslots in fronts:
            mu, log_b, ref = m(buf[vslots], ebuf[eslots], ref_pre[f], pre[f])
            idx, centre = params(mu, log_b)
            v = read(idx) + centre
            if v.size and (v.min() < 0 or v.max() > PIXEL_MAX):
                raise FormatError("PIXL pixel value out of range: the stream is damaged")
            buf[f] = v
            ebuf[f] = v * L - ref
        planes.append(buf[:-1].astype(np.uint8).reshape(h, w))
        errors.append(ebuf[:-1].reshape(h, w))
    return planes
