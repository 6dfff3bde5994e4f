"""The overfitted model's coding side, exact on every machine: fixed-point ARM, table choice, and
the coding order that the encoder and the decoder share (`Plan`: each grid in anti-diagonal
wavefronts j + SLOPE·i = t, the grids one after another or interleaved, one range-coder part per
step of the order).

The ARM runs on integers held in float64 (weights in units of 2^-shift, activations in units of
2^-ACT_SHIFT): every product and partial sum is an integer below 2^53, so any summation order
(any BLAS, any thread count) gives the same result; `check_bounds` refuses weights for which
that could fail.  Its outputs pick a Laplace table by integer comparisons only.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from bitstream import overfit as fmt
from bitstream.container import FormatError

from .layout import CAUSAL, PARENT, SLOPE

ACT_SHIFT = 8  # ARM activations: integers in units of 2^-8 (format constant)
LATENT_MAX = (1 << 15) - 1  # what the escape code can carry
EXACT = 2.0**52


def _thresholds() -> np.ndarray:
    """Scale index k = #(T <= log b in units 2^-ACT_SHIFT): midpoints of the table's log-scales."""
    return np.array([math.ceil((fmt.LOG_B_MIN + (k - 0.5) * fmt.LOG_B_STEP) * (1 << ACT_SHIFT))
                     for k in range(1, fmt.SCALES)], dtype=np.int64)


THRESHOLDS = _thresholds()

if TYPE_CHECKING:  # the encoder's float tensors; decoding never imports torch
    import torch


