"""The encoder's starting point for the networks of an overfitted fit: an ARM and synthesis fitted
once to many training photos (hific_codec/train/overfit_start.py).  Only the encoder reads it; the
file a fit writes carries its own networks, so decoding never needs it.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import torch

FILE = Path(__file__).resolve().parent.parent / "weights" / "overfit-start.safetensors"
# ARM and synthesis fitted jointly to 12 random 256x256 crops of the training photos (each crop its
# own latents), 1,500 iterations of the per-image schedule at quality 50's λ: 70 min on one CPU
# thread.  On three Kodak crops at effort 3 (600 iterations) it saves 7-27% of the bits at equal
# PSNR against a random start (docs/experiments/overfitted-coding.md).
SHA256 = "824ffb28162dd9921bac040dc39204eb4dca262e0ff3c7226eead4c791beccdc"


@lru_cache(maxsize=4)
def _tensors(path: Path, sha256: str) -> tuple[dict, dict]:
    from safetensors import safe_open
    from safetensors.torch import load

    from ..zoo import _checked

    data = _checked("overfit-start", path, sha256)
    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    return load(data), meta


def networks(cfg) -> dict[str, torch.Tensor] | None:
    """The starting ARM and synthesis weights for ``cfg`` (OverfitConfig), or None where none
    ships for that shape (a fit then starts from PyTorch's default draw)."""
    tensors, meta = _tensors(FILE, SHA256)
    if json.loads(meta.get("config", "{}")) != cfg.to_dict():
        return None
    return {k: v.clone() for k, v in tensors.items()}
