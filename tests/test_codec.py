"""End-to-end coding with the shipped model on a real photo."""
import numpy as np
import pytest
import torch

import bitstream
import hific_codec
from hific_codec import codec

from .conftest import psnr


@pytest.fixture(scope="module")
def model():
    return codec.load()


def test_latents_round_trip_exactly(crop):
    """One-pass coding (models 1-4; the two-pass checkerboard coding is in test_context.py)."""
    model = codec.load(model_id=4)
    a = codec.analyse(model, crop)
    for q in (5.0, 60.0):
        z_stream, y_stream = codec.code(model, a, q)
        # the encoder's own quantized latents, recomputed independently
        y = (a.y0 * model.net.gain(model.t(q))).double()
        z_hat = torch.round(model.net.h_a(y.float())).numpy().astype(np.int64)
        _idx, mean = model.int_hs(z_hat)
        expected = np.round(y.numpy() - mean) + mean
        got = codec.decode_latents(model, crop.shape[0], crop.shape[1], z_stream, y_stream).double().numpy()
        assert np.array_equal(got, expected)
        # tiled coding (64 px tiles, each with its own h_s window) recovers the very same latents
        grid = bitstream.TileGrid(64, 128)
        z_t, y_t = codec.code(model, a, q, grid)
        assert z_t == z_stream and len(y_t) == grid.count(crop.shape[1], crop.shape[0]) > 4
        got = codec.decode_latents(model, crop.shape[0], crop.shape[1], z_t, y_t, grid).double().numpy()
        assert np.array_equal(got, expected)


def test_rate_rises_and_distortion_falls_with_quality(crop):
    sizes, quals = [], []
    for q in (0, 35, 70, 100):
        data = hific_codec.encode(crop, q)
        sizes.append(len(data))
        quals.append(psnr(crop, hific_codec.decode(data)))
    assert sizes == sorted(sizes) and sizes[-1] > 2 * sizes[0]
    assert quals == sorted(quals)


def test_file_size_matches_the_model_estimate(model, kodim23):
    a = codec.analyse(model, kodim23)
    for q in (20.0, 80.0):
        z, ys = codec.code(model, a, q)
        estimate = codec.estimate_bits(model, a, q) / 8
        assert abs(len(z) + sum(map(len, ys)) - estimate) / estimate < 0.02


def test_container_overhead_is_small(kodim23):
    data = hific_codec.encode(kodim23, 50)
    f = bitstream.read(data)
    assert len(data) - len(f.z_stream) - sum(map(len, f.y_streams)) < 60


def test_tiled_synthesis_matches_whole_image(model, kodim23, monkeypatch):
    a = codec.analyse(model, kodim23)
    z, ys = codec.code(model, a, 50.0)
    y_hat = codec.decode_latents(model, 512, 768, z, ys)
    whole = codec.synthesise(model, y_hat, 50.0, 512, 768)
    monkeypatch.setattr(codec, "LATENT_TILE", 16)
    tiled = codec.synthesise(model, y_hat, 50.0, 512, 768)
    diff = np.abs(whole.astype(int) - tiled.astype(int))
    assert diff.max() <= 1 and diff.mean() < 0.01  # float noise only: the halo covers the receptive field


def test_escape_path_on_extreme_content(model):
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)  # white noise: worst case for the prior
    data = hific_codec.encode(noise, 100)
    out = hific_codec.decode(data)
    assert out.shape == noise.shape and psnr(noise, out) > 8


def test_images_wider_than_a_tile(kodim23):
    wide = np.ascontiguousarray(np.concatenate([kodim23[:128], kodim23[:128, ::-1]], axis=1))  # 1536 px wide
    out = hific_codec.decode(hific_codec.encode(wide, 60))
    assert out.shape == wide.shape
    # no seam at the tile boundary (x = 1024): the error there is like the error elsewhere
    err = np.abs(out.astype(float) - wide.astype(float)).mean(axis=(0, 2))
    assert err[1016:1032].mean() < 2 * err.mean() + 1


def test_subpixel_synthesis_form_renders_what_the_transposed_form_does(crop):
    """Model 4's decoder evaluates g_s in sub-pixel form (gs_form): the same function as the
    transposed convolutions it was trained with, so pixels differ by at most one level, rarely."""
    model = codec.load(model_id=4)
    assert model.net.cfg.gs_form == "subpixel" and model.format_version == (1, 2)
    a = codec.analyse(model, crop)
    z, ys = codec.code(model, a, 50.0)
    y_hat = codec.decode_latents(model, crop.shape[0], crop.shape[1], z, ys)
    fast = codec.synthesise(model, y_hat, 50.0, crop.shape[0], crop.shape[1])
    saved = model._g_s
    try:
        model._g_s = model.net.g_s  # the training-time (transposed) form
        slow = codec.synthesise(model, y_hat, 50.0, crop.shape[0], crop.shape[1])
    finally:
        model._g_s = saved
    diff = np.abs(fast.astype(int) - slow)
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3
    assert hific_codec.encode(crop[:32, :32], 50, model=model.entry.name)[4:6] == b"\x01\x02"  # such files say 1.2
