"""``translate:<model>``: pix2pix image-to-image translation (models/pix2pix.py), weights from the zoo.

Models: ``facades-labels2photo`` (CMP label map -> building photo) and ``facades-photo2labels``
(photo -> label map, snapped to the 12-colour palette saved with the weights).  The networks
were trained at 256x256: the input is resized to that, translated, and resized back, so the
output has the input's size.  Dropout is off: the same input always gives the same output.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from .base import Plugin, PluginError

MODELS = ("facades-labels2photo", "facades-photo2labels")


class Translate(Plugin):
    name, weights = "translate", MODELS
    description = "pix2pix translation, translate:facades-labels2photo|facades-photo2labels (Isola et al. 2017)"

    def __init__(self, arg: str | None = None):
        super().__init__(arg)
        if arg not in MODELS:
            raise PluginError(f"translate needs one of: {', '.join(MODELS)} (e.g. translate:{MODELS[0]})")

    def load(self) -> None:
        from ..models.pix2pix import Pix2PixConfig, UNetGenerator

        entry, state = self.zoo_weights(self.arg)
        cfg = dict(entry.config)
        self.palette = np.array(cfg.pop("palette"), dtype=np.uint8)
        self.net = self.frozen(UNetGenerator(Pix2PixConfig(**cfg)), state)

    def run(self, image, latents):
        from ..models.pix2pix import classify, to_tensor

        h, w = image.shape[:2]
        x = np.asarray(Image.fromarray(image).resize((256, 256), Image.BICUBIC))
        with self.torch.no_grad():
            y = self.net(to_tensor(x)[None])[0]
        y = ((y + 1) * 127.5).round().clamp(0, 255).permute(1, 2, 0).to(self.torch.uint8).numpy()
        if self.arg.endswith("2labels"):
            y = self.palette[classify(y, self.palette)]  # a clean label map: palette colours only
            return np.asarray(Image.fromarray(y).resize((w, h), Image.NEAREST))
        return np.asarray(Image.fromarray(y).resize((w, h), Image.BICUBIC))
