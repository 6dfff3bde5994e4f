"""``style:<name>``: fast feed-forward style transfer (models/style.py), weights from the zoo."""
from __future__ import annotations

import numpy as np

from .base import Plugin, PluginError

WEIGHTS = "style-4"  # zoo name of the multi-style network


class Style(Plugin):
    name, weights = "style", (WEIGHTS,)
    description = "artistic style transfer, style:candy|mosaic|starry_night|the_scream (Johnson et al. 2016, one network)"

    def __init__(self, arg: str | None = None):
        super().__init__(arg)
        if not arg:
            raise PluginError("style needs a style name, e.g. style:candy")

    def load(self) -> None:
        from ..models.style import StyleConfig, StyleNet

        entry, state = self.zoo_weights(WEIGHTS)
        cfg = StyleConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in entry.config.items()})
        if self.arg not in cfg.styles:
            raise PluginError(f"unknown style {self.arg!r}; available: {', '.join(cfg.styles)}")
        self.index = cfg.styles.index(self.arg)
        self.net = self.frozen(StyleNet(cfg), state)

    def run(self, image, latents):
        torch = self.torch
        h, w = image.shape[:2]
        ph, pw = -h % 4, -w % 4  # the network halves twice
        x = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="reflect" if min(h, w) > 4 else "edge")
        with torch.no_grad():
            t = torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None].float().div_(255)
            y = self.net(t, self.index)[0, :, :h, :w]
        return y.mul(255).round_().clamp_(0, 255).permute(1, 2, 0).to(torch.uint8).numpy()
