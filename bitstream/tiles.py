"""The TILE chunk: the image is coded as a grid of independently entropy-coded tiles (format 1.1).

Tiles bound the encoder's and decoder's working memory (a 12000x9000 image never needs its
entropy parameters in one piece) and let a decoder work tile by tile.  Only the latent stream is
split; the hyper-latents stay one stream, and the synthesis runs across tile borders (with a
halo), so tiles leave no seams.  A file without TILE is one tile covering the whole image.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from .container import FormatError

ALIGN = 64  # tile sides are multiples of the codec's padding unit
SIZE = 4
# A file's tiles are at least this big: each tile costs a fixed overhead (its h_s window's halo,
# its stream), and tiny tiles would let a few bytes buy minutes of decoding.  Smaller grids exist
# only inside the codec's tests.
MIN_FILE_TILE = 512


@dataclass(frozen=True)
class TileGrid:
    tile_w: int  # pixels, a multiple of ALIGN
    tile_h: int

    def __post_init__(self) -> None:
        for v in (self.tile_w, self.tile_h):
            if not (ALIGN <= v <= 1 << 15) or v % ALIGN:
                raise FormatError(f"tile side {v} is not a multiple of {ALIGN} in {ALIGN}..32768")

    def shape(self, width: int, height: int) -> tuple[int, int]:
        """(rows, columns) of tiles covering a width x height image."""
        return -(-height // self.tile_h), -(-width // self.tile_w)

    def count(self, width: int, height: int) -> int:
        r, c = self.shape(width, height)
        return r * c

    def check_file_size(self) -> None:
        if min(self.tile_w, self.tile_h) < MIN_FILE_TILE:
            raise FormatError(f"tile of {self.tile_w}x{self.tile_h} px: a file's tile sides are at least {MIN_FILE_TILE}")

    def to_bytes(self) -> bytes:
        self.check_file_size()
        return struct.pack(">HH", self.tile_w, self.tile_h)

    @classmethod
    def from_bytes(cls, payload: bytes) -> TileGrid:
        if len(payload) != SIZE:
            raise FormatError(f"TILE chunk has {len(payload)} bytes, expected {SIZE}")
        grid = cls(*struct.unpack(">HH", payload))
        grid.check_file_size()
        return grid


def padded_size(height: int, width: int) -> tuple[int, int]:
    """The size the codec works at: each side rounded up to a multiple of ALIGN."""
    return -(-height // ALIGN) * ALIGN, -(-width // ALIGN) * ALIGN
