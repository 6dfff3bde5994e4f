"""Exact fixed-point evaluation of the channel-conditional checkerboard context
(models/channel_context.py), with the layers and bit widths of :mod:`.int_hyper_synthesis`.

One slice's correction, from ``prior`` (the decoded slices before it, 2**-MEAN_BITS grid)::

    prior ─c_k─floor─> f (A_BITS) ─────────────────────────┐
    slice's accumulators (OUT_FRAC) ─floor─> (A_BITS) ─────┴─concat─head[0]─ReLU─floor─head[2]─> Δ (OUT_FRAC)

:meth:`IntChannelContext.passes` runs the coding passes of one tile in order; the coder supplies
how each pass's values are obtained (encoder: rounding y; decoder: reading the stream), so both
sides share one schedule.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .int_context import ANCHOR_PHASES, SECOND_PHASES, IntContext
from .int_hyper_synthesis import A_BITS, MEAN_BITS, OUT_FRAC, W_BITS, FixedConv, requantize
from .npconv import conv2d

# take(channels, positions, scale indexes, means) -> the decoded values of those latents:
# ``channels`` index the tile's latent channels, the other three are (1, len(channels), h, w).
Take = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]
Params = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


class IntChannelContext:
    """Built from the channel context's parameters (``numpy_state(ctx)``) and its config
    (ChannelContextConfig: slices, coding order)."""

    def __init__(self, state: dict[str, np.ndarray], cfg):
        self.cfg = cfg
        self.base = IntContext({k[len("base."):]: v for k, v in state.items() if k.startswith("base.")})
        self.order = np.array(cfg.coding_order)
        n = len(cfg.slices) - 1
        self.c_a = [FixedConv.of(state, f"c_a.{k}", MEAN_BITS) for k in range(n)]
        self.c_n = [FixedConv.of(state, f"c_n.{k}", MEAN_BITS) for k in range(n)]
        self.a = [(FixedConv.of(state, f"a.{k}.0", A_BITS), FixedConv.of(state, f"a.{k}.2", A_BITS)) for k in range(n)]
        self.n = [(FixedConv.of(state, f"n.{k}.0", A_BITS), FixedConv.of(state, f"n.{k}.2", A_BITS)) for k in range(n)]

    @staticmethod
    def correct(conv: FixedConv, head, acc: np.ndarray, prior: np.ndarray, phases) -> np.ndarray:
        """A slice's (scale, mean) accumulators (1, 2C, h, w) plus the correction from ``prior``,
        at the positions of the listed 2x2 ``phases`` only (elsewhere unchanged): a pass needs
        half of them, so the 5x5 convolution runs with stride 2 from each phase's offset, the
        same integer sums as at full resolution for half the work."""
        p = np.asarray(prior, dtype=np.float64) * 2.0**MEAN_BITS  # exact
        conv.check(p, "latents")
        r = conv.w.shape[-1] // 2
        padded = np.pad(p, ((0, 0), (0, 0), (r, r), (r, r)))
        out = acc.copy()
        for a, b in phases:
            f = requantize(conv2d(padded[:, :, a:, b:], conv.w, conv.b, stride=2), MEAN_BITS + W_BITS, relu=False)
            here = acc[:, :, a::2, b::2]
            x = np.concatenate([requantize(here, OUT_FRAC, relu=False), f], axis=1)
            x = requantize(head[0](x, "context features"), A_BITS + W_BITS, relu=True)
            out[:, :, a::2, b::2] = here + head[1](x, "context features")
        return out

    def passes(self, acc: np.ndarray, params: Params, first: np.ndarray, take: Take) -> np.ndarray:
        """One tile: ψ accumulators (1, 2M, h, w), the params map (accumulators -> (scale
        indexes, means)), the anchor mask (1, 1, h, w) bool and ``take`` -> ŷ (1, M, h, w)."""
        M, (h, w) = acc.shape[1] // 2, acc.shape[2:]
        o = self.order
        y_hat = np.zeros((1, M, h, w))

        def slice_acc(a: np.ndarray, ch: np.ndarray) -> np.ndarray:
            return np.concatenate([a[:, ch], a[:, ch + M]], axis=1)

        # take() returns zeros off the positions it is asked for, so until the second loop y_hat
        # holds the decoded anchors and zeros: the anchors-only input the corrections expect.
        for k, (i, j) in enumerate(self.cfg.bounds):
            a = slice_acc(acc, o[i:j])
            if k:
                a = self.correct(self.c_a[k - 1], self.a[k - 1], a, y_hat[:, o[:i]], ANCHOR_PHASES)
            idx, mean = params(a)
            y_hat[:, o[i:j]] = take(o[i:j], np.broadcast_to(first, idx.shape), idx, mean)
        corrected = self.base(acc, y_hat)  # ψ + Δ off the anchors
        rest = ~first
        for k, (i, j) in enumerate(self.cfg.bounds):
            a = slice_acc(corrected, o[i:j])
            if k:
                a = self.correct(self.c_n[k - 1], self.n[k - 1], a, y_hat[:, o[:i]], SECOND_PHASES)
            idx, mean = params(a)
            y_hat[:, o[i:j]] += take(o[i:j], np.broadcast_to(rest, idx.shape), idx, mean)
        return y_hat
