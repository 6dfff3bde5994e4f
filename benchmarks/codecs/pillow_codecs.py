"""Classic codecs through Pillow: JPEG (4:4:4 and 4:2:0), WebP, AVIF, and JPEG XL when a plugin is installed."""
from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, features

from . import register
from .base import Codec, CodecUnavailable


@dataclass
class PillowCodec(Codec):
    format: str = "JPEG"
    options: dict = field(default_factory=dict)
    feature: str | None = None

    def check(self) -> None:
        if self.feature and not features.check(self.feature):
            raise CodecUnavailable(f"Pillow here was built without {self.feature} support")

    def encode(self, rgb: np.ndarray, q) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format=self.format, quality=int(q), **self.options)
        return buf.getvalue()

    def decode(self, data: bytes) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@register("jpeg")
def jpeg444() -> Codec:
    return PillowCodec("jpeg", "JPEG 4:4:4 (Pillow/libjpeg-turbo, optimized Huffman)",
                       (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95), "JPEG", {"subsampling": 0, "optimize": True}, "jpg")


@register("jpeg420")
def jpeg420() -> Codec:
    return PillowCodec("jpeg420", "JPEG 4:2:0 (Pillow/libjpeg-turbo, optimized Huffman)",
                       (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95), "JPEG", {"subsampling": 2, "optimize": True}, "jpg")


@register("webp")
def webp() -> Codec:
    return PillowCodec("webp", "WebP lossy (Pillow/libwebp, method 6, 4:2:0)", (5, 25, 50, 75, 95),
                       "WEBP", {"method": 6}, "webp")


@register("avif")
def avif() -> Codec:
    return PillowCodec("avif", "AVIF 4:4:4 (Pillow/libavif+aom, speed 6, default tune)",
                       (15, 35, 55, 75, 90), "AVIF", {"subsampling": "4:4:4", "speed": 6}, "avif")


@dataclass
class JxlCodec(PillowCodec):
    def check(self) -> None:
        try:
            import pillow_jxl  # noqa: F401
        except ImportError:
            raise CodecUnavailable("JPEG XL needs the pillow-jxl-plugin package (pip install pillow-jxl-plugin)") from None


@register("jxl")
def jxl() -> Codec:
    return JxlCodec("jxl", "JPEG XL (pillow-jxl-plugin/libjxl, effort 7)", (10, 25, 40, 55, 70, 80, 90, 95),
                    "JXL", {"effort": 7})
