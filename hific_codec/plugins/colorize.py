"""``colorize``: grey to colour (models/colorize.py), weights from the zoo.

``nic decode grey.nic -o colour.png --post colorize``, or any image through the plugin API: only
its lightness is used, so a colour input is recoloured.  The network sees the whole image at a
working size (short side 224) and its colours are upsampled to the input's resolution; the
input's lightness is kept as it is.  Time and memory beyond the image stay small for any size
(the full-resolution work runs in bands).
"""
from __future__ import annotations

from .base import Plugin, PluginError


class Colorize(Plugin):
    name, weights, colour = "colorize", ("colorize",), True
    description = "grey to colour (Zhang et al. 2016): a grey image comes out in colour, its lightness kept"

    def __init__(self, arg: str | None = None):
        super().__init__(arg)
        if arg is not None:
            raise PluginError("colorize takes no argument")

    def load(self) -> None:
        from ..models.colorize import ColorizeConfig, ColorizeNet

        entry, state = self.zoo_weights("colorize")
        self.net = self.frozen(ColorizeNet(ColorizeConfig.from_dict(entry.config)), state)

    def run(self, image, latents):
        from ..models.colorize import colorize

        return colorize(self.net, image)
