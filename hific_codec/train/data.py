"""Training crops from ``shared/data/train``, held in memory (the set is small: ~250 photos).

ImageNet photos are JPEGs: they are downsampled by 2 first, which removes most block artefacts.
The clean Wikipedia photos are also kept at 0.7x and 0.5x to widen the range of scales seen.
A deterministic held-out slice (every 12th file) is never trained on and is used for validation.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}


@dataclass(frozen=True)
class DataConfig:
    root: str = "../shared/data/train"
    crop: int = 128
    holdout_every: int = 12  # every n-th file (sorted) goes to validation
    wiki_scales: tuple[float, ...] = (1.0, 0.7, 0.5)


def _list(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def _load(path: Path, scales: tuple[float, ...]) -> list[np.ndarray]:
    im = Image.open(path).convert("RGB")
    if path.suffix.lower() in {".jpg", ".jpeg"}:
        im = im.reduce(2)
    out = []
    for s in scales:
        w, h = round(im.width * s), round(im.height * s)
        out.append(np.asarray(im if s == 1.0 else im.resize((w, h), Image.Resampling.LANCZOS)))
    return out


def load_split(cfg: DataConfig) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Return (train images, validation images) as HxWx3 uint8 arrays."""
    files = _list(Path(cfg.root))
    if not files:
        raise FileNotFoundError(f"no training images under {cfg.root}")
    train, val = [], []
    for i, f in enumerate(files):
        is_val = i % cfg.holdout_every == 0
        scales = (1.0,) if is_val or f.suffix.lower() in {".jpg", ".jpeg"} else cfg.wiki_scales
        # The crop size filters training images only: the held-out set must not change with it.
        imgs = [a for a in _load(f, scales) if is_val or min(a.shape[:2]) >= cfg.crop]
        (val if is_val else train).extend(imgs[:1] if is_val else imgs)
    return train, val


class CropSampler:
    """Random crops with flips and 90° rotations; area-weighted so big photos are seen more."""

    def __init__(self, images: list[np.ndarray], crop: int, seed: int = 0):
        self.images = images
        self.crop = crop
        area = np.array([a.shape[0] * a.shape[1] for a in images], dtype=np.float64)
        self.p = area / area.sum()
        self.rng = np.random.default_rng(seed)

    def batch(self, n: int) -> torch.Tensor:
        c = self.crop
        out = np.empty((n, c, c, 3), dtype=np.uint8)
        for k in range(n):
            a = self.images[self.rng.choice(len(self.images), p=self.p)]
            i = self.rng.integers(0, a.shape[0] - c + 1)
            j = self.rng.integers(0, a.shape[1] - c + 1)
            patch = a[i : i + c, j : j + c]
            if self.rng.random() < 0.5:
                patch = patch[:, ::-1]
            patch = np.rot90(patch, self.rng.integers(0, 4))
            out[k] = patch
        return torch.from_numpy(out).permute(0, 3, 1, 2).float().div_(255.0)


def center_crops(images: list[np.ndarray], size: int = 256) -> torch.Tensor:
    crops = []
    for a in images:
        h, w = a.shape[:2]
        s = min(size, h, w) // 64 * 64
        i, j = (h - s) // 2, (w - s) // 2
        crops.append(torch.from_numpy(np.ascontiguousarray(a[i : i + s, j : j + s])).permute(2, 0, 1).float() / 255)
    return crops
