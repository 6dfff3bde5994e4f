"""Training-time rate estimates, matching what ``bitstream.entropy`` codes exactly at inference."""
from __future__ import annotations

import torch
from torch import Tensor

from bitstream.entropy import SCALE_MIN  # the coder cannot represent smaller scales

from .ops import lower_bound

LIKELIHOOD_MIN = 1e-9


def ste_round(x: Tensor) -> Tensor:
    """Round in the forward pass, identity gradient in the backward pass."""
    return x + (torch.round(x) - x).detach()


def _std_cdf(v: Tensor) -> Tensor:
    return 0.5 * torch.erfc(-v * (2 ** -0.5))


def gaussian_likelihood(y: Tensor, scale: Tensor, mean: Tensor) -> Tensor:
    """P(y in [v - 1/2, v + 1/2]) under N(mean, scale), the discretised Gaussian of Ballé et al."""
    s = lower_bound(scale, SCALE_MIN)
    v = (y - mean).abs()
    p = _std_cdf((0.5 - v) / s) - _std_cdf((-0.5 - v) / s)
    return p.clamp_min(LIKELIHOOD_MIN)


def bits(likelihoods: Tensor) -> Tensor:
    """Total bits per batch element."""
    return -torch.log2(likelihoods).flatten(1).sum(1)


def factorized_likelihood(eb, z: Tensor) -> Tensor:
    """Likelihood of integer ``z`` (B, C, h, w) under a compressai EntropyBottleneck, without noise."""
    values = z.transpose(0, 1).reshape(z.shape[1], 1, -1)
    lik = eb._likelihood(values)[0].clamp_min(LIKELIHOOD_MIN)
    return lik.reshape(z.shape[1], z.shape[0], *z.shape[2:]).transpose(0, 1)
