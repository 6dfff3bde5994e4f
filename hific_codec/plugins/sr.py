"""``sr2`` / ``sr4``: learned super-resolution (models/sr.py), weights from the zoo.

The network runs on 128x128-pixel tiles of the (edge-padded) input with a 20-pixel halo, more
than its receptive field (19 input pixels each side: 18 convolutions at input resolution and the
upsampler), so each tile's core is what the whole image would give there: memory stays bounded
and no seams appear.
"""
from __future__ import annotations

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
        # edge padding gives bicubic and the convolutions context at the border, as in training
        return self.tiled(image, TILE, HALO, self.scale)


class SR2(_SR):
    name, scale, weights = "sr2", 2, ("sr2",)
    description = "x2 learned super-resolution (EDSR-style CNN on a bicubic skip)"


class SR4(_SR):
    name, scale, weights = "sr4", 4, ("sr4",)
    description = "x4 learned super-resolution (EDSR-style CNN on a bicubic skip)"
