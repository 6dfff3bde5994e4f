"""The coding pipeline: pixels <-> (z stream, y stream) with a loaded model.

Encode: pad to a multiple of 64 (edge replication) -> g_a (tiled) -> ×gain(t) -> h_a -> ẑ = round(z)
-> code ẑ with the factorized tables -> exact h_s(ẑ) gives (scale index, mean) -> code round(y - mean)
with the Gaussian scale table.  Decode mirrors it; only g_s runs in float, on a tile grid that
depends on the image size alone, so the pixels do not depend on the machine's memory.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from bitstream import entropy
from bitstream.container import FormatError
from bitstream.entropy import TableSet

from . import zoo
from .models.hyperprior import HyperpriorConfig, MeanScaleHyperprior
from .models.int_hyper_synthesis import IntHyperSynthesis

PAD = 64  # g_a downsamples by 16 and h_a by 4 more
LATENT_TILE = 64  # g_s/g_a tile, in latents (1024 px)
LATENT_HALO = 4  # overlap in latents; the transforms' receptive field is ~2 latents
ESCAPE_MAX = (1 << (entropy.ESCAPE_BITS - 1)) - 1


@dataclass
class Model:
    entry: zoo.ZooEntry
    net: MeanScaleHyperprior
    int_hs: IntHyperSynthesis
    z_tables: TableSet

    @property
    def levels(self) -> int:
        return self.net.cfg.levels

    def t(self, quality: float) -> torch.Tensor:
        """Quality 0..100 -> continuous rate level t in [0, L-1]."""
        return torch.tensor([quality / 100.0 * (self.levels - 1)], dtype=torch.float32)


@lru_cache(maxsize=4)
def load(name: str | None = None, model_id: int | None = None) -> Model:
    from safetensors.torch import load as load_bytes

    entry = zoo.get(name, model_id)
    tensors = load_bytes(zoo.verified_bytes(entry))
    net = MeanScaleHyperprior(HyperpriorConfig(**entry.config), trainable_prior=False)
    state = {k: v.float() for k, v in tensors.items() if not k.startswith(("z_tables.", "entropy_bottleneck."))}
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        raise FormatError(f"weights file {entry.file} does not match its config: {str(e).splitlines()[0]}") from None
    net.eval().requires_grad_(False)
    tables = TableSet.from_padded(
        tensors["z_tables.offsets"].numpy(), tensors["z_tables.lengths"].numpy(), tensors["z_tables.pmf"].numpy()
    )
    return Model(entry, net, IntHyperSynthesis(net.h_s), tables)


def padded_size(h: int, w: int) -> tuple[int, int]:
    return -(-h // PAD) * PAD, -(-w // PAD) * PAD


def _tiled(fn, x: torch.Tensor, tile: int, halo: int, up: int = 1, down: int = 1) -> torch.Tensor:
    """Apply a conv net ``fn`` (spatial scale up/down) on overlapping tiles of ``x`` and stitch."""
    H, W = x.shape[2:]
    if H <= tile and W <= tile:
        return fn(x)
    out = None
    for i in range(0, H, tile):
        for j in range(0, W, tile):
            i0, j0 = max(0, i - halo), max(0, j - halo)
            i1, j1 = min(H, i + tile + halo), min(W, j + tile + halo)
            y = fn(x[:, :, i0:i1, j0:j1])
            if out is None:
                out = y.new_empty(y.shape[0], y.shape[1], H * up // down, W * up // down)
            a, b = (i - i0) * up // down, (j - j0) * up // down
            h, w = min(tile, H - i) * up // down, min(tile, W - j) * up // down
            out[:, :, i * up // down : i * up // down + h, j * up // down : j * up // down + w] = y[:, :, a : a + h, b : b + w]
    return out


@dataclass
class Analysis:
    """g_a output, kept so that a rate search re-runs only the cheap stages."""

    y0: torch.Tensor  # (1, M, Hp/16, Wp/16) before the gain
    height: int
    width: int


@torch.no_grad()
def analyse(model: Model, rgb: np.ndarray) -> Analysis:
    h, w = rgb.shape[:2]
    hp, wp = padded_size(h, w)
    padded = np.pad(rgb, ((0, hp - h), (0, wp - w), (0, 0)), mode="edge")
    x = torch.from_numpy(np.ascontiguousarray(padded)).permute(2, 0, 1)[None].float().div_(255.0)
    y0 = _tiled(model.net.g_a, x, LATENT_TILE * 16, LATENT_HALO * 16, down=16)
    return Analysis(y0, h, w)


@torch.no_grad()
def code(model: Model, a: Analysis, quality: float) -> tuple[bytes, bytes]:
    """Entropy-code the analysed image at ``quality``: returns (z stream, y stream)."""
    y = (a.y0 * model.net.gain(model.t(quality))).double()
    z_hat = torch.round(model.net.h_a(y.float())).clamp_(-ESCAPE_MAX, ESCAPE_MAX).numpy().astype(np.int64)
    z_stream = entropy.encode(z_hat, _channel_index(z_hat.shape), model.z_tables)
    idx, mean = model.int_hs(z_hat)
    sym = np.clip(np.round(y.numpy() - mean), -ESCAPE_MAX, ESCAPE_MAX).astype(np.int64)
    y_stream = entropy.encode(sym, idx, entropy.gaussian_tables())
    return z_stream, y_stream


def _channel_index(shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(np.arange(shape[1]).reshape(1, -1, 1, 1), shape)


def latent_shapes(model: Model, h: int, w: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    hp, wp = padded_size(h, w)
    cfg = model.net.cfg
    return (1, cfg.N, hp // 64, wp // 64), (1, cfg.M, hp // 16, wp // 16)


@torch.no_grad()
def decode_latents(model: Model, h: int, w: int, z_stream: bytes, y_stream: bytes) -> torch.Tensor:
    """Recover ŷ (float32, gained domain) exactly as the encoder had it."""
    z_shape, _ = latent_shapes(model, h, w)
    z_hat = entropy.decode(z_stream, _channel_index(z_shape), model.z_tables)
    idx, mean = model.int_hs(z_hat)
    sym = entropy.decode(y_stream, idx, entropy.gaussian_tables())
    return torch.from_numpy(sym + mean).float()  # exact: |value| < 2**15 with 8 fractional bits


@torch.no_grad()
def synthesise(model: Model, y_hat: torch.Tensor, quality: float, h: int, w: int) -> np.ndarray:
    y = y_hat * model.net.inv_gain(model.t(quality))
    # oneDNN's convolutions change their summation order with the thread count (measured: ~1e-4
    # differences, enough to flip roundings).  The native path (im2col + MKL GEMM, with MKL_CBWR
    # pinned in hific_codec/__init__) splits work over outputs only: same pixels for any thread count.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a TF32 notice irrelevant on CPU
        with torch.backends.mkldnn.flags(enabled=False):
            x = _tiled(model.net.g_s, y, LATENT_TILE, LATENT_HALO, up=16)
    x = x[0, :, :h, :w].mul(255.0).round_().clamp_(0, 255)
    return x.permute(1, 2, 0).to(torch.uint8).numpy()


@torch.no_grad()
def estimate_bits(model: Model, a: Analysis, quality: float) -> float:
    """The model's own rate estimate for the latents `code` sends: continuous Gaussian scales and
    float h_s for y, the learned factorized prior (as frozen at export) for z."""
    from .entropy_models import bits, gaussian_likelihood

    net = model.net
    y = a.y0 * net.gain(model.t(quality))
    z_hat = torch.round(net.h_a(y))
    scale, mean = net.hyper_params(z_hat)
    y_hat = torch.round(y - mean) + mean
    z = z_hat.numpy().astype(np.int64)[0]
    t = model.z_tables
    z_bits = 0.0
    for c in range(z.shape[0]):
        pos = np.clip(z[c] - t.offsets[c], 0, len(t.pmfs[c]) - 1)
        z_bits -= np.log2(t.pmfs[c][pos] / t.pmfs[c].sum()).sum()
    return float(bits(gaussian_likelihood(y_hat, scale, mean))) + z_bits
