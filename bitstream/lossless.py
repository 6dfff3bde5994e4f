"""The PIXL chunk: a losslessly coded image's own pixel model and its pixels (format 1.7).

Payload, big-endian:

    u8  planes          1 (grey), 3 (RGB) or 4 (RGBA): coded in this order, each conditioned on
                        the planes before it
    u8  radius          causal neighbourhood radius R (2..4)
    u8  hidden          MLP width (1..64)
    u8 x planes         MLP weight shift s of each plane (its weights are integers in units 2^-s, 0..16)
    u8 x T              Laplace scale index of each weight tensor's table (T = 7 per plane)
    u32                 n, the weight stream's length in bytes
    n bytes             range-coded weights: per plane the linear predictor (n_c + 1 integers in
                        units 2^-12 over the n_c values: R(2R+1) + R causal neighbours, then 9 per
                        earlier plane) and the MLP (W1 (hidden, m_c), b1, W2 (hidden, hidden), b2,
                        W3 (2, hidden), b3; m_c = causal neighbours + 6 neighbour errors + 18 per
                        earlier plane: 9 values, 9 errors), each tensor with the zero-mean table
                        of its scale index
    ...                 range-coded pixels: plane by plane, each in anti-diagonal wavefronts
                        j + (R+1)·i = t, one part per wavefront (hific_codec.lossless)

Pixels use the overfitted coder's Laplace tables (bitstream.overfit.laplace_tables).  This
module knows sizes only; the model lives in hific_codec.lossless.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from .container import FormatError
from .overfit import SCALES

MIN_RADIUS, MAX_RADIUS, MAX_HIDDEN, MAX_SHIFT = 2, 4, 64, 16
ERRORS = 6  # causal neighbours whose prediction errors the MLP reads
PLANES = (1, 3, 4)
TENSORS_PER_PLANE = 7


def causal_count(radius: int) -> int:
    """Causal neighbours of a pixel: R rows of 2R + 1, and R to the left."""
    return radius * (2 * radius + 1) + radius


@dataclass(frozen=True)
class LosslessPayload:
    planes: int
    radius: int
    hidden: int
    shifts: tuple[int, ...]  # per plane
    weight_scales: tuple[int, ...]  # per weight tensor
    weights: bytes
    pixels: bytes

    def __post_init__(self) -> None:
        if self.planes not in PLANES:
            raise FormatError(f"PIXL plane count {self.planes} is not 1, 3 or 4")
        if not MIN_RADIUS <= self.radius <= MAX_RADIUS:
            raise FormatError(f"PIXL radius {self.radius} outside {MIN_RADIUS}..{MAX_RADIUS}")
        if not 1 <= self.hidden <= MAX_HIDDEN:
            raise FormatError(f"PIXL MLP width {self.hidden} outside 1..{MAX_HIDDEN}")
        if len(self.shifts) != self.planes or any(not 0 <= s <= MAX_SHIFT for s in self.shifts):
            raise FormatError("PIXL weight shifts missing or outside 0..16")
        if len(self.weight_scales) != TENSORS_PER_PLANE * self.planes:
            raise FormatError("PIXL weight table count does not match the plane count")
        if any(not 0 <= k < SCALES for k in self.weight_scales):
            raise FormatError("PIXL weight scale index out of range")

    def values(self, plane: int) -> int:
        """The linear predictor's inputs: causal neighbours and 3x3 of each earlier plane."""
        return causal_count(self.radius) + 9 * plane

    def inputs(self, plane: int) -> int:
        """The MLP's inputs: those values, neighbour errors, and the earlier planes' 3x3 errors."""
        return causal_count(self.radius) + ERRORS + 18 * plane

    def tensor_shapes(self) -> list[tuple[int, ...]]:
        h, out = self.hidden, []
        for c in range(self.planes):
            out += [(self.values(c) + 1,), (h, self.inputs(c)), (h,), (h, h), (h,), (2, h), (2,)]
        return out

    def macs_per_pixel(self) -> int:
        """Decoder multiplications per pixel, all planes together."""
        h = self.hidden
        return sum(self.values(c) + self.inputs(c) * h + h * h + 2 * h for c in range(self.planes))

    def to_bytes(self) -> bytes:
        head = struct.pack(">3B", self.planes, self.radius, self.hidden) + bytes(self.shifts)
        return head + bytes(self.weight_scales) + struct.pack(">I", len(self.weights)) + self.weights + self.pixels

    @classmethod
    def from_bytes(cls, payload: bytes) -> LosslessPayload:
        if len(payload) < 3:
            raise FormatError(f"PIXL chunk has {len(payload)} bytes, fewer than its 3-byte header")
        planes, radius, hidden = payload[:3]
        if planes not in PLANES:
            raise FormatError(f"PIXL plane count {planes} is not 1, 3 or 4")
        at = 3 + planes + TENSORS_PER_PLANE * planes
        if len(payload) < at + 4:
            raise FormatError("PIXL chunk truncated in its weight tables")
        (nw,) = struct.unpack(">I", payload[at : at + 4])
        if len(payload) < at + 4 + nw:
            raise FormatError(f"PIXL weight stream of {nw} bytes runs past the chunk")
        return cls(planes, radius, hidden, tuple(payload[3 : 3 + planes]), tuple(payload[3 + planes : at]),
                   payload[at + 4 : at + 4 + nw], payload[at + 4 + nw :])
