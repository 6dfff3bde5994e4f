"""Decoding a PIXL payload, without torch: the weights -> exact plane models -> the pixels,
wavefront by wavefront (exact.py), bit for bit what the encoder was given."""
from __future__ import annotations

import math

import numpy as np

from bitstream import entropy
from bitstream import lossless as fmt
from bitstream import overfit as tables_fmt
from bitstream.container import FormatError

from . import exact


def _zero_mean(t: np.ndarray, k: int) -> np.ndarray:
    return np.full(t.size, tables_fmt.table_index(tables_fmt.ZERO_MEAN, k))


def decode(payload: bytes, h: int, w: int, planes: int | None = None) -> np.ndarray:
    """PIXL payload -> (h, w, planes) uint8, exactly the encoder's input; ``planes``, when given,
    must be the payload's plane count (the header's channels)."""
    p = fmt.LosslessPayload.from_bytes(payload)
    if planes is not None and p.planes != planes:
        raise FormatError(f"PIXL chunk codes a different plane count than the header's {planes} channels")
    tables = tables_fmt.laplace_tables()
    wdec = entropy.StreamDecoder(p.weights)
    ints = [wdec.decode(_zero_mean(np.empty(math.prod(s)), k), tables).reshape(s)
            for s, k in zip(p.tensor_shapes(), p.weight_scales)]
    T = fmt.TENSORS_PER_PLANE
    models = [exact.ExactPlaneModel(exact.PlaneWeights(ints[c * T], tuple(ints[c * T + 1 : (c + 1) * T]), p.shifts[c]),
                                    fmt.causal_count(p.radius)) for c in range(p.planes)]
    dec = entropy.StreamDecoder(p.pixels)
    planes = exact.decode_planes(h, w, models, p.radius, lambda idx: dec.decode_rows(idx, tables))
    return np.stack(planes, axis=-1)
