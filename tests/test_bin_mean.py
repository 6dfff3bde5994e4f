"""hific_codec/bin_mean.py: the entropy model's conditional mean of y within its coded bin."""
import numpy as np
import pytest
import torch

import hific_codec
from bitstream.entropy import SCALE_TABLE
from hific_codec import bin_mean


def _integrated(s: int, sigma: float, n: int = 200_001) -> float:
    """E[u | s-½ <= u <= s+½] - s for u ~ N(0, σ), by the midpoint rule on the bin (no erfc)."""
    u = s - 0.5 + (np.arange(n) + 0.5) / n
    w = np.exp(-0.5 * (u / sigma) ** 2 + 0.5 * ((s - 0.5) / sigma) ** 2)  # scaled: no underflow in the tail
    return float((u * w).sum() / w.sum() - s)


@pytest.mark.parametrize("k", [0, 5, 17, 30, 45, 63])
@pytest.mark.parametrize("s", [1, 2, 3, 7, 40])
def test_offset_is_the_truncated_gaussian_mean(s, k):
    assert bin_mean.offset(s, k) == pytest.approx(_integrated(s, SCALE_TABLE[k]), abs=2.0 ** -bin_mean.FRAC_BITS)


def test_offset_is_odd_bounded_and_on_the_grid():
    for k in range(len(SCALE_TABLE)):
        assert bin_mean.offset(0, k) == 0.0
        for s in (1, 2, 9, 1000):
            d = bin_mean.offset(s, k)
            assert -0.5 <= d <= 0.0 and bin_mean.offset(-s, k) == -d
            assert d * 2**bin_mean.FRAC_BITS == int(d * 2**bin_mean.FRAC_BITS)
    # a confident prior (σ = 0.11) puts a coded 1 at the bin's inner edge; a vague one near the centre
    assert bin_mean.offset(1, 0) < -0.47 and bin_mean.offset(1, 63) == 0.0


def test_offsets_pinned():
    """Exact values: a libm that moved a rounding would change decoded realism pixels."""
    got = [bin_mean.offset(s, k) for s, k in ((1, 0), (1, 21), (3, 21), (300, 42))]
    assert got == [-1957 / 4096, -163 / 4096, -475 / 4096, -291 / 4096]


def test_vectorised_offsets_match_scalar():
    rng = np.random.default_rng(0)
    s = rng.integers(-50, 51, size=(3, 40))
    k = rng.integers(0, len(SCALE_TABLE), size=s.shape)
    want = np.vectorize(bin_mean.offset)(s, k)
    assert np.array_equal(bin_mean.offsets(s, k), want)
    assert bin_mean.offsets(np.zeros((2, 2), int), np.zeros((2, 2), int)).tolist() == [[0, 0], [0, 0]]


def test_realism_decoder_reads_bin_means(kodim23):
    """The shipped generator's entry says bin-mean: its pixels differ from decoding the bin centres,
    knob 0 still equals the fidelity decoder, and a batch decodes as single files do."""
    import bitstream
    from hific_codec import codec

    data = hific_codec.encode(kodim23[:128, :192], quality=10)
    f = bitstream.read(data)
    h = f.header
    m = codec.load()
    assert m.reads_bin_mean
    y_hat, delta = codec.decode_latents(m, h.height, h.width, f.z_stream, f.y_streams, offsets=True)
    assert torch.equal(y_hat, codec.decode_latents(m, h.height, h.width, f.z_stream, f.y_streams))
    assert (delta != 0).any() and (delta.abs() < 0.5).all()
    with_mean = hific_codec.decode(data, realism=1.0)
    centres = codec.synthesise(m, y_hat, h.quality, h.height, h.width, realism=1.0)
    assert not np.array_equal(with_mean, centres)
    assert np.array_equal(with_mean, codec.synthesise(m, y_hat, h.quality, h.height, h.width, 1.0, delta))
    assert np.array_equal(hific_codec.decode(data, realism=0.0), hific_codec.decode(data, decoder="fidelity"))
    batch = hific_codec.decode_batch([data, data], realism=0.6)
    assert all(np.array_equal(b, hific_codec.decode(data, realism=0.6)) for b in batch)


def test_zoo_rejects_unknown_latents():
    from bitstream import FormatError
    from hific_codec import zoo

    with pytest.raises(FormatError, match="latents must be one of"):
        zoo.ZooEntry(name="x", model_id=0, family="realism", config={}, file="x", sha256="0" * 64,
                     train_hours=0.0, train_steps=0, latents="median")
