"""The HEAD chunk: everything a decoder needs before touching the latent streams (18 bytes)."""
from __future__ import annotations

import struct
from dataclasses import dataclass

from .container import FormatError

_FMT = ">IIBH4sHB"  # width, height, channels, model id, weights hash, quality x100, flags
SIZE = struct.calcsize(_FMT)
MAX_SIDE = 1 << 15  # 32768 px per side
MAX_PIXELS = 1 << 27  # 134 Mpx: caps every allocation derived from the header
CHANNELS = {1: "L", 3: "RGB", 4: "RGBA"}  # what the decoder returns; alpha lives in the 'alph' chunk


@dataclass(frozen=True)
class Header:
    width: int
    height: int
    channels: int  # 1 (grey), 3 (RGB) or 4 (RGBA)
    model_id: int  # key of the model registry (hific_codec.zoo)
    weights_hash: bytes  # first 4 bytes of the weights file's SHA-256
    quality: float  # 0..100, stored in steps of 0.01
    flags: int = 0  # reserved, must be 0 in version 1.0

    def __post_init__(self) -> None:
        check_size(self.width, self.height)
        if self.channels not in CHANNELS:
            raise FormatError(f"unsupported channel count {self.channels} (expected 1, 3 or 4)")
        if not 0 <= self.quality <= 100:
            raise FormatError(f"quality {self.quality} outside 0..100")
        if len(self.weights_hash) != 4:
            raise FormatError("weights hash must be 4 bytes")
        if not 0 <= self.model_id < 1 << 16:
            raise FormatError(f"model id {self.model_id} out of range")

    def to_bytes(self) -> bytes:
        q = round(self.quality * 100)
        return struct.pack(_FMT, self.width, self.height, self.channels, self.model_id, self.weights_hash, q, self.flags)

    @classmethod
    def from_bytes(cls, payload: bytes) -> Header:
        if len(payload) != SIZE:
            raise FormatError(f"HEAD chunk has {len(payload)} bytes, expected {SIZE}")
        w, h, c, mid, wh, q, flags = struct.unpack(_FMT, payload)
        if q > 10000:
            raise FormatError(f"quality field {q} outside 0..10000")
        return cls(w, h, c, mid, wh, q / 100, flags)


def check_size(width: int, height: int) -> None:
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise FormatError(f"image size {width}x{height} outside 1..{MAX_SIDE} per side")
    if width * height > MAX_PIXELS:
        raise FormatError(f"image of {width}x{height} exceeds the {MAX_PIXELS} pixel limit")
