"""pix2pix (Isola et al., CVPR 2017): U-Net generator and 70x70 PatchGAN discriminator, CPU-sized.

::

    x (3, 256, 256) ─down 32─ down 64─ down 128─ down 256─ down 256─ down 256 (4x4)
                       │        │        │         │        │          │
    G(x) <─up 3 (tanh)─ up 64 ─ up 128 ─ up 256 ─── up 256 ─ up 256 <──┘   (skip: concat at each level)

    D(x, y): concat (6 ch) ─ conv 32 s2 ─ conv 64 s2 ─ conv 128 s2 ─ conv 256 s1 ─ conv 1 s1 -> patch logits

Half the paper's width (ngf = ndf = 32) and six levels instead of eight, for two CPU cores.
Dropout in the first decoder levels is the paper's only source of noise; it stays on at test
time only if asked (the plugin runs it off, so outputs are deterministic).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class Pix2PixConfig:
    direction: str = "labels2photo"  # or "photo2labels"
    ngf: int = 32
    ndf: int = 32
    levels: int = 6


def _down(cin: int, cout: int, norm: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 4, 2, 1, bias=not norm)]
    if norm:
        layers.append(nn.InstanceNorm2d(cout, affine=True))
    return nn.Sequential(*layers, nn.LeakyReLU(0.2))


def _up(cin: int, cout: int, dropout: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.InstanceNorm2d(cout, affine=True)]
    if dropout:
        layers.append(nn.Dropout(0.5))
    return nn.Sequential(*layers, nn.ReLU())


class UNetGenerator(nn.Module):
    def __init__(self, cfg: Pix2PixConfig = Pix2PixConfig()):
        super().__init__()
        widths = [min(cfg.ngf * 2**i, cfg.ngf * 8) for i in range(cfg.levels)]
        # no normalisation at the outermost and innermost levels, as in the paper
        self.downs = nn.ModuleList([_down(3, widths[0], norm=False)] +
                                   [_down(widths[i - 1], widths[i], norm=i < cfg.levels - 1) for i in range(1, cfg.levels)])
        ups = []
        for i in range(cfg.levels - 1, 0, -1):
            cin = widths[i] if i == cfg.levels - 1 else 2 * widths[i]
            ups.append(_up(cin, widths[i - 1], dropout=i >= cfg.levels - 2))
        self.ups = nn.ModuleList(ups)
        self.out = nn.ConvTranspose2d(2 * widths[0], 3, 4, 2, 1)

    def forward(self, x: Tensor) -> Tensor:
        """x in -1..1, (B, 3, H, W) with H, W multiples of 2**levels; returns -1..1."""
        skips = []
        for d in self.downs:
            x = d(x)
            skips.append(x)
        x = skips.pop()
        for u in self.ups:
            x = torch.cat([u(x), skips.pop()], 1)
        return torch.tanh(self.out(x))


class PatchDiscriminator(nn.Module):
    def __init__(self, cfg: Pix2PixConfig = Pix2PixConfig()):
        super().__init__()
        n = cfg.ndf
        self.body = nn.Sequential(
            _down(6, n, norm=False), _down(n, 2 * n), _down(2 * n, 4 * n),
            nn.Conv2d(4 * n, 8 * n, 4, 1, 1, bias=False), nn.InstanceNorm2d(8 * n, affine=True), nn.LeakyReLU(0.2),
            nn.Conv2d(8 * n, 1, 4, 1, 1),
        )

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return self.body(torch.cat([x, y], 1))


def to_tensor(a: np.ndarray) -> Tensor:
    """HxWx3 uint8 -> (3, H, W) in -1..1, the networks' range."""
    return torch.from_numpy(np.array(a)).permute(2, 0, 1).float() / 127.5 - 1  # a copy: inputs may be read-only


def classify(img: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Nearest palette colour per pixel: (H, W) class indices."""
    d = ((img[:, :, None, :].astype(np.int32) - palette[None, None].astype(np.int32)) ** 2).sum(-1)
    return d.argmin(-1)
