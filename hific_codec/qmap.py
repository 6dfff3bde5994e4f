"""Quality maps: a quality per latent of the hyperprior's y grid (one per 16x16 pixels of the
padded image), so one file spends more bits where they matter (format 1.6, chunk QMAP).

The shipped model is variable-rate through gain units: the encoder multiplies y by gain(t) and the
decoder by inv_gain(t).  With a map, each latent gets the gains of its own quality; the entropy
model (h_s and the context) sees gained latents as before.  Maps come from a region of interest
(a mask or boxes: `coverage`, `roi_map`) or from the image itself (`aq_offsets`: x265-style adaptive
quantisation, no learned detector).  Entries are stored in half-quality steps (bitstream.nicfile).
"""
from __future__ import annotations

import numpy as np

from bitstream.nicfile import LATENT_STRIDE, QMAP_MAX, QMAP_UNIT, qmap_shape


def quantise(qmap: np.ndarray) -> np.ndarray:
    """Qualities as the file stores them (half steps, 0..100)."""
    return np.clip(np.round(np.asarray(qmap, dtype=np.float64) * QMAP_UNIT), 0, QMAP_MAX) / QMAP_UNIT


def to_bytes(qmap: np.ndarray) -> bytes:
    return np.round(quantise(qmap) * QMAP_UNIT).astype(np.uint8).tobytes()


def from_bytes(data: bytes, height: int, width: int) -> np.ndarray:
    return np.frombuffer(data, dtype=np.uint8).reshape(qmap_shape(height, width)).astype(np.float64) / QMAP_UNIT


def boxes_mask(boxes: list[tuple[int, int, int, int]], height: int, width: int) -> np.ndarray:
    """(x, y, w, h) pixel boxes -> an HxW mask (1 inside any box)."""
    m = np.zeros((height, width), dtype=np.float64)
    for x, y, w, h in boxes:
        if w <= 0 or h <= 0:
            raise ValueError(f"ROI box {x},{y},{w},{h}: width and height must be positive")
        m[max(0, y) : max(0, y + h), max(0, x) : max(0, x + w)] = 1.0
    return m


def coverage(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """A mask of any size (white / nonzero = important) -> the share of each latent's 16x16 block
    it covers, on the latent grid, after resizing it to the image (bilinear) and widening it by one
    latent, so the synthesis's reach across block edges does not blur the region's border."""
    from PIL import Image

    m = np.asarray(mask, dtype=np.float64)
    if m.ndim == 3:
        m = m.mean(axis=2)
    if m.ndim != 2 or m.size == 0:
        raise ValueError(f"ROI mask must be a 2-D (grey) image, got shape {np.shape(mask)}")
    top = m.max()
    m = m / top if top > 1 else m  # 8-bit masks: 255 is "inside"
    if m.shape != (height, width):
        m = np.asarray(Image.fromarray(m.astype(np.float32), mode="F").resize((width, height), Image.BILINEAR))
    gh, gw = qmap_shape(height, width)
    # the padding replicates the mask's edge, as the codec's padding replicates the image's
    full = np.pad(np.clip(m, 0, 1), ((0, gh * LATENT_STRIDE - height), (0, gw * LATENT_STRIDE - width)), mode="edge")
    cov = full.reshape(gh, LATENT_STRIDE, gw, LATENT_STRIDE).mean(axis=(1, 3))
    p = np.pad(cov, 1, mode="edge")
    return np.max([p[a : a + gh, b : b + gw] for a in range(3) for b in range(3)], axis=0)


def roi_map(cov: np.ndarray, quality: float, roi_quality: float) -> np.ndarray:
    """``roi_quality`` where `coverage` ``cov`` is 1, ``quality`` where it is 0, blended between."""
    return quantise(quality + cov * (roi_quality - quality))


AQ_BLOCK = 64  # pixels: one quality per hyper-latent (a gain that changes from latent to latent costs rate)
AQ_STRENGTH = 2.0  # quality points per doubling of a block's texture energy against the image's median


def aq_offsets(rgb: np.ndarray, strength: float = AQ_STRENGTH) -> np.ndarray:
    """Adaptive quantisation from the image alone, as quality offsets on the latent grid: more
    quality for flat blocks (where banding and blur show), less for busy texture (which masks the
    error), by the log of each 64x64 block's luma variance against the image's median, as x265's
    --aq-mode does with QP.  They do not depend on the quality, so a rate search computes them once."""
    h, w = rgb.shape[:2]
    gh, gw = qmap_shape(h, w)
    y = rgb[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    full = np.pad(y, ((0, gh * LATENT_STRIDE - h), (0, gw * LATENT_STRIDE - w)), mode="edge")
    b = AQ_BLOCK // LATENT_STRIDE  # latents per block side: the hyper-latent grid's step
    blocks = full.reshape(gh // b, AQ_BLOCK, gw // b, AQ_BLOCK)
    energy = np.log2(blocks.var(axis=(1, 3)) + 1.0)
    return (-strength * (energy - np.median(energy))).repeat(b, 0).repeat(b, 1)


def aq_map(offsets: np.ndarray, quality: float) -> np.ndarray:
    return quantise(np.clip(quality + offsets, 0, 100))
