"""Image quality metrics on 8-bit RGB, computed as CompressAI does (per image, then averaged)."""
from __future__ import annotations

import math

import numpy as np


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * math.log10(255.0**2 / mse)


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """MS-SSIM on RGB (5 scales, Gaussian window 11/1.5, data range 255), via pytorch-msssim."""
    import torch
    from pytorch_msssim import ms_ssim as _ms_ssim

    def t(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.array(x, dtype=np.float32)).permute(2, 0, 1)[None]

    if min(a.shape[:2]) < 161:  # 4 downsamplings of an 11-tap window need >= 161 px
        return float("nan")
    return float(_ms_ssim(t(a), t(b), data_range=255.0, size_average=True))


def ms_ssim_db(v: float) -> float:
    return -10 * math.log10(max(1e-10, 1 - v))
