"""The hyperprior codec's fidelity decoder in numpy: a `.nic` file to pixels without importing torch.

    ẑ ─(factorized tables)─► exact h_s ─► [exact context passes] ─► ŷ ─×inv_gain(q)─► g_s ─► x̂
       └───────────── integers, identical on every machine ─────────┘    └─ float32 ─┘

The entropy decoding is the encoder's own code (the fixed-point networks of models/int_*.py run
in numpy for both), so the latents are exact.  g_s runs here in float32 on numpy's BLAS: its
pixels agree with the torch synthesis (codec.synthesise) to float rounding, within the format's
cross-machine tolerance (one level, a few values in 10^5).  A decode then costs numpy's import
and the weights it reads, not torch's import (about 2 s and 600 MB on 2 cores).

Realism decoding and plugins still run in torch (codec.py); this module serves the fidelity
decoder, the default.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from bitstream import entropy
from bitstream.container import FormatError
from bitstream.entropy import TableSet
from bitstream.tiles import TileGrid, padded_size

from . import zoo
from .models.context_config import ChannelContextConfig, ContextConfig
from .models.int_channel_context import IntChannelContext
from .models.int_context import IntContext
from .models.int_hyper_synthesis import IntHyperSynthesis
from .models.npconv import conv2d, pixel_shuffle, threads_by_band

LATENT_TILE = 64  # g_s tile, in latents (1024 px): the torch decoder's grid, so memory stays bounded
LATENT_HALO = 4  # overlap in latents; g_s's receptive field is ~2 latents
HS_HALO = 3  # ẑ rows/cols around a coding tile; h_s's receptive field is under 2
_PEDESTAL = np.float32(2.0**-36)  # models/gdn.py's reparametrisation of β and γ
BETA_MIN = 1e-6  # models/gdn.py


def tile_boxes(H: int, W: int, tile: int | tuple[int, int], halo: int = 0):
    """Raster-order tiles (square, or (th, tw)) of an H x W grid: yields ((i, j, h, w) core,
    (i0, j0, i1, j1) core plus halo, clipped)."""
    th, tw = (tile, tile) if isinstance(tile, int) else tile
    for i in range(0, H, th):
        for j in range(0, W, tw):
            yield (i, j, min(th, H - i), min(tw, W - j)), (
                max(0, i - halo), max(0, j - halo), min(H, i + th + halo), min(W, j + tw + halo))


def latent_shapes(N: int, M: int, h: int, w: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(ẑ, ŷ) shapes of an h x w image: the image padded to multiples of 64 px, ŷ at 1/16, ẑ at 1/64."""
    hp, wp = padded_size(h, w)
    return (1, N, hp // 64, wp // 64), (1, M, hp // 16, wp // 16)


def anchor_mask(h: int, w: int) -> np.ndarray:
    """(1, 1, h, w) bool: the checkerboard's anchors ((i + j) even), coded first."""
    return ((np.arange(h)[:, None] + np.arange(w)[None, :]) % 2 == 0)[None, None]


# -- the entropy decoding, shared with the encoder (codec.py) ---------------------------------------

def latent_tiles(H: int, W: int, tiles: TileGrid | None):
    """Coding tiles of an (H, W) latent grid, each with its window of ẑ (a halo, clipped)."""
    th, tw = (H, W) if tiles is None else (tiles.tile_h // 16, tiles.tile_w // 16)
    # Walk the grid in ẑ units (tile sides are multiples of 4 latents): the halo box is the window.
    for (zi, zj, zh, zw), zwin in tile_boxes(H // 4, W // 4, (th // 4, tw // 4), HS_HALO):
        yield (4 * zi, 4 * zj, 4 * zh, 4 * zw), zwin


def tile_acc(int_hs: IntHyperSynthesis, z_hat: np.ndarray, core, zwin) -> np.ndarray:
    """Exact h_s accumulators ψ of one coding tile, from its ẑ window alone."""
    i, j, th, tw = core
    zi0, zj0, zi1, zj1 = zwin
    acc = int_hs.accumulators(z_hat[:, :, zi0:zi1, zj0:zj1])
    a, b = i - 4 * zi0, j - 4 * zj0
    return acc[:, :, a : a + th, b : b + tw]


def passes(int_hs: IntHyperSynthesis, int_ctx, acc: np.ndarray, take) -> np.ndarray:
    """Run one tile's coding passes in order -> ŷ (1, M, h, w).  ``take(channels, positions,
    scale indexes, means)`` returns the decoded values of those latents (zero elsewhere): the
    encoder rounds y and records the symbols, the decoder reads them, so both share this schedule.
    One pass without a context model; two with the checkerboard; 2 per slice with channel slices."""
    if int_ctx is None:
        idx, mean = int_hs.params(acc)
        return take(np.arange(idx.shape[1]), np.ones(idx.shape, dtype=bool), idx, mean)
    return int_ctx.passes(acc, int_hs.params, anchor_mask(acc.shape[2], acc.shape[3]), take)


def channel_index(shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(np.arange(shape[1]).reshape(1, -1, 1, 1), shape)


def decode_latents(int_hs, int_ctx, z_tables: TableSet, z_shape: tuple[int, ...], y_shape: tuple[int, ...],
                   z_stream: bytes, y_streams: tuple[bytes, ...], tiles: TileGrid | None, offsets=None):
    """ŷ (1, M, H, W) float32 (exact: 8 fractional bits, |v| < 2**15), as the encoder had it.
    ``offsets(symbols, indexes)``, if given, is evaluated for every latent as it is decoded and
    returned as a second array (the realism decoder's bin-mean offsets δ)."""
    z_hat = entropy.decode(z_stream, channel_index(z_shape), z_tables)
    y_hat = np.empty(y_shape, dtype=np.float32)
    delta = np.zeros(y_shape, dtype=np.float32) if offsets else None  # exact: multiples of 2**-12, |δ| < ½
    for stream, (core, zwin) in zip(y_streams, latent_tiles(y_shape[2], y_shape[3], tiles), strict=True):
        i, j, th, tw = core
        dec = entropy.StreamDecoder(stream)
        d = np.zeros((1, y_shape[1], th, tw)) if offsets else None

        def take(channels, sel, idx, mean, dec=dec, d=d):
            out = np.zeros(idx.shape)
            sym = dec.decode(idx[sel], entropy.gaussian_tables())
            out[sel] = sym + mean[sel]
            if d is not None:  # each latent is taken once, so its slot is still zero
                part = np.zeros(idx.shape)
                part[sel] = offsets(sym, idx[sel])
                d[:, channels] += part
            return out

        y_hat[:, :, i : i + th, j : j + tw] = passes(int_hs, int_ctx, tile_acc(int_hs, z_hat, core, zwin), take)
        if d is not None:
            delta[:, :, i : i + th, j : j + tw] = d
    return (y_hat, delta) if offsets else y_hat


# -- the synthesis -----------------------------------------------------------------------------------

def _subpixel(w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A 5x5 stride-2 transposed convolution (w (cin, cout, 5, 5)) as a 3x3 convolution to 4 cout
    channels before a 2x pixel shuffle (models/layers.subpixel_weights: taps moved, never summed)."""
    cin, cout = w.shape[:2]
    k = np.zeros((cout, 2, 2, cin, 3, 3), dtype=w.dtype)
    for a in range(2):
        for c in range(2):
            for d in range(3):
                for e in range(3):
                    kh, kw = a + 4 - 2 * d, c + 4 - 2 * e
                    if kh <= 4 and kw <= 4:
                        k[:, a, c, :, d, e] = w[:, :, kh, kw].T
    return k.reshape(4 * cout, cin, 3, 3), np.repeat(b, 4)


def nonneg(p: np.ndarray, minimum: float) -> np.ndarray:
    """models/gdn.py's map of a stored GDN parameter to a non-negative β or γ."""
    p = np.maximum(p, np.float32((minimum + float(_PEDESTAL)) ** 0.5))
    return p * p - _PEDESTAL


class Synthesis:
    """g_s (four stride-2 transposed 5x5 convolutions with inverse GDN between them) in float32,
    each transposed convolution in its sub-pixel form."""

    def __init__(self, state: dict[str, np.ndarray]):
        f = {k: np.asarray(v, dtype=np.float32) for k, v in state.items()}
        self.convs = [_subpixel(f[f"{n}.weight"], f[f"{n}.bias"]) for n in ("0", "2", "4", "6")]
        self.gdn = [(nonneg(f[f"{n}.gamma"], 0.0), nonneg(f[f"{n}.beta"], BETA_MIN)) for n in ("1", "3", "5")]

    def __call__(self, y: np.ndarray) -> np.ndarray:
        """(1, M, h, w) float32 -> (1, 3, 16 h, 16 w)."""
        x = y
        for k, (w, b) in enumerate(self.convs):
            x = pixel_shuffle(conv2d(x, w, b, 1, 1), 2)
            if k < len(self.gdn):
                gamma, beta = self.gdn[k]
                norm = conv2d(x * x, gamma[:, :, None, None], beta)
                x = np.sqrt(norm, out=norm) * x  # inverse GDN
        return x


def gains(table: np.ndarray, levels: int, t_min: float, quality) -> np.ndarray:
    """Gains from a log table (levels, M) at a quality (-> (1, M, 1, 1)) or at every latent of a
    quality map (h, w) (-> (1, M, h, w)): the rate level t, interpolated as the torch model does."""
    if np.ndim(quality) == 0:  # the torch model's t: computed in float64, held in float32
        t = np.float32(t_min + float(quality) / 100.0 * (levels - 1 - t_min))
    else:  # a quality map: float32 throughout, as the torch model's gains()
        q = np.asarray(quality, dtype=np.float32)
        t = np.float32(t_min) + q / np.float32(100.0) * np.float32(levels - 1 - t_min)
    t = np.clip(t, np.float32(t_min), np.float32(levels - 1))
    i = np.clip(np.floor(t), 0, levels - 2).astype(np.int64)
    f = (t - i.astype(np.float32))[..., None]
    g = np.exp(table[i] * (np.float32(1) - f) + table[i + 1] * f)  # (..., M)
    return g.reshape(1, 1, 1, -1).transpose(0, 3, 1, 2) if g.ndim == 1 else np.moveaxis(g, -1, 0)[None]


# -- a model, loaded without torch -------------------------------------------------------------------

@dataclass
class Decoder:
    entry: zoo.ZooEntry
    int_hs: IntHyperSynthesis
    int_ctx: object | None
    z_tables: TableSet
    g_s: Synthesis
    log_inv_gain: np.ndarray  # (levels, M) float32
    N: int
    M: int
    levels: int
    t_min: float

    def shapes(self, h: int, w: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return latent_shapes(self.N, self.M, h, w)

    def gains(self, table: np.ndarray, quality) -> np.ndarray:
        return gains(table, self.levels, self.t_min, quality)

    def inv_gain(self, quality) -> np.ndarray:
        """The decoder's gains (its own table, Cui et al.'s inverse gain units)."""
        return self.gains(self.log_inv_gain, quality)


def supports(entry: zoo.ZooEntry) -> bool:
    """Whether this decoder renders the model's files: its g_s is evaluated in the sub-pixel form
    (model 4 on); older forms decode with the torch decoder."""
    return entry.config.get("gs_form", "transposed") == "subpixel"


@lru_cache(maxsize=2)
def tensors(name: str, sha256: str) -> dict[str, np.ndarray]:
    """A shipped model's weights as numpy arrays (SHA-256 checked), read once for the encoder and
    the decoder; keyed by the hash too, so weights exported under the same name are read anew."""
    from safetensors.numpy import load as load_bytes

    return load_bytes(zoo.verified_bytes(zoo.get(name)))


def key(entry: zoo.ZooEntry) -> tuple[str, str, str | None]:
    """What a loaded model is cached by: the name and the weights' hashes."""
    return entry.name, entry.sha256, (entry.context or {}).get("sha256")


def load(model_id: int) -> Decoder:
    """The fidelity decoder of the shipped model with this id (weights checked by SHA-256)."""
    entry = zoo.by_id(model_id)
    if entry is None:
        raise FormatError(f"no shipped model has id {model_id}")
    if not supports(entry):
        raise FormatError(f"model {entry.name!r} decodes with the torch decoder only")
    return _load(*key(entry))


@lru_cache(maxsize=4)
def _load(name: str, sha256: str, _context_sha256: str | None) -> Decoder:
    from safetensors.numpy import load as load_bytes

    entry = zoo.get(name)
    cfg = entry.config
    t = tensors(name, sha256)

    def part(prefix: str, ts: dict) -> dict:
        return {k[len(prefix):]: v for k, v in ts.items() if k.startswith(prefix)}

    tables = TableSet.from_padded(t["z_tables.offsets"], t["z_tables.lengths"], t["z_tables.pmf"])
    int_ctx = None
    if entry.context:
        c = entry.context
        ct = load_bytes(zoo.context_bytes(entry))
        ct = {k: v.astype(np.float32) for k, v in ct.items()}  # as the torch model holds them
        kind = c.get("kind", "checkerboard")
        if kind == "checkerboard":
            ContextConfig(**c["config"])  # validated as the torch loader does
            int_ctx = IntContext(ct)
        elif kind == "channel":
            int_ctx = IntChannelContext(ct, ChannelContextConfig.from_dict(c["config"]))
        else:
            raise FormatError(f"context model of {entry.name!r} is not one this version knows: {kind!r}")
    hs = {k: v.astype(np.float32) for k, v in part("h_s.", t).items()}
    return Decoder(entry, IntHyperSynthesis(hs), int_ctx, tables, Synthesis(part("g_s.", t)),
                   t["log_inv_gain"].astype(np.float32), cfg["N"], cfg["M"], cfg["levels"],
                   float(cfg.get("t_min", 0.0)))


def synthesise(dec: Decoder, y_hat: np.ndarray, quality: float, h: int, w: int,
               qmap: np.ndarray | None = None) -> np.ndarray:
    """ŷ (1, M, H, W) -> uint8 pixels (h, w, 3), g_s on the torch decoder's tile grid."""
    inv = dec.inv_gain(quality if qmap is None else qmap).astype(np.float32)
    y = np.asarray(y_hat, dtype=np.float32)
    out = np.empty((h, w, 3), dtype=np.uint8)
    with threads_by_band():
        _tiles(dec, y, inv, qmap, h, w, out)
    return out


def _tiles(dec: Decoder, y: np.ndarray, inv: np.ndarray, qmap, h: int, w: int, out: np.ndarray) -> None:
    _, _, H, W = y.shape
    for (i, j, th, tw), (i0, j0, i1, j1) in tile_boxes(H, W, LATENT_TILE, LATENT_HALO):
        if i * 16 >= h or j * 16 >= w:
            continue  # a tile of padding only
        g = inv if qmap is None else inv[:, :, i0:i1, j0:j1]
        x = dec.g_s(y[:, :, i0:i1, j0:j1] * g)
        a, b = (i - i0) * 16, (j - j0) * 16
        ph, pw = min(th * 16, h - i * 16), min(tw * 16, w - j * 16)
        px = np.clip(np.round(x[0, :, a : a + ph, b : b + pw] * np.float32(255)), 0, 255)
        out[i * 16 : i * 16 + ph, j * 16 : j * 16 + pw] = px.transpose(1, 2, 0).astype(np.uint8)


def decode(model_id: int, h: int, w: int, quality: float, z_stream: bytes, y_streams: tuple[bytes, ...],
           tiles: TileGrid | None, qmap: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A hyperprior file's streams -> (ŷ (1, M, H, W) float32, its fidelity decoder's pixels
    (h, w, 3) uint8)."""
    dec = load(model_id)
    z_shape, y_shape = dec.shapes(h, w)
    y_hat = decode_latents(dec.int_hs, dec.int_ctx, dec.z_tables, z_shape, y_shape, z_stream, y_streams, tiles)
    return y_hat, synthesise(dec, y_hat, quality, h, w, qmap)
