"""Exact fixed-point evaluation of the checkerboard context model (models/context.py), with the
layers and bit widths of :mod:`.int_hyper_synthesis`.

    ŷ anchors (MEAN_BITS fractional bits, others 0) ─g_cm─floor─> φ (A_BITS) ─┐
    ψ accumulators (OUT_FRAC) ──────────────────────────floor─> ψ' (A_BITS) ─┴─concat─g_ep[0]─ReLU─floor─g_ep[2]─> Δ (OUT_FRAC)

The second pass's parameter accumulators are ``ψ + Δ``, turned into table indexes and means by
:meth:`IntHyperSynthesis.params` exactly like the anchors'.

Only second-pass positions need φ and Δ, and only anchors feed g_cm, so the coder works on the
2x2 polyphase components (pixel unshuffle): anchors are phases (0, 0) and (1, 1), the second
pass (0, 1) and (1, 0).  g_cm becomes a 3x3 convolution from the two anchor phases to the two
second-pass phases at half resolution (taps that would only meet zeros are dropped: 0.36x the
work of the 5x5 convolution), and g_ep runs on the second-pass positions alone (0.5x).  Values
are integers in float64, so the reordering gives bit-identical results (tests/test_context.py).
"""
from __future__ import annotations

import numpy as np

from .int_hyper_synthesis import A_BITS, MEAN_BITS, OUT_FRAC, W_BITS, FixedConv, requantize
from .npconv import conv2d, pixel_shuffle, pixel_unshuffle

ANCHOR_PHASES = ((0, 0), (1, 1))
SECOND_PHASES = ((0, 1), (1, 0))


def polyphase_kernel(w: np.ndarray) -> np.ndarray:
    """A (C, M, 5, 5) kernel on the full grid -> (2C, 2M, 3, 3) from the anchor phases (input
    channel blocks, in ANCHOR_PHASES order) to the second-pass phases (output blocks, in
    SECOND_PHASES order) of the half-resolution grid.  Output phase (a, b) at half-res (I, J) is
    full-res (2I + a, 2J + b); tap (di, dj) reads full-res row 2I + a + di = 2(I + u) + p, so it
    lands on input phase p at half-res offset u = (a + di - p) / 2."""
    C, M = w.shape[:2]
    k = np.zeros((2 * C, 2 * M, 3, 3), dtype=w.dtype)
    for o, (a, b) in enumerate(SECOND_PHASES):
        for n, (p, q) in enumerate(ANCHOR_PHASES):
            for u in (-1, 0, 1):
                for v in (-1, 0, 1):
                    di, dj = 2 * u + p - a, 2 * v + q - b
                    if -2 <= di <= 2 and -2 <= dj <= 2:
                        k[o * C : (o + 1) * C, n * M : (n + 1) * M, u + 1, v + 1] = w[:, :, di + 2, dj + 2]
    return k


def _phases(x: np.ndarray, which) -> np.ndarray:
    """(1, K, H, W) -> (len(which), K, H/2, W/2): the listed 2x2 polyphase components."""
    K, H, W = x.shape[1:]
    u = pixel_unshuffle(x, 2).reshape(K, 4, H // 2, W // 2)
    return np.stack([u[:, 2 * a + b] for a, b in which])


class IntContext:
    """Built from the checkerboard's parameters (``numpy_state(ctx)``; keys ``g_cm.*``,
    ``g_ep.0.*``, ``g_ep.2.*``)."""

    def __init__(self, state: dict[str, np.ndarray]):
        self.g_cm = FixedConv.of(state, "g_cm", MEAN_BITS)
        self.g_ep = [FixedConv.of(state, "g_ep.0", A_BITS), FixedConv.of(state, "g_ep.2", A_BITS)]
        self.kernel = polyphase_kernel(self.g_cm.w)
        self.bias = np.tile(self.g_cm.b, 2)

    def __call__(self, psi_acc: np.ndarray, y_hat_anchors: np.ndarray) -> np.ndarray:
        """ψ accumulators (1, 2M, h, w) and ŷ with non-anchors zeroed (1, M, h, w, float64 on the
        2**-MEAN_BITS grid; h, w even) -> accumulators (OUT_FRAC fractional bits) valid at the
        second-pass positions: ψ + Δ there, ψ at the anchors."""
        y = np.asarray(y_hat_anchors, dtype=np.float64) * 2.0**MEAN_BITS  # exact
        self.g_cm.check(y, "latents")
        M, h, w = y.shape[1], y.shape[2] // 2, y.shape[3] // 2
        anchors = _phases(y, ANCHOR_PHASES).reshape(1, 2 * M, h, w)
        phi = conv2d(anchors, self.kernel, self.bias, padding=1).reshape(2, -1, h, w)  # both phases as a batch
        phi = requantize(phi, MEAN_BITS + W_BITS, relu=False)
        psi = _phases(psi_acc, SECOND_PHASES)
        x = np.concatenate([requantize(psi, OUT_FRAC, relu=False), phi], axis=1)
        x = requantize(self.g_ep[0](x, "context features"), A_BITS + W_BITS, relu=True)
        delta = self.g_ep[1](x, "context features")
        out = pixel_unshuffle(psi_acc, 2).reshape(psi_acc.shape[1], 4, h, w).copy()
        for n, (a, b) in enumerate(SECOND_PHASES):
            out[:, 2 * a + b] += delta[n]
        return pixel_shuffle(out.reshape(1, -1, h, w), 2)

    def passes(self, acc: np.ndarray, params, first: np.ndarray, take) -> np.ndarray:
        """The two coding passes of one tile (the interface of IntChannelContext.passes): the
        anchors with ψ's parameters, then the rest with ψ + Δ(decoded anchors)."""
        channels = np.arange(acc.shape[1] // 2)
        idx, mean = params(acc)
        anchors = np.broadcast_to(first, idx.shape)
        y_hat = take(channels, anchors, idx, mean)  # zero off the anchors
        idx, mean = params(self(acc, y_hat))
        return y_hat + take(channels, ~anchors, idx, mean)
