"""A small super-resolution network for the ``sr2`` / ``sr4`` plugins (CPU-sized EDSR-style).

    LR ─conv3x3─┬─[res block: conv─ReLU─conv, ×0.1]×B─conv3x3─(+)─[conv3x3 → pixel shuffle ×2]×log2(s)─conv3x3─(+)─ SR
                └──────────────────────────────────────────────┘                                           │
    LR ─────────────────────────── bicubic ×s ────────────────────────────────────────────────────────────┘

Residual blocks without batch norm and with residual scaling follow EDSR (Lim et al. 2017); the
output is a correction on top of bicubic upsampling, which the network only has to refine.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class SRConfig:
    scale: int = 4
    channels: int = 48
    blocks: int = 8
    res_scale: float = 0.1


class ResBlock(nn.Module):
    def __init__(self, c: int, res_scale: float):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(c, c, 3, padding=1))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) * self.res_scale


class SRNet(nn.Module):
    def __init__(self, cfg: SRConfig = SRConfig()):
        super().__init__()
        if cfg.scale not in (2, 4):
            raise ValueError("scale must be 2 or 4")
        c = cfg.channels
        self.cfg = cfg
        self.head = nn.Conv2d(3, c, 3, padding=1)
        self.body = nn.Sequential(*[ResBlock(c, cfg.res_scale) for _ in range(cfg.blocks)], nn.Conv2d(c, c, 3, padding=1))
        up = []
        for _ in range(int(math.log2(cfg.scale))):
            up += [nn.Conv2d(c, 4 * c, 3, padding=1), nn.PixelShuffle(2)]
        self.up = nn.Sequential(*up, nn.Conv2d(c, 3, 3, padding=1))

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """(B, 3, h, w) in 0..1 -> (B, 3, s*h, s*w)."""
        f = self.head(lr)
        f = f + self.body(f)
        base = F.interpolate(lr, scale_factor=self.cfg.scale, mode="bicubic", align_corners=False)
        return base + self.up(f)
