"""The OFIT chunk: an overfitted file's own decoder (network weights) and latents (format 1.5;
interleaved latent order 1.8).

Payload, big-endian:

    u8  levels          low 4 bits: latent grids (1..8), the finest at full resolution; high 4
                        bits: the latents' order, 0 grid by grid (1.5), 1 interleaved (1.8)
    u8  arm_hidden      ARM width (1..64)
    u8  syn_hidden      synthesis 1x1 width (1..64)
    u8  syn_residual    residual 3x3 convolutions (0..4)
    u8  arm_shift       ARM weights are integers in units of 2^-arm_shift (0..16)
    u8  syn_shift       synthesis weights are integers in units of 2^-syn_shift (0..16)
    u8 x T              Laplace scale index of each weight tensor's table (T from the sizes above)
    u32                 n, the weight stream's length in bytes
    n bytes             range-coded weights (entropy.encode_parts): the T tensors in order, each
                        element with the zero-mean table of its tensor's scale index
    ...                 range-coded latents: each grid in anti-diagonal wavefronts j + 3i = t,
                        the grids coarsest first or interleaved, one part per step of that
                        order (hific_codec.overfit.exact.Plan)

Weights and latents share the Laplace table set `laplace_tables` (mean fraction x scale); the
weights use the zero-mean tables.  This module knows sizes and tables only; the decoder lives in
hific_codec.overfit.
"""
from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .container import FormatError
from .entropy import TableSet, quantize_pmf

# Format constants: Laplace scales b_k = exp(LOG_B_MIN + k * LOG_B_STEP), k < SCALES, and FRACTIONS
# bins of the mean's offset from its nearest integer, centred on j / FRACTIONS, |j| <= 4.
SCALES = 64
LOG_B_MIN = -4.6
LOG_B_STEP = 9.6 / 63
FRACTIONS = 9
TAIL = 21.0  # support +-ceil(TAIL * b) + 1: Laplace tail mass e^-21 ~ 8e-10
HEAD_SIZE = 6
ORDER_INTERLEAVED = 1  # high nibble of the levels byte: the grids' wavefronts interleaved (1.8)
MAX_LEVELS, MAX_WIDTH, MAX_RESIDUAL, MAX_SHIFT = 8, 64, 4, 16


def scale(k: int) -> float:
    return math.exp(LOG_B_MIN + k * LOG_B_STEP)


