"""A small artifact-removal network for the ``enhance`` plugin: blocking, ringing and blur of
heavily compressed images (JPEG or NIC at low quality) are predicted as a correction.

    x ─unshuffle 2─conv3x3─┬─[res block: conv─ReLU─conv, ×0.1]×B─conv3x3─(+)─conv3x3─shuffle 2─(+)─ y
                           └────────────────────────────────────────────┘                     │
    x ────────────────────────────────────────────────────────────────────────────────────────┘

The body runs at half resolution after a space-to-depth step (4x fewer multiplications per
pixel, twice the receptive field: it spans several 8x8 JPEG blocks); the output is a residual on
the input, as in ARCNN / DnCNN (Dong et al. 2015; Zhang et al. 2017), with EDSR's blocks.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .sr import ResBlock


@dataclass(frozen=True)
class EnhanceConfig:
    channels: int = 32
    blocks: int = 6
    res_scale: float = 0.1


class EnhanceNet(nn.Module):
    def __init__(self, cfg: EnhanceConfig = EnhanceConfig()):
        super().__init__()
        c = cfg.channels
        self.cfg = cfg
        self.head = nn.Conv2d(12, c, 3, padding=1)
        self.body = nn.Sequential(*[ResBlock(c, cfg.res_scale) for _ in range(cfg.blocks)], nn.Conv2d(c, c, 3, padding=1))
        self.tail = nn.Conv2d(c, 12, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in 0..1, H and W even -> the same shape."""
        f = self.head(F.pixel_unshuffle(x, 2))
        f = f + self.body(f)
        return x + F.pixel_shuffle(self.tail(f), 2)

    @property
    def receptive_radius(self) -> int:
        """Input pixels each side that reach one output pixel (3x3 convolutions at half resolution)."""
        return 2 * (2 * self.cfg.blocks + 3) + 1
