"""Decoding an OFIT payload, without torch: the weights, the latents by the exact ARM in the
file's order (exact.py), then the pixels (render.py)."""
from __future__ import annotations

import math

import numpy as np

from bitstream import entropy
from bitstream import overfit as fmt

from . import exact, render
from .layout import OverfitConfig, grid_shapes


def decode_latents(p: fmt.OverfitPayload, h: int, w: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The payload's weight tensors (integers, stream order) and its latent grids (int64)."""
    tables = fmt.laplace_tables()
    wdec = entropy.StreamDecoder(p.weights)
    ints = [wdec.decode(np.full(math.prod(shape), fmt.table_index(fmt.ZERO_MEAN, k)), tables).reshape(shape)
            for shape, k in zip(p.tensor_shapes(), p.weight_scales)]
    arm = exact.ExactARM(ints[:6], p.arm_shift)
    dec = entropy.StreamDecoder(p.latents)
    grids = exact.decode_grids(grid_shapes(p.levels, h, w), arm, lambda idx: dec.decode_rows(idx, tables), p.interleaved)
    return ints, grids


def decode(payload: bytes, h: int, w: int) -> np.ndarray:
    p = fmt.OverfitPayload.from_bytes(payload)
    cfg = OverfitConfig(p.levels, p.arm_hidden, p.syn_hidden, p.syn_residual)
    ints, grids = decode_latents(p, h, w)
    return render.render(cfg, render.weights_from_ints(ints[6:], p.syn_shift), render.upsample(grids), h, w)