def fraction(j: int) -> float:
    """Centre of mean-fraction bin j (0..FRACTIONS-1): -4/9 .. 4/9."""
    return (j - FRACTIONS // 2) / FRACTIONS


ZERO_MEAN = FRACTIONS // 2  # the fraction bin centred on 0, used by the weights


def table_index(frac: np.ndarray, k: np.ndarray) -> np.ndarray:
    return np.asarray(frac, dtype=np.int64) * SCALES + np.asarray(k, dtype=np.int64)


def _support(b: float) -> int:
    return math.ceil(TAIL * b) + 1


def _laplace_pmf(delta: float, b: float) -> np.ndarray:
    r = _support(b)
    cdf = []
    for v in range(-r, r + 2):  # F(v - 1/2) for v = -r .. r+1
        x = v - 0.5 - delta
        cdf.append(0.5 * math.exp(x / b) if x < 0 else 1.0 - 0.5 * math.exp(-x / b))
    p = np.diff(np.array(cdf))
    tail = cdf[0] + (1.0 - cdf[-1])
    return quantize_pmf(np.append(p, tail))


class _LazyPmfs(Sequence):
    """The tables' probabilities, each computed when first used: the widest few tables hold most
    of the 400k entries and are rarely needed, and a decode should not wait for them (0.3-0.7 s).
    ``lengths`` is known without computing any table."""

    def __init__(self):
        self._got: dict[int, np.ndarray] = {}
        self.lengths = np.array([2 * _support(scale(k)) + 2 for _ in range(FRACTIONS) for k in range(SCALES)],
                                dtype=np.int64)

    def __len__(self) -> int:
        return FRACTIONS * SCALES

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        if not -len(self) <= k < len(self):
            raise IndexError(k)
        k %= len(self)
        got = self._got.get(k)
        if got is None:
            got = self._got[k] = _laplace_pmf(fraction(k // SCALES), scale(k % SCALES))
        return got


@lru_cache(maxsize=1)
def laplace_tables() -> TableSet:
    """FRACTIONS x SCALES discretised Laplace distributions (scalar libm arithmetic, rounded to the
    PMF grid: pinned by hash in the tests), table 64 j + k for fraction bin j and scale k."""
    return TableSet(np.array([-_support(scale(k)) for _ in range(FRACTIONS) for k in range(SCALES)], dtype=np.int64),
                    _LazyPmfs())


def latent_order(payload: bytes) -> int:
    """The order nibble of an OFIT payload (0 grid by grid, ORDER_INTERLEAVED), read before the
    payload is parsed (the container's version check needs it)."""
    return payload[0] >> 4 if payload else 0


@dataclass(frozen=True)
class OverfitPayload:
    levels: int
    arm_hidden: int
    syn_hidden: int
    syn_residual: int
    arm_shift: int
    syn_shift: int
    weight_scales: tuple[int, ...]  # one Laplace scale index per weight tensor
    weights: bytes  # range-coded network weights
    latents: bytes  # range-coded latent grids
    interleaved: bool = False  # the latents' order: False grid by grid (1.5), True interleaved (1.8)

    def __post_init__(self) -> None:
        for name, v, hi in (("levels", self.levels, MAX_LEVELS), ("arm_hidden", self.arm_hidden, MAX_WIDTH),
                            ("syn_hidden", self.syn_hidden, MAX_WIDTH), ("arm_shift", self.arm_shift, MAX_SHIFT),
                            ("syn_shift", self.syn_shift, MAX_SHIFT)):
            if not 1 <= v <= hi and not (name.endswith("shift") and v == 0):
                raise FormatError(f"OFIT {name} {v} outside 1..{hi}")
        if not 0 <= self.syn_residual <= MAX_RESIDUAL:
            raise FormatError(f"OFIT syn_residual {self.syn_residual} outside 0..{MAX_RESIDUAL}")
        if len(self.weight_scales) != len(self.tensor_shapes()):
            raise FormatError("OFIT weight table count does not match the network sizes")
        if any(not 0 <= k < SCALES for k in self.weight_scales):
            raise FormatError("OFIT weight scale index out of range")

    def tensor_shapes(self) -> list[tuple[int, ...]]:
        """The weight tensors in stream order: ARM (3 linear layers), then synthesis."""
        from_ctx = context_size()
        a, s, L = self.arm_hidden, self.syn_hidden, self.levels
        shapes = [(a, from_ctx), (a,), (a, a), (a,), (2, a), (2,)]
        shapes += [(s, L), (s,), (3, s), (3,)]
        for _ in range(self.syn_residual):
            shapes += [(3, 3, 3, 3), (3,)]
        return shapes

    def to_bytes(self) -> bytes:
        head = struct.pack(">6B", self.levels | (ORDER_INTERLEAVED << 4 if self.interleaved else 0), self.arm_hidden, self.syn_hidden, self.syn_residual,
                           self.arm_shift, self.syn_shift)
        return head + bytes(self.weight_scales) + struct.pack(">I", len(self.weights)) + self.weights + self.latents

    @classmethod
    def from_bytes(cls, payload: bytes) -> OverfitPayload:
        if len(payload) < HEAD_SIZE:
            raise FormatError(f"OFIT chunk has {len(payload)} bytes, fewer than its {HEAD_SIZE}-byte header")
        L, a, s, r, ash, ssh = struct.unpack(">6B", payload[:HEAD_SIZE])
        order, L = latent_order(payload), L & 0x0F
        if order > ORDER_INTERLEAVED:
            raise FormatError(f"OFIT latent order {order} unknown (0 and {ORDER_INTERLEAVED} are defined)")
        n = 10 + 2 * r
        if r > MAX_RESIDUAL:
            raise FormatError(f"OFIT syn_residual {r} outside 0..{MAX_RESIDUAL}")
        at = HEAD_SIZE + n
        if len(payload) < at + 4:
            raise FormatError("OFIT chunk truncated in its weight tables")
        (nw,) = struct.unpack(">I", payload[at : at + 4])
        if len(payload) < at + 4 + nw:
            raise FormatError(f"OFIT weight stream of {nw} bytes runs past the chunk")
        return cls(L, a, s, r, ash, ssh, tuple(payload[HEAD_SIZE:at]), payload[at + 4 : at + 4 + nw], payload[at + 4 + nw :],
                   order == ORDER_INTERLEAVED)

    def macs_per_pixel(self) -> int:
        return macs_per_pixel(self.levels, self.arm_hidden, self.syn_hidden, self.syn_residual)


def macs_per_pixel(levels: int, arm_hidden: int, syn_hidden: int, syn_residual: int) -> int:
    """Decoder multiplications per pixel: the ARM over every latent, bicubic upsampling (16 per
    coarse grid), the synthesis."""
    lat = sum(4.0 ** -l for l in range(levels))
    a, c = arm_hidden, syn_hidden
    arm = context_size() * a + a * a + 2 * a
    return round(lat * arm + 16 * (levels - 1) + levels * c + 3 * c + 27 * syn_residual)


def context_size() -> int:
    """ARM inputs: 12 causal neighbours in the latent's own grid, the 3x3 parent neighbourhood."""
    return 12 + 9
