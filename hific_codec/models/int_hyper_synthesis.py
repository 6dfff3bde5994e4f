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
EXACT = 2.0**53


class IntHyperSynthesis:
    def __init__(self, h_s: nn.Sequential):
        self.layers = []
        frac = 0  # ẑ is integer: 0 fractional bits
        for m in h_s:
            if isinstance(m, nn.ReLU):
                continue
            w = torch.round(m.weight.detach().double() * 2.0**W_BITS)
            b = torch.round(m.bias.detach().double() * 2.0 ** (frac + W_BITS))
            # Worst-case |output| per unit of max|input|: L1 norm of each output channel's taps.
            l1 = w.abs().sum(dim=(0, 2, 3) if isinstance(m, nn.ConvTranspose2d) else (1, 2, 3)).max().item()
            self.layers.append((m, w, b, frac, l1, b.abs().max().item()))
            frac = A_BITS
        self.out_frac = A_BITS + W_BITS
        self.bounds = torch.tensor([math.ceil(v * 2.0**self.out_frac) for v in SCALE_BOUNDS], dtype=torch.float64)

    def __call__(self, z_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(1, C, h, w) integers -> (scale table indexes int64, means float64), both (1, M, 4h, 4w)."""
        a = torch.from_numpy(np.asarray(z_hat, dtype=np.float64))
        for i, (m, w, b, frac, l1, bmax) in enumerate(self.layers):
            if a.abs().max().item() * l1 + bmax >= EXACT:
                raise FormatError("hyper-latents out of range (file damaged or crafted)")
            if isinstance(m, nn.ConvTranspose2d):
                acc = F.conv_transpose2d(a, w, b, m.stride, m.padding, m.output_padding)
            else:
                acc = F.conv2d(a, w, b, m.stride, m.padding)
            if i < len(self.layers) - 1:
                a = torch.floor(acc.clamp_min(0) * 2.0 ** (A_BITS - frac - W_BITS))
        scale_acc, mean_acc = acc.chunk(2, dim=1)
        idx = torch.searchsorted(self.bounds, scale_acc.contiguous(), right=True)
        shift = 2.0 ** (MEAN_BITS - self.out_frac)
        mean = torch.floor(mean_acc * shift + 0.5) * 2.0**-MEAN_BITS
        return idx.numpy().astype(np.int64), mean.numpy()
