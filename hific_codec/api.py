"""Public Python API: ``encode(array) -> bytes`` and ``decode(bytes) -> array``."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import bitstream
from bitstream import FormatError, Header, NicFile

from . import image_io

DEFAULT_QUALITY = 50.0  # on the 0..100 scale: 0.61 bpp mean on Kodak with the shipped model


def _model(name: str | None = None, model_id: int | None = None):
    from . import codec  # lazy: importing hific_codec must not pull in torch

    return codec, codec.load(name, model_id)


def encode(
    image: np.ndarray,
    quality: float | None = None,
    *,
    bpp: float | None = None,
    model: str | None = None,
    icc: bytes | None = None,
    exif: bytes | None = None,
) -> bytes:
    """Compress an image array to `.nic` bytes.

    ``quality`` (0..100, continuous, higher is better; default 50) or ``bpp`` (target bits per
    pixel: the highest quality whose file does not exceed it, found by bisection).
    """
    if quality is not None and bpp is not None:
        raise ValueError("give quality or bpp, not both")
    rgb, channels, alpha = image_io.to_rgb8(image)
    codec, m = _model(model)
    analysis = codec.analyse(m, rgb)
    alpha_chunk = image_io.pack_alpha(alpha) if alpha is not None else None

    def build(q: float) -> bytes:
        q = round(q, 2)  # the header stores hundredths; code exactly what is stored
        z, y = codec.code(m, analysis, q)
        header = Header(rgb.shape[1], rgb.shape[0], channels, m.entry.model_id, m.entry.short_hash, q)
        return bitstream.write(NicFile(header, z, y, icc=icc, exif=exif, alpha=alpha_chunk))

    if bpp is None:
        q = DEFAULT_QUALITY if quality is None else float(quality)
        if not 0 <= q <= 100:
            raise ValueError(f"quality must be within 0..100, got {q}")
        return build(q)
    return _search_bpp(build, bpp, rgb.shape[0] * rgb.shape[1])


def _search_bpp(build, target: float, pixels: int, iters: int = 12) -> bytes:
    if target <= 0:
        raise ValueError(f"target bpp must be positive, got {target}")
    best = build(0.0)  # the smallest file we can make; returned if even it exceeds the target
    lo, hi = 0.0, 100.0
    top = build(hi)
    if len(top) * 8 / pixels <= target:
        return top
    for _ in range(iters):
        mid = (lo + hi) / 2
        data = build(mid)
        if len(data) * 8 / pixels <= target:
            lo, best = mid, data
        else:
            hi = mid
        if hi - lo < 0.02:
            break
    return best


@dataclass(frozen=True)
class Info:
    version: tuple[int, int]
    width: int
    height: int
    channels: int
    quality: float
    model: str
    weights_hash: str
    bytes: int
    bpp: float
    chunks: list[tuple[str, int]]


def info(data: bytes) -> Info:
    """Describe a `.nic` file without decoding it (no torch needed)."""
    version, chunks = bitstream.unpack_chunks(data)
    f = bitstream.read(data)
    h = f.header
    from . import zoo

    try:
        name = zoo.get(model_id=h.model_id).name
    except FormatError:
        name = f"unknown (id {h.model_id})"
    return Info(version, h.width, h.height, h.channels, h.quality, name, h.weights_hash.hex(), len(data),
                len(data) * 8 / (h.width * h.height), [(c.type, len(c.payload)) for c in chunks])


def decode(data: bytes, *, verify: bool = True) -> np.ndarray:
    """Decompress `.nic` bytes to an HxWx3 (RGB), HxW (grey) or HxWx4 (RGBA) uint8 array."""
    f = bitstream.read(bytes(data), verify=verify)
    h = f.header
    codec, m = _model(model_id=h.model_id)
    if h.weights_hash != m.entry.short_hash:
        raise FormatError(
            f"file was written with weights {h.weights_hash.hex()}, but model {m.entry.name!r} here has "
            f"{m.entry.short_hash.hex()}: install the hific-codec version that wrote it"
        )
    y_hat = codec.decode_latents(m, h.height, h.width, f.z_stream, f.y_stream)
    rgb = codec.synthesise(m, y_hat, h.quality, h.height, h.width)
    alpha = image_io.unpack_alpha(f.alpha, h.height, h.width) if f.alpha is not None else None
    return image_io.from_rgb8(rgb, h.channels, alpha)
