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

The checkerboard context model (models/int_context.py) is evaluated with the same layers.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bitstream.container import FormatError
from bitstream.entropy import SCALE_BOUNDS

W_BITS = 14  # fractional bits of weights
A_BITS = 10  # fractional bits of hidden activations
MEAN_BITS = 8  # means are multiples of 2**-MEAN_BITS
OUT_FRAC = A_BITS + W_BITS  # fractional bits of the parameter accumulators
EXACT = 2.0**53


class FixedConv:
    """One (transposed) convolution in fixed point: input with ``frac`` fractional bits (as
    float64 integers) -> accumulator with ``frac + W_BITS`` fractional bits, exact."""

    def __init__(self, m: nn.Conv2d | nn.ConvTranspose2d, frac: int):
        self.m, self.frac = m, frac
        self.w = torch.round(m.weight.detach().double() * 2.0**W_BITS)
        self.b = torch.round(m.bias.detach().double() * 2.0 ** (frac + W_BITS))
        # Worst-case |output| per unit of max|input|: L1 norm of each output channel's taps.
        self.l1 = self.w.abs().sum(dim=(0, 2, 3) if self.transposed else (1, 2, 3)).max().item()
        self.bmax = self.b.abs().max().item()

    @property
    def transposed(self) -> bool:
        return isinstance(self.m, nn.ConvTranspose2d)

    def check(self, a: torch.Tensor, what: str) -> None:
        """Refuse an input whose outputs could leave the exactly representable range."""
        if a.abs().max().item() * self.l1 + self.bmax >= EXACT:
            raise FormatError(f"{what} out of range (file damaged or crafted)")

    def __call__(self, a: torch.Tensor, what: str) -> torch.Tensor:
        self.check(a, what)
        m = self.m
        if self.transposed:
            return F.conv_transpose2d(a, self.w, self.b, m.stride, m.padding, m.output_padding)
        return F.conv2d(a, self.w, self.b, m.stride, m.padding)


def requantize(acc: torch.Tensor, frac_in: int, relu: bool) -> torch.Tensor:
    """Accumulator with ``frac_in`` fractional bits -> activation with A_BITS (floor), exact."""
    return torch.floor((acc.clamp_min(0) if relu else acc) * 2.0 ** (A_BITS - frac_in))


class IntHyperSynthesis:
    def __init__(self, h_s: nn.Sequential):
        convs = [m for m in h_s if not isinstance(m, nn.ReLU)]
        self.layers = [FixedConv(m, 0 if i == 0 else A_BITS) for i, m in enumerate(convs)]  # ẑ is integer
        self.bounds = torch.tensor([math.ceil(v * 2.0**OUT_FRAC) for v in SCALE_BOUNDS], dtype=torch.float64)

    def accumulators(self, z_hat: np.ndarray) -> torch.Tensor:
        """(1, C, h, w) integers -> (1, 2M, 4h, 4w) float64 integers: scale then mean, OUT_FRAC bits."""
        a = torch.from_numpy(np.asarray(z_hat, dtype=np.float64))
        for i, layer in enumerate(self.layers):
            acc = layer(a, "hyper-latents")
            if i < len(self.layers) - 1:
                a = requantize(acc, layer.frac + W_BITS, relu=True)
        return acc

    def params(self, acc: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Parameter accumulators -> (scale table indexes int64, means float64 on the 2**-MEAN_BITS grid)."""
        scale_acc, mean_acc = acc.chunk(2, dim=1)
        idx = torch.searchsorted(self.bounds, scale_acc.contiguous(), right=True)
        mean = torch.floor(mean_acc * 2.0 ** (MEAN_BITS - OUT_FRAC) + 0.5) * 2.0**-MEAN_BITS
        return idx.numpy().astype(np.int64), mean.numpy()

    def __call__(self, z_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(1, C, h, w) integers -> (scale table indexes int64, means float64), both (1, M, 4h, 4w)."""
        return self.params(self.accumulators(z_hat))
