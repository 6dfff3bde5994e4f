"""The overfitted decoder's pixels, in numpy (no torch: a decode needs neither its import time nor
its memory): the latent grids upsampled by bicubic interpolation, then the synthesis.

    ŷ_l ─bicubic ×2^l─► L planes at (Hp, Wp) ─S1·+c1, ReLU─► C ─S2·+c2─► 3 ─[+ conv3x3 + k]×R─► x̂

Float32, like the fit's torch model: pixels obey the format's cross-machine tolerance (one level,
at most 0.1% of values); the latents they start from are exact.
"""
from __future__ import annotations

import math
from functools import cache

import numpy as np

from .layout import OverfitConfig

BAND = 128  # rows per band of the 1x1 layers: their C-wide hidden layer never exists whole


@cache
def phase_taps(s: int) -> np.ndarray:
    """(s, 5) float64: the bicubic weights (a = -0.75, half-pixel centres, PyTorch's
    ``align_corners=False``) that output phase p = o mod s puts on input offsets -2..2 around
    m = o // s."""
    a = -0.75
    k = np.zeros((s, 5))
    for p in range(s):
        src = (p + 0.5) / s - 0.5
        i0 = math.floor(src)
        t = src - i0
        for j, x in enumerate((t + 1, t, 1 - t, 2 - t)):
            x = abs(x)
            k[p, i0 - 1 + j + 2] += ((a + 2) * x - (a + 3)) * x * x + 1 if x <= 1 else ((x - 5) * x + 8) * x * a - 4 * a
    return k


def _upsample_axis0(g: np.ndarray, s: int) -> np.ndarray:
    """(h, w) -> (s h, w), edges replicated."""
    h = g.shape[0]
    gp = np.pad(g, ((2, 2), (0, 0)), mode="edge")
    win = np.stack([gp[k : k + h] for k in range(5)])  # (5, h, w)
    out = np.tensordot(phase_taps(s), win, axes=(1, 0))  # (s, h, w)
    return out.transpose(1, 0, 2).reshape(h * s, -1)


def upsample(grids: list[np.ndarray]) -> np.ndarray:
    """Integer grids (finest first) -> (L, Hp, Wp) float32, each grid bicubic-upsampled by 2^l."""
    planes = [grids[0].astype(np.float32)]
    for l, g in enumerate(grids[1:], 1):
        rows = _upsample_axis0(g.astype(np.float64), 1 << l)
        planes.append(_upsample_axis0(rows.T, 1 << l).T.astype(np.float32))
    return np.stack(planes)


def _conv3x3(x: np.ndarray, k: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """(3, H, W) -> (3, H, W): 3x3 convolution with replicate padding, as one (3, 27) product."""
    _, H, W = x.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="edge")
    cols = np.stack([xp[:, di : di + H, dj : dj + W] for di in range(3) for dj in range(3)], axis=1)
    return (k.reshape(3, 27) @ cols.reshape(27, H * W) + bias[:, None]).reshape(3, H, W)


def synthesise(cfg: OverfitConfig, weights: list[np.ndarray], u: np.ndarray) -> np.ndarray:
    """f_θ on upsampled latents (L, Hp, Wp) -> (3, Hp, Wp) float32, before clamping.  ``weights``:
    S1 (C, L), c1, S2 (3, C), c2, then (K (3, 3, 3, 3), k) per residual convolution, float32."""
    s1, c1, s2, c2 = weights[:4]
    L, hp, wp = u.shape
    x = np.empty((3, hp, wp), np.float32)
    for r0 in range(0, hp, BAND):
        band = u[:, r0 : r0 + BAND].reshape(L, -1)
        v = s1 @ band
        v += c1[:, None]
        np.maximum(v, 0, out=v)
        x[:, r0 : r0 + BAND] = (s2 @ v + c2[:, None]).reshape(3, -1, wp)
    for r in range(cfg.syn_residual):
        k, b = weights[4 + 2 * r : 6 + 2 * r]
        x = x + _conv3x3(x if r == 0 else np.maximum(x, 0), k, b)
    return x


def render(cfg: OverfitConfig, weights: list[np.ndarray], u: np.ndarray, h: int, w: int) -> np.ndarray:
    """Upsampled latents (`upsample`) and float32 synthesis weights -> (h, w, 3) uint8."""
    x = synthesise(cfg, weights, u)[:, :h, :w]
    x = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=0.0)
    x = np.round(np.clip(x, 0, 1) * np.float32(255))
    return np.ascontiguousarray(x.transpose(1, 2, 0)).astype(np.uint8)


def weights_from_ints(ints: list[np.ndarray], shift: int) -> list[np.ndarray]:
    """The synthesis tensors from the file's integers in units of 2^-shift (exact in float32)."""
    step = np.float32(2.0**-shift)
    return [np.asarray(v, np.float32) * step for v in ints]
