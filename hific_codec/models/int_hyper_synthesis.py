"""Exact fixed-point evaluation of the hyper-synthesis ``h_s`` (cf. Ballé, Johnston, Minnen,
"Integer networks for data compression with latent-variable models", ICLR 2019).

Encoder and decoder must derive *identical* entropy parameters from ``ẑ``; a float convolution
does not guarantee that across thread counts, CPU kernels or machines.  Here every weight is
rounded to ``W_BITS`` fractional bits and every activation to ``A_BITS`` fractional bits, so all
products and partial sums are integers.  They are evaluated in float64, which represents every
integer below 2**53 exactly: any summation order (threads, BLAS blocking, FMA) gives the same
result.  A bound check before each layer refuses inputs that could leave that exact range.

    ẑ (integers) ─deconv─ReLU─floor─deconv─ReLU─floor─conv─┬─ scale (fixed point) ─> table index
                                                           └─ mean  (fixed point) ─> 2**-MEAN_BITS grid

The checkerboard context model (models/int_context.py) is evaluated with the same layers.  All
of it is numpy (models/npconv.py): the torch-free decoder and the encoder run the same code.
"""
from __future__ import annotations

import math

import numpy as np

from bitstream.container import FormatError
from bitstream.entropy import SCALE_BOUNDS

from .npconv import conv2d, conv_transpose2d

W_BITS = 14  # fractional bits of weights
A_BITS = 10  # fractional bits of hidden activations
MEAN_BITS = 8  # means are multiples of 2**-MEAN_BITS
OUT_FRAC = A_BITS + W_BITS  # fractional bits of the parameter accumulators
EXACT = 2.0**53


def numpy_state(module) -> dict[str, np.ndarray]:
    """A torch module's parameters as numpy arrays (the exact twins are built from these, so the
    encoder's twin and the torch-free decoder's are one construction)."""
    return {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}


class FixedConv:
    """One (transposed) convolution in fixed point: input with ``frac`` fractional bits (as
    float64 integers) -> accumulator with ``frac + W_BITS`` fractional bits, exact.

    ``transposed``: a stride-2 transposed convolution (the codec's ``deconv``: padding k // 2,
    output padding 1, weights (in, out, k, k)); otherwise a stride-1 convolution with padding
    k // 2 (weights (out, in, k, k))."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray, frac: int, transposed: bool = False):
        self.frac, self.transposed = frac, transposed
        self.w = np.round(np.asarray(weight, dtype=np.float64) * 2.0**W_BITS)
        self.b = np.round(np.asarray(bias, dtype=np.float64) * 2.0 ** (frac + W_BITS))
        # Worst-case |output| per unit of max|input|: L1 norm of each output channel's taps.
        self.l1 = float(np.abs(self.w).sum(axis=(0, 2, 3) if transposed else (1, 2, 3)).max())
        self.bmax = float(np.abs(self.b).max())

    @classmethod
    def of(cls, state: dict, name: str, frac: int, transposed: bool = False) -> FixedConv:
        return cls(state[f"{name}.weight"], state[f"{name}.bias"], frac, transposed)

    def check(self, a: np.ndarray, what: str) -> None:
        """Refuse an input whose outputs could leave the exactly representable range."""
        if float(np.abs(a).max(initial=0.0)) * self.l1 + self.bmax >= EXACT:
            raise FormatError(f"{what} out of range (file damaged or crafted)")

    def __call__(self, a: np.ndarray, what: str) -> np.ndarray:
        self.check(a, what)
        k = self.w.shape[-1]
        if self.transposed:
            return conv_transpose2d(a, self.w, self.b, 2, k // 2, 1)
        return conv2d(a, self.w, self.b, 1, k // 2)


def requantize(acc: np.ndarray, frac_in: int, relu: bool) -> np.ndarray:
    """Accumulator with ``frac_in`` fractional bits -> activation with A_BITS (floor), exact."""
    return np.floor((np.maximum(acc, 0.0) if relu else acc) * 2.0 ** (A_BITS - frac_in))


class IntHyperSynthesis:
    """Built from h_s's parameters (``numpy_state(net.h_s)``, or the weights file's ``h_s.*``
    tensors with the prefix removed): layers 0 and 2 transposed, layer 4 a 3x3 convolution."""

    def __init__(self, state: dict[str, np.ndarray]):
        self.layers = [FixedConv.of(state, "0", 0, transposed=True),  # ẑ is integer
                       FixedConv.of(state, "2", A_BITS, transposed=True),
                       FixedConv.of(state, "4", A_BITS)]
        self.bounds = np.array([math.ceil(v * 2.0**OUT_FRAC) for v in SCALE_BOUNDS], dtype=np.float64)

    def accumulators(self, z_hat: np.ndarray) -> np.ndarray:
        """(1, C, h, w) integers -> (1, 2M, 4h, 4w) float64 integers: scale then mean, OUT_FRAC bits."""
        a = np.asarray(z_hat, dtype=np.float64)
        for i, layer in enumerate(self.layers):
            acc = layer(a, "hyper-latents")
            if i < len(self.layers) - 1:
                a = requantize(acc, layer.frac + W_BITS, relu=True)
        return acc

    def params(self, acc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Parameter accumulators -> (scale table indexes int64, means float64 on the 2**-MEAN_BITS grid)."""
        M = acc.shape[1] // 2
        scale_acc, mean_acc = acc[:, :M], acc[:, M:]
        idx = np.searchsorted(self.bounds, scale_acc, side="right").astype(np.int64)
        mean = np.floor(mean_acc * 2.0 ** (MEAN_BITS - OUT_FRAC) + 0.5) * 2.0**-MEAN_BITS
        return idx, mean

    def __call__(self, z_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(1, C, h, w) integers -> (scale table indexes int64, means float64), both (1, M, 4h, 4w)."""
        return self.params(self.accumulators(z_hat))
