"""Fast feed-forward style transfer (Johnson, Alahi & Fei-Fei, ECCV 2016), several styles in one
network through conditional instance normalisation (Dumoulin, Shlens & Kudlur, ICLR 2017).

::

    x ─conv5 16─> ─conv3 s2 32─> ─conv3 s2 64─> [res block 64] x R ─up2 conv3 32─> ─up2 conv3 16─> ─conv5 3─> x̃
         every conv but the last: CIN(style) + ReLU

Each style owns only the scale/shift of every instance-norm layer (a few hundred numbers), so
adding a style costs no decode time and almost no weights.  Upsampling is nearest-neighbour then
convolution, which avoids the checkerboard of transposed convolutions (Odena et al. 2016).
Sized for CPU: 64 channels at 1/4 resolution.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class StyleConfig:
    styles: tuple[str, ...] = ("candy", "mosaic", "starry_night", "the_scream")
    channels: tuple[int, int, int] = (16, 32, 64)
    res_blocks: int = 3


class CondInstanceNorm(nn.Module):
    def __init__(self, channels: int, styles: int):
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.scale = nn.Parameter(torch.ones(styles, channels))
        self.shift = nn.Parameter(torch.zeros(styles, channels))

    def forward(self, x: Tensor, s: int) -> Tensor:
        return self.norm(x) * self.scale[s, :, None, None] + self.shift[s, :, None, None]


class _ConvCIN(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, styles: int, stride: int = 1, up: bool = False, act: bool = True):
        super().__init__()
        self.up = up
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, padding_mode="reflect")
        self.cin = CondInstanceNorm(cout, styles)
        self.act = act

    def forward(self, x: Tensor, s: int) -> Tensor:
        if self.up:
            x = nn.functional.interpolate(x, scale_factor=2, mode="nearest")
        x = self.cin(self.conv(x), s)
        return torch.relu(x) if self.act else x


class _Res(nn.Module):
    def __init__(self, c: int, styles: int):
        super().__init__()
        self.a = _ConvCIN(c, c, 3, styles)
        self.b = _ConvCIN(c, c, 3, styles, act=False)

    def forward(self, x: Tensor, s: int) -> Tensor:
        return x + self.b(self.a(x, s), s)


class StyleNet(nn.Module):
    def __init__(self, cfg: StyleConfig = StyleConfig()):
        super().__init__()
        self.cfg = cfg
        S = len(cfg.styles)
        c1, c2, c3 = cfg.channels
        self.down = nn.ModuleList([_ConvCIN(3, c1, 5, S), _ConvCIN(c1, c2, 3, S, 2), _ConvCIN(c2, c3, 3, S, 2)])
        self.res = nn.ModuleList([_Res(c3, S) for _ in range(cfg.res_blocks)])
        self.up = nn.ModuleList([_ConvCIN(c3, c2, 3, S, up=True), _ConvCIN(c2, c1, 3, S, up=True)])
        self.out = nn.Conv2d(c1, 3, 5, padding=2, padding_mode="reflect")

    def forward(self, x: Tensor, style: int) -> Tensor:
        """x: (B, 3, H, W) in 0..1 with H, W multiples of 4; returns the stylised image in 0..1."""
        h = x
        for layer in (*self.down, *self.res, *self.up):
            h = layer(h, style)
        return torch.sigmoid(self.out(h))
