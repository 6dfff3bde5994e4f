"""Overfitted coding: encoder effort 3 and up spends encode time fitting a small decoder and latent
grids to the image itself (model.py: Cool-chic / C3 lineage), and the file carries them (chunk
OFIT, format 1.5).  No dataset training is involved; decoding is cheap (~1.5k multiplications
per pixel) and its entropy decoding exact on every machine (exact.py).

    effort 3 / 4 / 5   the fit's iterations (EFFORTS: a Level each, some first one octave down);
                       ``seconds`` sets a time budget instead
    quality 0..100     λ = LAMBDA_LOW · (LAMBDA_HIGH / LAMBDA_LOW)^(q / 100) in MSE + λ·bpp
    bpp                λ steered during the fit towards the target (fit.FitConfig.target_bpp)

torch is imported only when a function here runs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Level:
    """One effort level's fit: ``iterations`` at full resolution, of which a quarter of ``coarse``
    are traded for ``coarse`` iterations one octave down first where that pays (fit._coarsen)."""

    iterations: int
    coarse: tuple[int, ...]

    def fit_config(self, **kw):
        from .fit import FitConfig

        return FitConfig(iterations=self.iterations, coarse=self.coarse, **kw)


EFFORTS = {3: Level(600, (600,)), 4: Level(2000, (600,)), 5: Level(6000, (600,))}
LAMBDA_LOW, LAMBDA_HIGH = 2e-2, 1e-4  # λ at quality 0 and 100 (loss: MSE on [0, 1] pixels + λ·bpp)
MAX_PIXELS = 1 << 21  # the fit holds the whole image and its gradients (~3.3 KB per pixel): 2 Mpx, ~7 GB


def lmbda(quality: float) -> float:
    return LAMBDA_LOW * (LAMBDA_HIGH / LAMBDA_LOW) ** (quality / 100.0)


def encode(rgb: np.ndarray, quality: float = 50.0, effort: int = 3, *, seconds: float | None = None,
           target_bpp: float | None = None, progress=None, device: str = "cpu"):
    """Fit and code ``rgb`` (h, w, 3 uint8) -> codec.Encoded (the OFIT payload and its figures).
    ``progress(fit.Progress)`` is called every few iterations; an exception from it (or Ctrl-C)
    stops the encode with nothing written.  ``device``: the torch device the fit runs on (the
    coding after it runs on the CPU, so the file does not depend on it beyond the fit's floats)."""
    if effort not in EFFORTS:
        raise ValueError(f"overfitted effort must be one of {sorted(EFFORTS)}, got {effort}")
    h, w = rgb.shape[:2]
    if h * w > MAX_PIXELS:
        raise ValueError(f"overfitted coding (effort >= 3) is limited to {MAX_PIXELS} pixels; this image has "
                         f"{h * w}: use effort 0-2")
    from . import codec

    fc = EFFORTS[effort].fit_config(lmbda=lmbda(quality), seconds=seconds, target_bpp=target_bpp, device=device)
    return codec.encode(rgb, fc, callback=progress)


def decode(payload: bytes, height: int, width: int) -> np.ndarray:
    from . import decoder  # numpy only: decoding never imports torch

    return decoder.decode(payload, height, width)
