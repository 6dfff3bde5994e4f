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
        return self.tiled(image, TILE, HALO, multiple=2)  # the network works at half resolution
