"""The overfitted model's coding side, exact on every machine: fixed-point ARM, table choice, and
the coding order that the encoder and the decoder share (grids coarsest first, each grid in
anti-diagonal wavefronts j + SLOPE·i = t, one range-coder part per wavefront).

The ARM runs on integers held in float64 (weights in units of 2^-shift, activations in units of
2^-ACT_SHIFT): every product and partial sum is an integer below 2^53, so any summation order
(any BLAS, any thread count) gives the same result; `check_bounds` refuses weights for which
that could fail.  Its outputs pick a Laplace table by integer comparisons only.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from bitstream import overfit as fmt
from bitstream.container import FormatError

from .model import ARM, CAUSAL, PARENT, SLOPE, contexts

ACT_SHIFT = 8  # ARM activations: integers in units of 2^-8 (format constant)
LATENT_MAX = (1 << 15) - 1  # what the escape code can carry
EXACT = 2.0**52


def _thresholds() -> np.ndarray:
    """Scale index k = #(T <= log b in units 2^-ACT_SHIFT): midpoints of the table's log-scales."""
    return np.array([math.ceil((fmt.LOG_B_MIN + (k - 0.5) * fmt.LOG_B_STEP) * (1 << ACT_SHIFT))
                     for k in range(1, fmt.SCALES)], dtype=np.int64)


THRESHOLDS = _thresholds()


