"""Rate–distortion loss: L = mean_i [ lambda_i * 255^2 * MSE_i + bpp_i ] with a per-sample lambda."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..entropy_models import bits


@dataclass
class RDLoss:
    loss: Tensor
    bpp: Tensor  # (B,)
    mse: Tensor  # (B,) on 0..1 pixels


def rate_distortion(x: Tensor, x_hat: Tensor, y_lik: Tensor, z_lik: Tensor, lmbda: Tensor) -> RDLoss:
    pixels = x.shape[2] * x.shape[3]
    bpp = (bits(y_lik) + bits(z_lik)) / pixels
    mse = (x_hat - x).pow(2).flatten(1).mean(1)
    loss = (lmbda * 255.0**2 * mse + bpp).mean()
    return RDLoss(loss, bpp, mse)


def psnr(mse: Tensor) -> Tensor:
    return -10 * torch.log10(mse.clamp_min(1e-10))
