"""What the overfitted model's coder and decoder share, without torch: the ARM's context (which
neighbours), the wavefront slope, the network sizes and the latent grids' shapes.

Causal neighbours (row, column offsets): all of rows -2 and -1 within ±2 columns, then the two to
the left.  A measured alternative, a 2x2 polyphase context decodable in 4 passes per grid, cost
24% more latent bits on a Kodak crop.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

CAUSAL = ((-2, -2), (-2, -1), (-2, 0), (-2, 1), (-2, 2), (-1, -2), (-1, -1), (-1, 0), (-1, 1), (-1, 2),
          (0, -2), (0, -1))
PARENT = tuple((di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1))
CONTEXT = len(CAUSAL) + len(PARENT)
SLOPE = 3  # wavefront t = j + SLOPE * i: every causal neighbour lies on an earlier wavefront


@dataclass(frozen=True)
class OverfitConfig:
    levels: int = 7  # latent grids, the finest at full resolution
    arm_hidden: int = 16  # ARM: CONTEXT -> hidden -> hidden -> (μ, log b)
    syn_hidden: int = 40  # synthesis 1x1 width
    syn_residual: int = 2  # 3x3 residual convolutions (3 -> 3) after the 1x1 layers

    def to_dict(self) -> dict:
        return asdict(self)

    def macs_per_pixel(self) -> int:
        """Decoder multiplications per image pixel (the format's count, bitstream/overfit.py)."""
        from bitstream.overfit import macs_per_pixel

        return macs_per_pixel(self.levels, self.arm_hidden, self.syn_hidden, self.syn_residual)


def grid_shapes(levels: int, h: int, w: int) -> list[tuple[int, int]]:
    """Grid l covers the image padded to a multiple of 2^(levels-1): (hp / 2^l, wp / 2^l)."""
    u = 1 << (levels - 1)
    hp, wp = -(-h // u) * u, -(-w // u) * u
    return [(hp >> l, wp >> l) for l in range(levels)]