class ExactARM:
    """The ARM from integer weights.  Inputs are integer-valued (latents); outputs (μ, log b) are
    int64 in units of 2^-ACT_SHIFT.  The first layer is split: the parent part is computed once
    per grid, the causal part once per wavefront; both are exact, so the split changes nothing."""

    def __init__(self, ints: list[np.ndarray], shift: int):
        check_bounds(ints, shift)
        w = [np.asarray(t, dtype=np.float64) for t in ints]
        n = len(CAUSAL)
        # Layers 2 and 3 carry the 2^-shift of their products in their weights: scaling by a power
        # of two keeps every product and partial sum exact (integers in units of 2^-shift below
        # 2^53), so floor(x @ (w·2^-s) + b·2^-s) equals floor((x @ w + b)·2^-s), one operation fewer.
        inv, one = 2.0**-shift, float(1 << ACT_SHIFT)
        self.w1c, self.w1p = np.ascontiguousarray(w[0][:, :n].T), np.ascontiguousarray(w[0][:, n:].T)
        self.b1, self.up = w[1], one * inv
        self.w2, self.b2 = np.ascontiguousarray(w[2].T) * inv, w[3] * (one * inv)
        self.w3, self.b3 = np.ascontiguousarray(w[4].T) * inv, w[5] * (one * inv)

    def parent_part(self, x: np.ndarray) -> np.ndarray:
        """(n, len(PARENT)) parent context -> first-layer partial sums, bias included (integers)."""
        return x @ self.w1p + self.b1

    def __call__(self, causal: np.ndarray, pre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a = causal @ self.w1c
        a += pre
        np.maximum(a, 0.0, out=a)
        a *= self.up
        h1 = np.floor(a, out=a)
        a = h1 @ self.w2
        a += self.b2
        np.maximum(a, 0.0, out=a)
        np.floor(a, out=a)
        a += h1
        o = a @ self.w3
        o += self.b3
        o = np.floor(o, out=o).astype(np.int64)
        return o[:, 0], o[:, 1]


def check_bounds(ints: list[np.ndarray], shift: int) -> None:
    """Refuse ARM weights whose accumulators could reach 2^52 for latents within ±LATENT_MAX."""
    w1, b1, w2, b2, w3, b3 = (np.abs(np.asarray(t, dtype=np.float64)) for t in ints)
    one, inv = float(1 << ACT_SHIFT), 2.0 ** -shift
    x = LATENT_MAX * one
    a1 = w1.sum(1) * x + b1 * one
    h1 = a1.max(initial=0.0) * inv
    a2 = w2.sum(1) * h1 + b2 * one
    h2 = a2.max(initial=0.0) * inv + h1
    a3 = w3.sum(1) * h2 + b3 * one
    if max(a1.max(initial=0), a2.max(initial=0), a3.max(initial=0)) >= EXACT:
        raise FormatError("OFIT ARM weights too large for exact evaluation")


def _fraction_bins() -> np.ndarray:
    """Table-index contribution of a mean's offset f = u - 2^(ACT_SHIFT-1) from its centre,
    u = 0 .. 2^ACT_SHIFT - 1: bin round(FRACTIONS·f / 2^ACT_SHIFT) + FRACTIONS // 2 (integer shifts)."""
    f = np.arange(1 << ACT_SHIFT, dtype=np.int64) - (1 << (ACT_SHIFT - 1))
    frac = ((2 * fmt.FRACTIONS * f + (1 << ACT_SHIFT)) >> (ACT_SHIFT + 1)) + fmt.FRACTIONS // 2
    return fmt.table_index(frac, 0)


FRACTION_BINS = _fraction_bins()


def params(mu: np.ndarray, log_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(μ, log b) fixed point -> (table index, integer centre): the symbol is ŷ - centre.  The
    centre is μ rounded half up, floor((μ + half) / 2^ACT_SHIFT); the remainder picks the bin."""
    m = mu + (1 << (ACT_SHIFT - 1))
    idx = FRACTION_BINS[m & ((1 << ACT_SHIFT) - 1)]
    idx += np.searchsorted(THRESHOLDS, log_b, side="right")
    return idx, m >> ACT_SHIFT


def wavefronts(h: int, w: int) -> list[np.ndarray]:
    """Flat (C-order) indexes of an h x w grid's latents, per wavefront t = j + SLOPE·i, in order."""
    i, j = np.divmod(np.arange(h * w), w)
    t = j + SLOPE * i
    order = np.argsort(t, kind="stable")
    return np.split(order, np.cumsum(np.bincount(t, minlength=w + SLOPE * (h - 1)))[:-1])


def _parent_pre(arm: ExactARM, parent: np.ndarray | None, h: int, w: int) -> np.ndarray:
    """First-layer parent contributions of every latent of an h x w grid, (h * w, hidden).  The 2x2
    children of a parent share its neighbourhood, so the sums are formed at the parent's
    resolution and repeated (the same integers, a quarter of the work)."""
    if parent is None:
        return np.broadcast_to(arm.parent_part(np.zeros((1, len(PARENT)))), (h * w, arm.b1.size))
    h2, w2 = parent.shape
    p = np.pad(parent.astype(np.float64), 1)
    x = np.stack([p[1 + di : 1 + di + h2, 1 + dj : 1 + dj + w2] for di, dj in PARENT], axis=-1)
    pre = arm.parent_part(x.reshape(h2 * w2, len(PARENT))).reshape(h2, w2, -1)
    return np.repeat(np.repeat(pre, 2, axis=0), 2, axis=1)[:h, :w].reshape(h * w, -1)


class _Padded:
    """A grid in a zero-padded flat buffer (2 rows above, 2 columns each side), held as float64 (the
    ARM's input type; integers below 2^53 are exact), with every latent's causal neighbours as
    slots in that buffer, listed in wavefront order: a wavefront is then two slices."""

    def __init__(self, h: int, w: int):
        self.h, self.w, self.stride = h, w, w + 4
        self.buf = np.zeros((h + 2) * self.stride, dtype=np.float64)
        fronts = wavefronts(h, w)
        self.order = np.concatenate(fronts) if fronts else np.zeros(0, np.int64)
        self.bounds = np.cumsum([0] + [f.size for f in fronts])
        i, j = np.divmod(self.order, w)
        self.slots = (i + 2) * self.stride + j + 2
        self.neighbours = self.slots[:, None] + np.array([di * self.stride + dj for di, dj in CAUSAL], dtype=np.int64)

    def grid(self) -> np.ndarray:
        return self.buf.reshape(self.h + 2, self.stride)[2:, 2:-2].astype(np.int64)


def encode_parts(grids: list[np.ndarray], arm: ExactARM) -> list[tuple[np.ndarray, np.ndarray]]:
    """(symbols, table indexes) per wavefront, in stream order.  The encoder knows every latent,
    so it evaluates each grid's ARM in one call: the same integers the decoder computes."""
    parts = []
    for l in range(len(grids) - 1, -1, -1):
        g = grids[l]
        h, w = g.shape
        pre = _parent_pre(arm, grids[l + 1] if l + 1 < len(grids) else None, h, w)
        causal = contexts(torch.from_numpy(g).to(torch.float64)[None], None)[0, :, :, : len(CAUSAL)]
        mu, log_b = arm(causal.reshape(h * w, len(CAUSAL)).numpy(), pre)
        idx, centre = params(mu, log_b)
        sym = g.ravel() - centre
        parts += [(sym[f], idx[f]) for f in wavefronts(h, w)]
    return parts


def decode_grids(shapes: list[tuple[int, int]], arm: ExactARM, read) -> list[np.ndarray]:
    """The inverse of `encode_parts`: ``read(table indexes)`` returns the next part's symbols."""
    grids: list[np.ndarray | None] = [None] * len(shapes)
    for l in range(len(shapes) - 1, -1, -1):
        h, w = shapes[l]
        pre = _parent_pre(arm, grids[l + 1] if l + 1 < len(shapes) else None, h, w)
        pad = _Padded(h, w)
        pre, buf, nb, slots = pre[pad.order], pad.buf, pad.neighbours, pad.slots
        for a, b in zip(pad.bounds[:-1].tolist(), pad.bounds[1:].tolist()):
            idx, v = params(*arm(buf[nb[a:b]], pre[a:b]))
            v += read(idx)
            if v.max(initial=0) > LATENT_MAX or v.min(initial=0) < -LATENT_MAX:
                raise FormatError("OFIT latent out of range")
            buf[slots[a:b]] = v
        grids[l] = pad.grid()
    return grids


def quantise(t: torch.Tensor, shift: int) -> np.ndarray:
    return np.clip(np.round(t.detach().double().numpy() * (1 << shift)), -LATENT_MAX, LATENT_MAX).astype(np.int64)


def arm_ints(arm: ARM, shift: int) -> list[np.ndarray]:
    return [quantise(p, shift) for p in (arm.l1.weight, arm.l1.bias, arm.l2.weight, arm.l2.bias,
                                         arm.out.weight, arm.out.bias)]


def code_length(symbols: np.ndarray, indexes: np.ndarray) -> float:
    """Bits the range coder spends on ``symbols`` with tables ``indexes`` (escapes included)."""
    t = fmt.laplace_tables()
    s, idx = np.asarray(symbols).ravel(), np.asarray(indexes).ravel()
    total = 0.0
    for k in np.unique(idx):
        sel = idx == k
        p = t.pmfs[k]
        v = s[sel] - t.offsets[k]
        esc = (v < 0) | (v >= len(p) - 1)
        total -= np.log2(p[np.where(esc, len(p) - 1, v)]).sum()
        total += 16.0 * esc.sum()
    return float(total)


def best_scale(ints: np.ndarray) -> int:
    """The zero-mean Laplace table that codes a weight tensor in the fewest bits."""
    v = np.asarray(ints).ravel()
    m = np.abs(v).mean() if v.size else 0.0
    guess = int(np.clip(round((math.log(max(m, 1e-3)) - fmt.LOG_B_MIN) / fmt.LOG_B_STEP), 0, fmt.SCALES - 1))
    cands = range(max(0, guess - 4), min(fmt.SCALES, guess + 5))
    return min(cands, key=lambda k: code_length(v, np.full(v.shape, fmt.table_index(fmt.ZERO_MEAN, k))))
