"""The numpy convolutions behind the torch-free decoder against PyTorch's: exactly equal on
integers (the fixed-point networks), equal to float rounding in float32 (the synthesis)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hific_codec.models.npconv import conv2d, conv_transpose2d, pixel_shuffle, pixel_unshuffle


@pytest.mark.parametrize("k,stride,padding", [(5, 1, 2), (3, 1, 1), (1, 1, 0), (5, 2, 0), (3, 1, 0)])
def test_conv2d_is_torchs_exactly_on_integers(k, stride, padding):
    rng = np.random.default_rng(k + stride)
    x = np.round(rng.normal(0, 500, (2, 6, 11, 9)))
    w = np.round(rng.normal(0, 2000, (4, 6, k, k)))
    b = np.round(rng.normal(0, 1e5, 4))
    want = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride, padding).numpy()
    assert np.array_equal(conv2d(x, w, b, stride, padding), want)


def test_conv_transpose2d_is_torchs_exactly_on_integers():
    rng = np.random.default_rng(3)
    x = np.round(rng.normal(0, 50, (1, 5, 4, 7)))
    w = np.round(rng.normal(0, 2000, (5, 3, 5, 5)))
    b = np.round(rng.normal(0, 1e4, 3))
    want = F.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), 2, 2, 1).numpy()
    got = conv_transpose2d(x, w, b, 2, 2, 1)
    assert got.shape == (1, 3, 8, 14) and np.array_equal(got, want)


def test_float32_convolution_agrees_to_rounding():
    rng = np.random.default_rng(4)
    x = rng.normal(0, 1, (1, 16, 20, 24)).astype(np.float32)
    w = rng.normal(0, 0.1, (8, 16, 3, 3)).astype(np.float32)
    want = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1).numpy()
    got = conv2d(x, w, None, 1, 1)
    assert got.dtype == np.float32
    assert np.abs(got - want).max() < 1e-5


def test_pixel_shuffles_match_torch_and_invert():
    x = np.arange(2 * 12 * 3 * 5, dtype=np.float32).reshape(2, 12, 3, 5)
    s = pixel_shuffle(x, 2)
    assert np.array_equal(s, F.pixel_shuffle(torch.from_numpy(x), 2).numpy())
    assert np.array_equal(pixel_unshuffle(s, 2), x)
    assert np.array_equal(pixel_unshuffle(s, 2), F.pixel_unshuffle(torch.from_numpy(s), 2).numpy())
