"""``sr2`` / ``sr4``: learned super-resolution (models/sr.py), weights from the zoo.

The network runs on 128x128-pixel tiles of the (edge-padded) input with a 20-pixel halo, more
than its receptive field (19 input pixels each side: 18 convolutions at input resolution and the
upsampler), so each tile's core is what the whole image would give there: memory stays bounded
and no seams appear.
"""
from __future__ import annotations

import numpy as np

from .base import Plugin

TILE, HALO = 128, 20


class _SR(Plugin):
    scale = 2

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        return height * self.scale, width * self.scale

    def load(self) -> None:
        from ..models.sr import SRConfig, SRNet

        entry, state = self.zoo_weights(self.name)
        self.net = self.frozen(SRNet(SRConfig(**entry.config)), state)

    def run(self, image, latents):
        torch, s = self.torch, self.scale
        h, w = image.shape[:2]
        # edge padding gives bicubic and the convolutions context at the border, as in training
        x = torch.from_numpy(np.pad(image, ((HALO, HALO), (HALO, HALO), (0, 0)), mode="edge")).permute(2, 0, 1)
        x = x[None].float().div_(255)
        out = np.empty((h * s, w * s, 3), np.uint8)
        with torch.no_grad():
            for i in range(0, h, TILE):
                for j in range(0, w, TILE):
                    th, tw = min(TILE, h - i), min(TILE, w - j)
                    y = self.net(x[:, :, i : i + th + 2 * HALO, j : j + tw + 2 * HALO])
                    y = y[0, :, HALO * s : (HALO + th) * s, HALO * s : (HALO + tw) * s]
                    out[i * s : (i + th) * s, j * s : (j + tw) * s] = (
                        y.mul(255).round_().clamp_(0, 255).permute(1, 2, 0).to(torch.uint8).numpy())
        return out


class SR2(_SR):
    name, scale, weights = "sr2", 2, ("sr2",)
    description = "x2 learned super-resolution (EDSR-style CNN on a bicubic skip)"


class SR4(_SR):
    name, scale, weights = "sr4", 4, ("sr4",)
    description = "x4 learned super-resolution (EDSR-style CNN on a bicubic skip)"
