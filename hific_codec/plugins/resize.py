"""Bicubic upscaling: the baseline every super-resolution plugin is measured against."""
from __future__ import annotations

import numpy as np
from PIL import Image

from .base import Plugin


class _Bicubic(Plugin):
    scale = 2

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        return height * self.scale, width * self.scale

    def run(self, image, latents):
        h, w = self.output_size(*image.shape[:2])
        return np.asarray(Image.fromarray(image).resize((w, h), Image.BICUBIC))


class Bicubic2(_Bicubic):
    name, scale = "bicubic2", 2
    description = "x2 bicubic upscaling (Pillow), the SR baseline; no model"


class Bicubic4(_Bicubic):
    name, scale = "bicubic4", 4
    description = "x4 bicubic upscaling (Pillow), the SR baseline; no model"
