"""``enhance`` / ``enhance:gan``: compression-artifact removal (models/enhance.py), weights from the zoo.

For heavily compressed images: JPEGs (``nic enhance photo.jpg -o photo.png``) and NIC files decoded
at low quality (``nic decode x.nic -o y.png --post enhance``).  ``enhance`` is trained with an L1
loss (the highest PSNR); ``enhance:gan`` is the same network fine-tuned with a feature distance
and an adversarial loss (sharper texture, lower PSNR), as Galteri et al. (ICCV 2017).

The network runs on 256x256 tiles of the edge-padded input with a 32-pixel halo, more than its
receptive field (31 pixels), so each tile's core is what the whole image would give; tile corners
stay on multiples of 8, where JPEG's block grid lies.  Memory is bounded by the tile.
"""
from __future__ import annotations

import numpy as np

from .base import Plugin, PluginError

TILE, HALO = 256, 32
VARIANTS = {None: "enhance", "gan": "enhance-gan"}


class Enhance(Plugin):
    name, weights = "enhance", ("enhance",)
    description = "compression-artifact removal for JPEG and low-quality NIC (enhance, or enhance:gan for texture)"

    def __init__(self, arg: str | None = None):
        super().__init__(arg)
        if arg not in VARIANTS:
            raise PluginError("enhance takes no argument or 'gan' (enhance:gan)")
        self.weight_name = VARIANTS[arg]

    def load(self) -> None:
        from ..models.enhance import EnhanceConfig, EnhanceNet

        entry, state = self.zoo_weights(self.weight_name)
        self.net = EnhanceNet(EnhanceConfig(**entry.config))
        if self.net.receptive_radius > HALO:
            raise PluginError(f"{self.weight_name}: receptive field {self.net.receptive_radius} px exceeds the tile halo")
        self.net = self.frozen(self.net, state)

    def run(self, image, latents):
        torch = self.torch
        h, w = image.shape[:2]
        # one extra row and column of edge padding: every tile is cut with even sides (the network
        # works at half resolution) and its odd last row or column is dropped
        x = np.pad(image, ((HALO, HALO + 1), (HALO, HALO + 1), (0, 0)), mode="edge")
        x = torch.from_numpy(x).permute(2, 0, 1)[None].float().div_(255)
        out = np.empty((h, w, 3), np.uint8)
        with torch.no_grad():
            for i in range(0, h, TILE):
                for j in range(0, w, TILE):
                    th, tw = min(TILE, h - i), min(TILE, w - j)
                    y = self.net(x[:, :, i : i + th + th % 2 + 2 * HALO, j : j + tw + tw % 2 + 2 * HALO])
                    y = y[0, :, HALO : HALO + th, HALO : HALO + tw]
                    out[i : i + th, j : j + tw] = y.mul(255).round_().clamp_(0, 255).permute(1, 2, 0).to(torch.uint8).numpy()
        return out