class ExactARM:
    """The ARM from integer weights.  Inputs are integer-valued contexts (latents); outputs (μ,
    log b) are int64 in units of 2^-ACT_SHIFT."""

    def __init__(self, ints: list[np.ndarray], shift: int):
        check_bounds(ints, shift)
        w = [np.asarray(t, dtype=np.float64) for t in ints]
        # Layers 2 and 3 carry the 2^-shift of their products in their weights: scaling by a power
        # of two keeps every product and partial sum exact (integers in units of 2^-shift below
        # 2^53), so floor(x @ (w·2^-s) + b·2^-s) equals floor((x @ w + b)·2^-s), one operation fewer.
        inv, one = 2.0**-shift, float(1 << ACT_SHIFT)
        self.w1, self.b1, self.up = np.ascontiguousarray(w[0].T), w[1], one * inv
        self.w2, self.b2 = np.ascontiguousarray(w[2].T) * inv, w[3] * (one * inv)
        self.w3, self.b3 = np.ascontiguousarray(w[4].T) * inv, w[5] * (one * inv)

    def __call__(self, ctx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, CONTEXT) integer contexts -> (μ, log b), int64 in units of 2^-ACT_SHIFT."""
        a = ctx @ self.w1
        a += self.b1
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


CHUNK = 1 << 16  # latents per ARM call in the encoder's one-shot evaluation
INTERLEAVE_LAG = 5  # steps between a grid's wavefront t and its finer grid's: parents come first


class Plan:
    """The latent stream's order for grids of ``shapes`` (finest first), and where each latent and
    its context lie in one flat buffer holding all grids, zero-padded, with one row stride: a
    latent's 12 causal neighbours are then its slot plus fixed offsets, its parent's 3x3 the
    parent's slot plus fixed offsets, so one step of the order is one gather, one ARM call and
    one coder part.

    A grid's latents go by anti-diagonal wavefronts t = j + SLOPE·i: every causal neighbour lies
    on an earlier one.  Step of grid l's wavefront t: t + offset[l].  Grid by grid (format 1.5):
    the coarsest grid's wavefronts, then the next grid's, and so on.  Interleaved (1.8): grid l
    runs INTERLEAVE_LAG steps behind grid l + 1, enough for its parents' whole 3x3 neighbourhood
    (up to 4 wavefronts ahead at half resolution) to be decoded, so all grids advance together
    and the steps are about as many as the finest grid's wavefronts.  Inside a step: coarsest
    grid first, each grid's latents in row order."""

    def __init__(self, shapes: list[tuple[int, int]], interleaved: bool):
        L = len(shapes)
        fronts = [w + SLOPE * (h - 1) if h * w else 0 for h, w in shapes]
        offset = [0] * L
        for l in range(L - 2, -1, -1):
            offset[l] = offset[l + 1] + (INTERLEAVE_LAG if interleaved else fronts[l + 1])
        # rows 0-2 are zeros: the coarsest grid's parent neighbourhood; then each grid with 2 rows
        # above and 1 below, 2 columns left and at least 2 right
        self.shapes, self.stride, self.row = shapes, max((w for _, w in shapes), default=0) + 4, []
        rows = 3
        for h, _ in shapes:
            self.row.append(rows + 2)
            rows += h + 3
        self.size = rows * self.stride
        self.offsets = np.array([di * self.stride + dj for di, dj in CAUSAL]
                                + [di * self.stride + dj for di, dj in PARENT], dtype=np.int64)
        n_steps = max((f + o for f, o in zip(fronts, offset)), default=0)
        # latents per (step, grid), grids coarsest first inside a step: a counting sort, no sort
        counts = np.zeros((n_steps, L), np.int64)
        per_front = []
        for l, (h, w) in enumerate(shapes):
            t = np.arange(fronts[l])
            lo, hi = np.maximum(0, (t - w + SLOPE) // SLOPE), np.minimum(h - 1, t // SLOPE)  # rows on wavefront t
            n = np.maximum(hi - lo + 1, 0)
            counts[t + offset[l], L - 1 - l] = n
            per_front.append((t, lo, n))
        start = (np.cumsum(counts.ravel()) - counts.ravel()).reshape(n_steps, L)
        # (slot, parent's slot) per latent in stream order; the coarsest grid's parent: row 1, col 2
        self.slots = np.full((int(counts.sum()), 2), self.stride + 2, np.int64)
        for l, (t, lo, n) in enumerate(per_front):
            first = np.cumsum(n) - n  # each wavefront's first latent in this grid's list
            rank = np.arange(int(n.sum())) - np.repeat(first, n)
            i = np.repeat(lo, n) + rank
            j = np.repeat(t, n) - SLOPE * i
            dest = np.repeat(start[t + offset[l], L - 1 - l], n) + rank
            self.slots[dest, 0] = self._slot(l, i, j)
            if l + 1 < L:
                self.slots[dest, 1] = self._slot(l + 1, i // 2, j // 2)
        self.bounds = np.concatenate([[0], np.cumsum(counts.sum(1))]).tolist()

    def _slot(self, l: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        return (self.row[l] + i) * self.stride + (j + 2)

    def context(self, a: int, b: int) -> np.ndarray:
        """Buffer positions of the context of the latents a..b of the stream: (b - a, CONTEXT)."""
        idx = self.slots[a:b, CONTEXT_SOURCE]
        idx += self.offsets
        return idx

    def _view(self, buf: np.ndarray, l: int) -> np.ndarray:
        h, w = self.shapes[l]
        return buf.reshape(-1, self.stride)[self.row[l] : self.row[l] + h, 2 : 2 + w]

    def buffer(self, grids: list[np.ndarray]) -> np.ndarray:
        buf = np.zeros(self.size)
        for l, g in enumerate(grids):
            self._view(buf, l)[...] = g
        return buf

    def grids(self, buf: np.ndarray) -> list[np.ndarray]:
        return [self._view(buf, l).astype(np.int64) for l in range(len(self.shapes))]

    def evaluate(self, buf: np.ndarray, arm: ExactARM) -> tuple[np.ndarray, np.ndarray]:
        """(symbols, table indexes) of every latent of a filled `buffer`, in stream order.  The
        encoder knows every latent, so it evaluates the ARM on all of them (in chunks: the contexts
        of a 2 Mpx image would take ~0.5 GB at once): the same integers the decoder computes."""
        n = len(self.slots)
        idx, sym = np.empty(n, np.int64), buf[self.slots[:, 0]].astype(np.int64)
        for a in range(0, n, CHUNK):
            idx[a : a + CHUNK], centre = params(*arm(buf[self.context(a, min(n, a + CHUNK))]))
            sym[a : a + CHUNK] -= centre
        return sym, idx

    def parts(self, sym: np.ndarray, idx: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Stream-order arrays -> one (symbols, table indexes) part per step."""
        b = self.bounds
        return [(sym[b[k] : b[k + 1]], idx[b[k] : b[k + 1]]) for k in range(len(b) - 1)]


CONTEXT_SOURCE = np.array([0] * len(CAUSAL) + [1] * len(PARENT))  # own slot, or the parent's


def encode_parts(grids: list[np.ndarray], arm: ExactARM, interleaved: bool = True) -> list[tuple[np.ndarray, np.ndarray]]:
    """(symbols, table indexes) per step, in stream order (`Plan.evaluate`, then `Plan.parts`)."""
    plan = Plan([g.shape for g in grids], interleaved)
    return plan.parts(*plan.evaluate(plan.buffer(grids), arm))


def decode_grids(shapes: list[tuple[int, int]], arm: ExactARM, read, interleaved: bool = True) -> list[np.ndarray]:
    """The inverse of `encode_parts`: ``read(table indexes)`` returns the next part's symbols."""
    plan = Plan(shapes, interleaved)
    buf, ctx, own, b = np.zeros(plan.size), plan.context, plan.slots[:, 0], plan.bounds
    for k in range(len(b) - 1):
        idx, v = params(*arm(buf[ctx(b[k], b[k + 1])]))
        v += read(idx)
        if v.max(initial=0) > LATENT_MAX or v.min(initial=0) < -LATENT_MAX:
            raise FormatError("OFIT latent out of range")
        buf[own[b[k] : b[k + 1]]] = v
    return plan.grids(buf)


def quantise(t: torch.Tensor, shift: int) -> np.ndarray:
    return np.clip(np.round(t.detach().double().numpy() * (1 << shift)), -LATENT_MAX, LATENT_MAX).astype(np.int64)


def arm_ints(arm, shift: int) -> list[np.ndarray]:
    """The float ARM's (model.ARM) weights as integers in units of 2^-shift, stream order."""
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
