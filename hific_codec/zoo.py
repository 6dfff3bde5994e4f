"""The table of shipped weights: stable name -> model id, architecture config, file, SHA-256, provenance.

The table lives in ``weights/manifest.json`` (written by ``python -m hific_codec.train.export``);
this module validates and loads it.  Weights are safetensors only (no pickle anywhere), and the
file's SHA-256 is checked against the manifest before any tensor is used.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bitstream.container import FormatError

WEIGHTS_DIR = Path(__file__).parent / "weights"
MANIFEST = WEIGHTS_DIR / "manifest.json"
DEFAULT_MODEL = "hyperprior-vr"
LATENTS = ("centre", "bin-mean")


@dataclass(frozen=True)
class ZooEntry:
    name: str  # stable key, e.g. "hyperprior-vr"
    model_id: int  # written into every file's header
    family: str  # architecture family, selects the class
    config: dict  # constructor arguments of the family's config dataclass
    file: str  # path relative to weights/
    sha256: str
    train_hours: float  # wall-clock hours of training behind this file (2 CPU cores, unless gpu_hours)
    train_steps: int
    notes: str = ""
    base: str = ""  # realism family: SHA-256 of the fidelity weights whose latents it decodes
    train_config: dict | None = None  # plugin families: the training settings (losses, crops, ...)
    # hyperprior family, model 5 on: a checkerboard context model trained over this entry's
    # (frozen) weights file, shipped as its own small file: {"file", "sha256", "config",
    # "train_hours", "train_steps", "train_config"}
    context: dict | None = None
    gpu_hours: float = 0.0  # of train_hours, those on a GPU (model 7 on: an H100)
    # realism family: what the generator reads, "centre" (ŷ, the bin centres) or "bin-mean"
    # (ŷ + α δ, the entropy model's conditional mean within each bin; hific_codec/bin_mean.py)
    latents: str = "centre"

    def __post_init__(self):
        if self.latents not in LATENTS:
            raise FormatError(f"zoo entry {self.name!r}: latents must be one of {', '.join(LATENTS)}, "
                              f"got {self.latents!r}")

    @property
    def total_train_hours(self) -> float:
        """Training behind this entry's decoder: its weights file's hours plus its context model's."""
        return self.train_hours + (self.context["train_hours"] if self.context else 0.0)

    @property
    def path(self) -> Path:
        return WEIGHTS_DIR / self.file

    @property
    def short_hash(self) -> bytes:
        return bytes.fromhex(self.sha256[:8])


@lru_cache(maxsize=1)
def entries() -> dict[str, ZooEntry]:
    if not MANIFEST.exists():
        return {}
    raw = json.loads(MANIFEST.read_text())
    return {name: ZooEntry(name=name, **e) for name, e in raw.items()}


def by_id(model_id: int) -> ZooEntry | None:
    """The codec model with this id (the id in a file's header), or None when it does not ship."""
    return next((e for e in entries().values() if e.model_id == model_id and e.family == "hyperprior"), None)


def get(name: str | None = None, model_id: int | None = None) -> ZooEntry:
    table = entries()
    if model_id is not None:
        e = by_id(model_id)
        if e is None:
            raise FormatError(f"file needs model id {model_id}, which this installation does not have")
        return e
    name = name or DEFAULT_MODEL
    if name not in table:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(table) or 'none'}")
    return table[name]


def float_tensors(entry: ZooEntry) -> dict:
    """The entry's tensors (shipped fp16) as float32, after the SHA-256 check."""
    return _floats(verified_bytes(entry))


def realism_for(entry: ZooEntry) -> ZooEntry | None:
    """The realism generator trained on this fidelity model's latents, if one ships."""
    for e in entries().values():
        if e.family == "realism" and e.base == entry.sha256:
            return e
    return None


def context_tensors(entry: ZooEntry) -> dict:
    """The entry's context-model tensors (shipped fp16) as float32, after the SHA-256 check."""
    return _floats(context_bytes(entry))


def context_bytes(entry: ZooEntry) -> bytes:
    """The entry's context-model weights file, SHA-256 checked."""
    return _checked(entry.name, WEIGHTS_DIR / entry.context["file"], entry.context["sha256"])


def _floats(data: bytes) -> dict:
    from safetensors.torch import load

    return {k: v.float() for k, v in load(data).items()}


def verified_bytes(entry: ZooEntry) -> bytes:
    """Read the weights file and check its SHA-256 against the manifest."""
    return _checked(entry.name, entry.path, entry.sha256)


def _checked(name: str, path: Path, sha256: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise FormatError(f"weights for {name!r} are missing ({path}): {e.strerror}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise FormatError(f"weights file {path.name} is damaged or replaced (sha256 {digest[:12]}..., "
                          f"manifest says {sha256[:12]}...)")
    return data
