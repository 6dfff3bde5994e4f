"""The coding pipeline around the torch model: pixels <-> (z stream, y stream).

Encode: pad to a multiple of 64 (edge replication) -> g_a (tiled) -> ×gain(t) -> h_a -> ẑ = round(z)
-> code ẑ with the factorized tables -> exact h_s(ẑ) gives (scale index, mean) -> code round(y - mean)
with the Gaussian scale table.  Models with a checkerboard context (model 5 on) code each tile's y
in two passes in one stream: the anchors with h_s's parameters, then the rest with parameters
corrected by the exact context model from the anchors; with channel slices (model 8 on) each
slice's anchors and then each slice's rest are further passes, conditioned on the slices before.
Encoder and decoder run one pass schedule (`np_decoder.passes`).

The transforms before the rounding and all of the entropy coding are numpy (np_encoder.py,
np_decoder.py: effort 0 and the fidelity decoder need no torch); this module holds the torch
network for what needs it: refinement (effort 1-2), rate estimates, the realism decoder, and the
torch synthesis (on a tile grid that depends on the image size alone).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch

from bitstream.container import FormatError
from bitstream.entropy import TableSet
from bitstream.tiles import TileGrid

from . import bin_mean, np_decoder, np_encoder, numerics, zoo
from .entropy_models import bits, gaussian_likelihood, ste_round
from .models import contexts
from .models.context_config import format_version
from .models.generator import blocks_halo
from .models.hyperprior import HyperpriorConfig, MeanScaleHyperprior
from .models.int_hyper_synthesis import IntHyperSynthesis, numpy_state
from .models.layers import subpixel_synthesis
from .np_decoder import LATENT_HALO, LATENT_TILE, tile_boxes

numerics.pin()

NO_BLOCKS = torch.nn.Sequential()  # the fidelity decoder has no latent-resolution blocks (identity)


@dataclass
class Model:
    entry: zoo.ZooEntry
    net: MeanScaleHyperprior
    int_hs: IntHyperSynthesis
    z_tables: TableSet
    context: torch.nn.Module | None = None  # float (models/contexts), for rate estimates and refinement
    int_ctx: object | None = None  # its exact twin, for coding
    _blends: dict = field(default_factory=dict, repr=False)  # realism alpha -> blended generator
    _g_s: torch.nn.Module | None = field(default=None, repr=False)  # g_s in the entry's inference form
    _tr: np_encoder.Transforms | None = field(default=None, repr=False)  # g_a, h_a in numpy

    def transforms(self) -> np_encoder.Transforms:
        """g_a and h_a as the encoder runs them (numpy, np_encoder.py), from this network."""
        if self._tr is None:
            self._tr = np_encoder.Transforms(numpy_state(self.net))
        return self._tr

    def synthesis(self, realism: float | None):
        """(latent-resolution blocks, upsampling transform, log inverse-gain table) of the decoder
        asked for: g_s (no blocks) for the fidelity decoder (``realism`` None), else the generator
        interpolated at ``realism`` in [0, 1]."""
        if realism is None:
            if self._g_s is None:
                self._g_s = inference_form(self, self.net.g_s)
            return NO_BLOCKS, self._g_s, self.net.log_inv_gain
        if not 0 <= realism <= 1:
            raise ValueError(f"realism must be within 0..1, got {realism}")
        key = round(float(realism), 4)
        if key not in self._blends:
            if len(self._blends) >= 8:
                self._blends.clear()
            g = _blend(self, key)
            self._blends[key] = (g.res, inference_form(self, g.g_s), g.log_inv_gain)
        return self._blends[key]

    @property
    def reads_bin_mean(self) -> bool:
        """Whether this model's realism generator reads ŷ + α δ (`bin_mean`) rather than ŷ."""
        r = zoo.realism_for(self.entry)
        return r is not None and r.latents == "bin-mean"

    @property
    def format_version(self) -> tuple[int, int]:
        """The lowest container version whose decoders render this model's files (see nicfile)."""
        return format_version(self.net.cfg.gs_form, None if self.context is None else contexts.kind_of(self.context))

    def y_params(self, psi: torch.Tensor, y: torch.Tensor, rnd=ste_round) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Float twin of the coder: ψ = h_s(ẑ) and gained y -> (scale, mean, ŷ) at every position
        (straight-through rounding unless ``rnd`` says otherwise: rate estimates and refinement)."""
        return self.net.y_params(psi, y, self.context, rnd)

    @property
    def levels(self) -> int:
        return self.net.cfg.levels

    def t(self, quality: float) -> torch.Tensor:
        """Quality 0..100 -> continuous rate level t in [t_min, L-1] (the model's config says t_min)."""
        lo = self.net.cfg.t_min
        return torch.tensor([lo + quality / 100.0 * (self.levels - 1 - lo)], dtype=torch.float32)

    def map_gains(self, qmap: np.ndarray, log_table: torch.Tensor) -> torch.Tensor:
        """Gains from ``log_table`` (a decoder's) at every latent of a quality map (h, w) -> (1, M,
        h, w), for the torch synthesis (np_decoder.gains, its numpy twin for the encoder and the
        fidelity decoder, agrees up to exp's last bit)."""
        q = torch.from_numpy(np.asarray(qmap, dtype=np.float32))
        lo = self.net.cfg.t_min
        g = torch.exp(self.net._interp(log_table, (lo + q.reshape(-1) / 100.0 * (self.levels - 1 - lo))))
        return g[:, :, 0, 0].T.reshape(1, -1, *q.shape).contiguous()


def inference_form(model: Model, g_s: torch.nn.Module) -> torch.nn.Module:
    """g_s (or a generator of its shape) as this model's decoder evaluates it (config ``gs_form``)."""
    form = model.net.cfg.gs_form
    if form == "transposed":
        return g_s
    if form == "subpixel":
        return subpixel_synthesis(g_s)
    raise FormatError(f"model {model.entry.name!r} asks for an unknown synthesis form {form!r}")


@lru_cache(maxsize=4)
def load(name: str | None = None, model_id: int | None = None) -> Model:
    from safetensors.torch import load as load_bytes

    entry = zoo.get(name, model_id)
    if entry.family != "hyperprior":
        raise ValueError(f"{entry.name!r} is a {entry.family} decoder, not a codec model")
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
    ctx = _context(entry) if entry.context else None
    return Model(entry, net, IntHyperSynthesis(numpy_state(net.h_s)), tables, ctx, contexts.exact(ctx) if ctx else None)


def _context(entry: zoo.ZooEntry) -> torch.nn.Module:
    try:
        ctx = contexts.build(entry.context.get("kind", contexts.DEFAULT), entry.context["config"])
    except (ValueError, TypeError, KeyError) as e:
        raise FormatError(f"context model of {entry.name!r} is not one this version knows: {e}") from None
    try:
        ctx.load_state_dict(zoo.context_tensors(entry))
    except RuntimeError as e:
        raise FormatError(f"context weights of {entry.name!r} do not match their config: "
                          f"{str(e).splitlines()[0]}") from None
    return ctx.eval().requires_grad_(False)


@lru_cache(maxsize=2)
def _realism_state(name: str) -> dict[str, torch.Tensor]:
    return zoo.float_tensors(zoo.get(name))


def _blend(model: Model, alpha: float):
    """The realism generator at knob ``alpha``: network interpolation from the fidelity decoder's
    twin in the generator's layout (models/generator.fidelity_twin)."""
    from .models.generator import RealismGenerator, blend_state, blocks_in, fidelity_twin

    entry = zoo.realism_for(model.entry)
    if entry is None:
        raise FormatError(f"no realism decoder is installed for model {model.entry.name!r} "
                          f"(weights {model.entry.sha256[:8]}); use the fidelity decoder")
    state = _realism_state(entry.name)
    g = RealismGenerator.from_fidelity(model.net, blocks_in(state))
    try:
        g.load_state_dict(blend_state(fidelity_twin(g.state_dict(), state), state, alpha))
    except (RuntimeError, ValueError) as e:
        raise FormatError(f"realism weights {entry.file} do not fit model {model.entry.name!r}: "
                          f"{str(e).splitlines()[0]}") from None
    return g.eval().requires_grad_(False)


@dataclass
class Analysis:
    """g_a output, kept so that a rate search re-runs only the cheap stages."""

    y0: torch.Tensor  # (1, M, Hp/16, Wp/16) before the gain
    height: int
    width: int


def analyse(model: Model, rgb: np.ndarray) -> Analysis:
    """g_a (np_encoder.analyse: float pixels one 1024-px tile at a time)."""
    a = np_encoder.analyse(model.transforms(), rgb)
    return Analysis(torch.from_numpy(a.y0), a.height, a.width)


coding_tiles = np_encoder.coding_tiles


def code(model: Model, a: Analysis, quality: float, tiles: TileGrid | None = None,
         qmap: np.ndarray | None = None) -> tuple[bytes, tuple[bytes, ...]]:
    """Entropy-code the analysed image at ``quality``, or at the per-latent qualities of ``qmap``
    (the latent grid's shape): returns (z stream, one y stream per tile).  np_encoder.code, with
    this model's exact networks (a test may have replaced them)."""
    cfg = model.net.cfg
    table = model.net.log_gain.detach().numpy()
    gain = np_decoder.gains(table, cfg.levels, cfg.t_min, quality if qmap is None else qmap)
    y0 = np_encoder.Analysis(a.y0.detach().numpy(), a.height, a.width)
    return np_encoder.code(model.transforms(), model.int_hs, model.int_ctx, model.z_tables, y0, gain, tiles)


def latent_shapes(model: Model, h: int, w: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    return np_decoder.latent_shapes(model.net.cfg.N, model.net.cfg.M, h, w)


@torch.no_grad()
def decode_latents(model: Model, h: int, w: int, z_stream: bytes, y_streams: tuple[bytes, ...],
                   tiles: TileGrid | None = None, offsets: bool = False):
    """Recover ŷ (float32, gained domain) exactly as the encoder had it.  With ``offsets``, returns
    (ŷ, δ): δ the bin-mean offset of every latent (`bin_mean`), which a realism generator whose
    entry says ``latents: "bin-mean"`` reads as ŷ + α δ."""
    z_shape, y_shape = latent_shapes(model, h, w)
    got = np_decoder.decode_latents(model.int_hs, model.int_ctx, model.z_tables, z_shape, y_shape, z_stream,
                                    y_streams, tiles, bin_mean.offsets if offsets else None)
    if offsets:
        return torch.from_numpy(got[0]), torch.from_numpy(got[1])
    return torch.from_numpy(got)


@torch.no_grad()
def synthesise(model: Model, y_hat: torch.Tensor, qualities: float | list[float], h: int, w: int,
               realism: float | None = None, delta: torch.Tensor | None = None,
               qmap: np.ndarray | None = None) -> np.ndarray:
    """ŷ (B, M, ...) -> uint8 pixels (B, h, w, 3) (or (h, w, 3) for a single quality).

    ``realism`` None: the fidelity decoder g_s; a value in [0, 1]: the realism generator at
    that knob (0 gives g_s's pixels exactly).  ``delta``: the bin-mean offsets from
    `decode_latents`, which the realism decoder at knob α reads as ŷ + α δ (only pass them when
    `Model.reads_bin_mean`).

    g_s runs on a fixed 64-latent tile grid with a halo; each tile's pixels go straight to uint8,
    so a large image never holds float pixels in full.
    """
    single = not isinstance(qualities, (list, tuple))
    qs = [qualities] if single else list(qualities)
    res, g_s, log_inv = model.synthesis(realism)
    if realism is not None and delta is not None:
        y_hat = y_hat + float(realism) * delta  # α = 0: ŷ itself, the fidelity decoder's input
    if qmap is not None:  # one image with a quality map: gains per latent, sliced with each window
        assert single, "a quality map belongs to one image"
        inv = model.map_gains(qmap, log_inv)
    else:
        inv = torch.cat([model.net.inv_gain(model.t(q), log_inv) for q in qs])
    B, _, H, W = y_hat.shape
    e = blocks_halo(res)  # the blocks' own halo, on top of g_s's
    out = np.empty((B, h, w, 3), dtype=np.uint8)
    # oneDNN's convolutions change their summation order with the thread count (measured: ~1e-4
    # differences, enough to flip roundings).  The native path (im2col + MKL GEMM in strict CBWR
    # mode, numerics.py) gives the same pixels for any thread count, and each image of a batch is
    # its own GEMM, so batching does not change them either.
    numerics.warn_if_loose()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a TF32 notice irrelevant on CPU
        with torch.backends.mkldnn.flags(enabled=False):
            for (i, j, th, tw), (i0, j0, i1, j1) in tile_boxes(H, W, LATENT_TILE, LATENT_HALO):
                if i * 16 >= h or j * 16 >= w:
                    continue  # a tile of padding only
                # blocks on e more latents each side: g_s reads what whole-image blocks would give
                o0, p0 = max(0, i0 - e), max(0, j0 - e)
                win = (slice(None), slice(None), slice(o0, min(H, i1 + e)), slice(p0, min(W, j1 + e)))
                r = res(y_hat[win] * (inv if qmap is None else inv[win]))
                x = g_s(r[:, :, i0 - o0 : i1 - o0, j0 - p0 : j1 - p0])
                a, b = (i - i0) * 16, (j - j0) * 16
                ph, pw = min(th * 16, h - i * 16), min(tw * 16, w - j * 16)
                x = x[:, :, a : a + ph, b : b + pw].mul(255.0).round_().clamp_(0, 255)
                out[:, i * 16 : i * 16 + ph, j * 16 : j * 16 + pw] = x.permute(0, 2, 3, 1).to(torch.uint8).numpy()
    return out[0] if single else out


@torch.no_grad()
def estimate_bits(model: Model, a: Analysis, quality: float) -> float:
    """The model's own rate estimate for the latents `code` sends: continuous Gaussian scales and
    float h_s (and context) for y, the learned factorized prior (as frozen at export) for z."""
    net = model.net
    y = a.y0 * net.gain(model.t(quality))
    z_hat = torch.round(net.h_a(y))
    scale, mean, y_hat = model.y_params(net.h_s(z_hat), y)
    z = z_hat.numpy().astype(np.int64)[0]
    t = model.z_tables
    z_bits = 0.0
    for c in range(z.shape[0]):
        pos = np.clip(z[c] - t.offsets[c], 0, len(t.pmfs[c]) - 1)
        z_bits -= np.log2(t.pmfs[c][pos] / t.pmfs[c].sum()).sum()
    return float(bits(gaussian_likelihood(y_hat, scale, mean))) + z_bits
