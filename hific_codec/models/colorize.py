"""Automatic colorization for the ``colorize`` plugin: the lightness L of CIE Lab in, the colour
(a, b) out, as a distribution over quantised ab bins (Zhang, Isola & Efros, ECCV 2016).

    L ─unshuffle 2─conv─┬─down─┬─down─┬─down─[dilated res blocks]─(+ global mean)─up─(cat)─up─(cat)─conv─► logits
                        │      │      └────────────────────────────────────────────────┘         │      (Q bins, 1/4)
                        │      └──────────────────────────────────────────────────────────────────┘
    annealed mean of the bins' ab (T = 0.38) ─► ab at 1/4 resolution ─► upsampled, joined to the full-resolution L

Colour is predicted as a class over ab bins, trained with a cross-entropy against a soft
encoding of the true colour and reweighted towards rare colours: a regression with an L2 loss
averages plausible colours into grey-brown, a distribution keeps them apart, and the annealed
mean (between the mean and the mode) picks a vivid one without the mode's speckle.  The global
mean of the coarsest features (Iizuka et al. 2016) carries the scene to every position.  The
network sees the whole image at a fixed working size (colour is low-frequency); only the final
ab planes are upsampled to the input's resolution, so its cost does not grow with the image.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# sRGB (D65) <-> CIE Lab
_M = torch.tensor([[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]])
_WHITE = torch.tensor([0.950456, 1.0, 1.088754])
_EPS, _KAPPA = 216 / 24389, 24389 / 27
ANNEAL_T = 0.38


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) sRGB in 0..1 -> (B, 3, H, W) L in 0..100, a and b about -110..110."""
    lin = torch.where(rgb > 0.04045, ((rgb.clamp_min(0) + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = torch.einsum("ij,bjhw->bihw", _M.to(rgb), lin) / _WHITE.to(rgb)[None, :, None, None]
    f = torch.where(xyz > _EPS, xyz.clamp_min(1e-12) ** (1 / 3), (_KAPPA * xyz + 16) / 116)
    return torch.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], 1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """The inverse of `rgb_to_lab`, clamped to 0..1 (colours outside sRGB are clipped)."""
    fy = (lab[:, 0] + 16) / 116
    f = torch.stack([fy + lab[:, 1] / 500, fy, fy - lab[:, 2] / 200], 1)
    xyz = torch.where(f > _EPS ** (1 / 3), f**3, (116 * f - 16) / _KAPPA) * _WHITE.to(lab)[None, :, None, None]
    lin = torch.einsum("ij,bjhw->bihw", torch.linalg.inv(_M).to(lab), xyz).clamp(0, 1)
    return torch.where(lin > 0.0031308, 1.055 * lin ** (1 / 2.4) - 0.055, 12.92 * lin).clamp(0, 1)


@dataclass(frozen=True)
class ColorizeConfig:
    channels: tuple[int, ...] = (32, 64, 96, 128)  # at 1/2, 1/4, 1/8, 1/16 of the working size
    blocks: int = 3  # dilated residual blocks at 1/16
    bins: int = 0  # Q: ab classes (0: regression of ab with 2 outputs, the L2 reference)
    side: int = 224  # the working size: the short side the network sees

    @classmethod
    def from_dict(cls, d: dict) -> ColorizeConfig:
        """From its JSON form (a manifest entry or a checkpoint's meta: tuples come back as lists)."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def _conv(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation), nn.ReLU(inplace=True))


class _Dilated(nn.Module):
    def __init__(self, c: int, dilation: int):
        super().__init__()
        self.body = nn.Sequential(_conv(c, c, dilation=dilation), nn.Conv2d(c, c, 3, padding=1))

    def forward(self, x):
        return F.relu(x + self.body(x))


class ColorizeNet(nn.Module):
    """``forward(L)``: (B, 1, H, W) lightness / 100, H and W multiples of 16 -> (B, Q, H/4, W/4)
    logits (or (B, 2, H/4, W/4) ab / 110 for the regression reference).  `ab` turns that into ab."""

    def __init__(self, cfg: ColorizeConfig = ColorizeConfig()):
        super().__init__()
        c1, c2, c3, c4 = cfg.channels
        self.cfg = cfg
        self.stem = nn.Sequential(_conv(4, c1), _conv(c1, c1))
        self.down2, self.down3, self.down4 = _conv(c1, c2, 2), _conv(c2, c3, 2), _conv(c3, c4, 2)
        self.enc2, self.enc3 = _conv(c2, c2), _conv(c3, c3)
        self.mid = nn.Sequential(*[_Dilated(c4, 2 ** (k % 3)) for k in range(cfg.blocks)])
        self.glob = nn.Linear(c4, c4)
        self.dec3 = _conv(c4 + c3, c3)
        self.dec2 = nn.Sequential(_conv(c3 + c2, c2), _conv(c2, c2))
        out = cfg.bins or 2
        self.head = nn.Conv2d(c2, out, 1)
        # the bins' ab centres travel with the weights (Q x 2); regression: unused
        self.register_buffer("centres", torch.zeros(max(cfg.bins, 1), 2))

    def forward(self, lum: torch.Tensor) -> torch.Tensor:
        f1 = self.stem(F.pixel_unshuffle(lum * 2 - 1, 2))
        f2 = self.enc2(self.down2(f1))
        f3 = self.enc3(self.down3(f2))
        f4 = self.mid(self.down4(f3))
        f4 = f4 + self.glob(f4.mean((2, 3)))[:, :, None, None]
        u3 = self.dec3(torch.cat([F.interpolate(f4, scale_factor=2.0, mode="nearest"), f3], 1))
        u2 = self.dec2(torch.cat([F.interpolate(u3, scale_factor=2.0, mode="nearest"), f2], 1))
        return self.head(u2)

    def ab(self, out: torch.Tensor, temperature: float = ANNEAL_T) -> torch.Tensor:
        """The network's output -> (B, 2, h, w) ab: the annealed mean of the bins' distribution."""
        if not self.cfg.bins:
            return out * 110
        p = torch.softmax(out / temperature, 1)  # softmax(log p / T): the distribution sharpened
        return torch.einsum("bqhw,qc->bchw", p, self.centres)


def working_size(h: int, w: int, side: int) -> tuple[int, int]:
    """(h, w) scaled so the short side is ``side``, both rounded to multiples of 16."""
    s = side / min(h, w)
    return max(16, round(h * s / 16) * 16), max(16, round(w * s / 16) * 16)


def _bilinear(n_out: int, n_in: int) -> torch.Tensor:
    """(n_out, n_in) matrix of bilinear interpolation with half-pixel centres (edges clamped), so
    a band of output rows is a slice of it: F.interpolate's ``align_corners=False`` sampling."""
    pos = ((torch.arange(n_out, dtype=torch.float64) + 0.5) * n_in / n_out - 0.5).clamp(0, n_in - 1)
    lo = pos.floor().long()
    hi = (lo + 1).clamp(max=n_in - 1)
    frac = (pos - lo).float()
    m = torch.zeros(n_out, n_in)
    m[torch.arange(n_out), lo] += 1 - frac
    m[torch.arange(n_out), hi] += frac
    return m


BAND = 256  # output rows per step: full-resolution work holds a few float planes of this height


def colorize(net: ColorizeNet, image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 (its colour is ignored) -> (H, W, 3) uint8: the input's own lightness at
    full resolution with the ab the network predicts at its working size, upsampled bilinearly.
    Memory beyond the image is a few (BAND, W) planes and the working-size network."""
    from PIL import Image

    H, W = image.shape[:2]
    h, w = working_size(H, W, net.cfg.side)
    small = np.array(Image.fromarray(image).resize((w, h), Image.BICUBIC))
    lum = rgb_to_lab(torch.from_numpy(small).permute(2, 0, 1)[None].float() / 255)[:, :1]
    with torch.no_grad():
        ab = net.ab(net(lum / 100))[0]  # (2, h/4, w/4)
    rows, cols = _bilinear(H, ab.shape[1]), _bilinear(W, ab.shape[2]).T
    out = np.empty((H, W, 3), np.uint8)
    for i in range(0, H, BAND):
        x = torch.from_numpy(np.array(image[i : i + BAND])).permute(2, 0, 1)[None].float() / 255
        band_ab = torch.einsum("rh,chw,wx->crx", rows[i : i + BAND], ab, cols)[None]
        y = lab_to_rgb(torch.cat([rgb_to_lab(x)[:, :1], band_ab], 1))
        out[i : i + BAND] = y[0].mul(255).round_().clamp_(0, 255).permute(1, 2, 0).byte().numpy()
    return out
