"""The hyperprior codec's encoder at effort 0 in numpy: pixels to a file's streams without torch.

    x ─g_a─► y ─×gain(q)─► y_g ─h_a─► z ─round─► ẑ ─(factorized tables)─► z stream
                            └─ round(y_g - mean) with the exact h_s / context passes ─► y streams

g_a and h_a run in float32 (models/npconv.py, one-thread GEMMs over bands: the same result for any
thread count); everything after the rounding of ẑ is the decoder's own exact code
(np_decoder.passes).  codec.py's torch pipeline calls `analyse` and `code` too, so effort 1-2
(which refine the latents in torch) start from the same analysis and code the same way.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from bitstream import entropy
from bitstream.entropy import TableSet
from bitstream.tiles import TileGrid, padded_size

from . import np_decoder, zoo
from .models.npconv import conv2d, threads_by_band

ESCAPE_MAX = (1 << (entropy.ESCAPE_BITS - 1)) - 1
CODING_TILE = 1024  # px; images larger than this (padded) are entropy-coded in tiles (format 1.1)


class Analysis:
    """g_a's output for one image (before the gain), kept so that a rate search re-runs only the
    cheap stages."""

    def __init__(self, y0: np.ndarray, height: int, width: int):
        self.y0, self.height, self.width = y0, height, width


def _gdn_params(f: dict, name: str) -> tuple[np.ndarray, np.ndarray]:
    """GDN's γ as a 1x1 kernel and β, through models/gdn.py's reparametrisation."""
    gamma = np_decoder.nonneg(f[f"{name}.gamma"], 0.0)[:, :, None, None]
    return gamma, np_decoder.nonneg(f[f"{name}.beta"], np_decoder.BETA_MIN)


class Transforms:
    """g_a (four 5x5 stride-2 convolutions with GDN between them) and h_a (3x3, then two 5x5
    stride-2 convolutions, ReLU between) in float32, from the network's parameters."""

    def __init__(self, state: dict[str, np.ndarray]):
        f = {k: np.asarray(v, dtype=np.float32) for k, v in state.items()}
        self.g_a = [(f[f"g_a.{n}.weight"], f[f"g_a.{n}.bias"]) for n in (0, 2, 4, 6)]
        self.gdn = [_gdn_params(f, f"g_a.{n}") for n in (1, 3, 5)]
        self.h_a = [(f[f"h_a.{n}.weight"], f[f"h_a.{n}.bias"]) for n in (0, 2, 4)]
        self.log_gain = f["log_gain"]

    def analysis(self, x: np.ndarray) -> np.ndarray:
        for k, (w, b) in enumerate(self.g_a):
            x = conv2d(x, w, b, 2, 2)
            if k < len(self.gdn):
                gamma, beta = self.gdn[k]
                norm = conv2d(x * x, gamma, beta)
                x = x / np.sqrt(norm, out=norm)  # GDN
        return x

    def hyper_analysis(self, y: np.ndarray) -> np.ndarray:
        for k, (w, b) in enumerate(self.h_a):
            y = conv2d(y, w, b, 1 if k == 0 else 2, w.shape[-1] // 2)
            if k < len(self.h_a) - 1:
                y = np.maximum(y, 0, out=y)
        return y


@dataclass
class Encoder:
    entry: zoo.ZooEntry
    transforms: Transforms
    dec: np_decoder.Decoder  # the exact networks and tables, shared with decoding

    @property
    def format_version(self) -> tuple[int, int]:
        """The lowest container version whose decoders render this model's files."""
        from .models.context_config import format_version

        c = self.entry.context
        kind = c.get("kind", "checkerboard") if c else None
        return format_version(self.entry.config.get("gs_form", "transposed"), kind)


def load(name: str | None = None) -> Encoder:
    """The effort-0 encoder of a shipped model (the default one without a name)."""
    entry = zoo.get(name)
    if entry.family != "hyperprior":
        raise ValueError(f"{entry.name!r} is a {entry.family} decoder, not a codec model")
    return _load(*np_decoder.key(entry))


@lru_cache(maxsize=4)
def _load(name: str, sha256: str, _context_sha256: str | None) -> Encoder:
    entry = zoo.get(name)
    t = np_decoder.tensors(name, sha256)
    return Encoder(entry, Transforms({k: v for k, v in t.items() if k.startswith(("g_a.", "h_a.", "log_gain"))}),
                   np_decoder.load(entry.model_id))


def supports(entry: zoo.ZooEntry) -> bool:
    return np_decoder.supports(entry)


def analyse(tr: Transforms, rgb: np.ndarray) -> Analysis:
    """g_a on the image padded to a multiple of 64 (edge replication), in 1024-px tiles with a 64-px
    halo: float pixels exist one tile at a time."""
    h, w = rgb.shape[:2]
    hp, wp = padded_size(h, w)
    padded = np.pad(rgb, ((0, hp - h), (0, wp - w), (0, 0)), mode="edge")
    M = tr.g_a[-1][0].shape[0]
    y0 = np.empty((1, M, hp // 16, wp // 16), dtype=np.float32)
    tile, halo = np_decoder.LATENT_TILE * 16, np_decoder.LATENT_HALO * 16
    with threads_by_band():
        for (i, j, th, tw), (i0, j0, i1, j1) in np_decoder.tile_boxes(hp, wp, tile, halo):
            x = padded[i0:i1, j0:j1].transpose(2, 0, 1)[None].astype(np.float32) / np.float32(255.0)
            y = tr.analysis(x)
            a, b = (i - i0) // 16, (j - j0) // 16
            y0[:, :, i // 16 : (i + th) // 16, j // 16 : (j + tw) // 16] = y[:, :, a : a + th // 16, b : b + tw // 16]
    return Analysis(y0, h, w)


def coding_tiles(h: int, w: int, tile_px: int = CODING_TILE) -> TileGrid | None:
    """The tile grid an encoder writes: none (one tile, a 1.0 file) when the padded image fits one."""
    hp, wp = padded_size(h, w)
    return None if hp <= tile_px and wp <= tile_px else TileGrid(tile_px, tile_px)


def _symbols(y: np.ndarray, mean: np.ndarray) -> np.ndarray:
    return np.clip(np.round(y - mean), -ESCAPE_MAX, ESCAPE_MAX).astype(np.int64)


def code(tr: Transforms, int_hs, int_ctx, z_tables: TableSet, a: Analysis, gain: np.ndarray,
         tiles: TileGrid | None = None) -> tuple[bytes, tuple[bytes, ...]]:
    """Entropy-code an analysed image with ``gain`` (1, M, 1, 1), or (1, M, h, w) for a quality
    map: returns (z stream, one y stream per tile)."""
    g = gain.astype(np.float32)
    with threads_by_band():
        z = tr.hyper_analysis(a.y0 * g)
    z_hat = np.clip(np.round(z), -ESCAPE_MAX, ESCAPE_MAX).astype(np.int64)
    z_stream = entropy.encode(z_hat, np_decoder.channel_index(z_hat.shape), z_tables)
    y_streams = []
    _, _, H, W = a.y0.shape
    for core, zwin in np_decoder.latent_tiles(H, W, tiles):
        i, j, th, tw = core
        gt = g if g.shape[2] == 1 else g[:, :, i : i + th, j : j + tw]
        y = (a.y0[:, :, i : i + th, j : j + tw] * gt).astype(np.float64)
        parts = []

        def take(channels, sel, idx, mean, y=y, parts=parts):
            sym = _symbols(y[:, channels], mean)
            parts.append((sym[sel], idx[sel]))
            return np.where(sel, sym + mean, 0.0)

        np_decoder.passes(int_hs, int_ctx, np_decoder.tile_acc(int_hs, z_hat, core, zwin), take)
        y_streams.append(entropy.encode_parts(parts, entropy.gaussian_tables()))
    return z_stream, tuple(y_streams)


def encode_streams(enc: Encoder, a: Analysis, quality: float, tiles: TileGrid | None,
                   qmap: np.ndarray | None = None) -> tuple[bytes, tuple[bytes, ...]]:
    """The streams of an analysed image at ``quality`` or at the qualities of ``qmap``."""
    gain = enc.dec.gains(enc.transforms.log_gain, quality if qmap is None else qmap)
    return code(enc.transforms, enc.dec.int_hs, enc.dec.int_ctx, enc.dec.z_tables, a, gain, tiles)
