"""Image-to-image translation on CMP facades, weights from the zoo.

``translate:<model>``, pix2pix (models/pix2pix.py, trained on paired data): ``facades-labels2photo``
(CMP label map -> building photo) and ``facades-photo2labels`` (photo -> label map).
``cycle:<direction>``, CycleGAN (models/cycle.py, trained without the pairing): ``labels2photo``
and ``photo2labels``.

Each network works at a fixed size (pix2pix 256x256, CycleGAN 128x128): the input is resized to
that, translated, and resized back, so the output has the input's size.  Label maps are snapped
to the 12-colour palette saved with the weights.  No randomness at inference: the same input
always gives the same output.
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np
from PIL import Image

from .base import Plugin, PluginError

MODELS = ("facades-labels2photo", "facades-photo2labels")


class Translate(Plugin):
    name, weights = "translate", MODELS
    description = "pix2pix translation, translate:facades-labels2photo|facades-photo2labels (Isola et al. 2017)"
    models: ClassVar[dict[str, str]] = {m: m for m in MODELS}  # argument -> zoo weights

    def __init__(self, arg: str | None = None):
        super().__init__(arg)
        if arg not in self.models:
            raise PluginError(f"{self.name} needs one of: {', '.join(self.models)} (e.g. {self.name}:{next(iter(self.models))})")
        self.weight_name = self.models[arg]

    def network(self, cfg: dict):
        """(network, working side) from the weights' config."""
        from ..models.pix2pix import Pix2PixConfig, UNetGenerator

        return UNetGenerator(Pix2PixConfig(**cfg)), 256

    def load(self) -> None:
        entry, state = self.zoo_weights(self.weight_name)
        cfg = dict(entry.config)
        self.palette = np.array(cfg.pop("palette"), dtype=np.uint8)
        net, self.size = self.network(cfg)
        self.net = self.frozen(net, state)

    def run(self, image, latents):
        from ..models.pix2pix import classify, to_tensor

        h, w = image.shape[:2]
        x = np.asarray(Image.fromarray(image).resize((self.size, self.size), Image.BICUBIC))
        with self.torch.no_grad():
            y = self.net(to_tensor(x)[None])[0]
        y = ((y + 1) * 127.5).round().clamp(0, 255).permute(1, 2, 0).to(self.torch.uint8).numpy()
        if self.weight_name.endswith("2labels"):
            y = self.palette[classify(y, self.palette)]  # a clean label map: palette colours only
            return np.asarray(Image.fromarray(y).resize((w, h), Image.NEAREST))
        return np.asarray(Image.fromarray(y).resize((w, h), Image.BICUBIC))


class Cycle(Translate):
    name = "cycle"
    models: ClassVar[dict[str, str]] = {"labels2photo": "facades-cycle-labels2photo", "photo2labels": "facades-cycle-photo2labels"}
    weights = tuple(models.values())
    description = "CycleGAN translation trained without pairs, cycle:labels2photo|photo2labels (Zhu et al. 2017)"

    def network(self, cfg: dict):
        from ..models.cycle import CycleConfig, ResnetGenerator

        c = CycleConfig(**cfg)
        return ResnetGenerator(c), c.size
