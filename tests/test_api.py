import numpy as np
import pytest

import hific_codec
from bitstream import FormatError

from .conftest import psnr


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (5, 3), (63, 65), (130, 66)])
def test_any_size_round_trips(shape):
    rng = np.random.default_rng(sum(shape))
    img = np.clip(rng.normal(128, 30, size=(*shape, 3)), 0, 255).astype(np.uint8)
    out = hific_codec.decode(hific_codec.encode(img))
    assert out.shape == img.shape and out.dtype == np.uint8


def test_grey_input_returns_grey(crop):
    grey = crop.mean(axis=2).astype(np.uint8)
    out = hific_codec.decode(hific_codec.encode(grey, 60))
    assert out.shape == grey.shape and psnr(grey, out) > 20
    out1 = hific_codec.decode(hific_codec.encode(grey[:, :, None], 60))
    assert out1.shape == grey.shape


def test_rgba_keeps_alpha_losslessly(crop):
    alpha = np.tile(np.arange(crop.shape[1], dtype=np.uint8), (crop.shape[0], 1))
    rgba = np.dstack([crop, alpha])
    out = hific_codec.decode(hific_codec.encode(rgba, 60))
    assert out.shape == rgba.shape
    assert np.array_equal(out[:, :, 3], alpha)
    assert psnr(crop, out[:, :, :3]) > 20


def test_sixteen_bit_input_is_scaled(crop):
    wide = crop.astype(np.uint16) * 257  # exact 8 -> 16 bit expansion
    a = hific_codec.decode(hific_codec.encode(wide, 50))
    b = hific_codec.decode(hific_codec.encode(crop, 50))
    assert np.array_equal(a, b)


@pytest.mark.parametrize("bad", [np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 2), np.uint8),
                                 np.zeros((2, 2, 2, 3), np.uint8), np.zeros((0, 4, 3), np.uint8)])
def test_bad_arrays_are_refused(bad):
    with pytest.raises(ValueError):
        hific_codec.encode(bad)


def test_quality_range_and_exclusive_options(crop):
    with pytest.raises(ValueError, match="quality"):
        hific_codec.encode(crop, 101)
    with pytest.raises(ValueError, match="one of quality, bpp and psnr"):
        hific_codec.encode(crop, 50, bpp=0.5)
    with pytest.raises(ValueError, match="one of quality, bpp and psnr"):
        hific_codec.encode(crop, bpp=0.5, psnr=30)
    with pytest.raises(ValueError, match="effort 0-2"):
        hific_codec.encode(crop, psnr=30, effort=3)


def test_target_bpp_is_met_from_below(crop):
    pixels = crop.shape[0] * crop.shape[1]
    for target in (0.3, 0.8):
        data = hific_codec.encode(crop, bpp=target)
        bpp = len(data) * 8 / pixels
        assert bpp <= target
        q = hific_codec.info(data).quality
        if q < 100:  # one step up in quality would overshoot
            assert len(hific_codec.encode(crop, min(100, q + 0.05))) * 8 / pixels > target * 0.97


def test_target_psnr_is_reached_at_the_lowest_quality(crop):
    for target in (28.0, 33.0):
        data = hific_codec.encode(crop, psnr=target)
        assert psnr(crop, hific_codec.decode(data)) >= target
        q = hific_codec.info(data).quality
        assert q > 0 and psnr(crop, hific_codec.decode(hific_codec.encode(crop, q - 0.5))) < target
    out = hific_codec.decode(hific_codec.encode(crop, psnr=80.0))  # out of reach: quality 100
    assert psnr(crop, out) < 80


def test_info_without_decoding(crop):
    data = hific_codec.encode(crop, 42.5)
    i = hific_codec.info(data)
    assert (i.width, i.height, i.channels, i.quality, i.model) == (256, 192, 3, 42.5, "hyperprior-vr")
    assert [t for t, _ in i.chunks] == ["HEAD", "ZLAT", "YLAT"] and i.bytes == len(data)
    assert i.icc is None and i.exif is None
    tagged = hific_codec.info(hific_codec.encode(crop, 10, icc=b"profile", exif=b"Exif\0\0II*\0"))
    assert (tagged.icc, tagged.exif) == (b"profile", b"Exif\0\0II*\0")  # what decode() leaves out


def test_wrong_weights_are_refused(crop):
    data = bytearray(hific_codec.encode(crop))
    import bitstream

    f = bitstream.read(bytes(data))
    h = f.header
    other = bitstream.Header(h.width, h.height, h.channels, h.model_id, b"\xde\xad\xbe\xef", h.quality)
    forged = bitstream.write(bitstream.NicFile(other, f.z_stream, f.y_streams))
    with pytest.raises(FormatError, match="weights deadbeef"):
        hific_codec.decode(forged)
    unknown = bitstream.Header(h.width, h.height, h.channels, 999, h.weights_hash, h.quality)
    with pytest.raises(FormatError, match="model id 999"):
        hific_codec.decode(bitstream.write(bitstream.NicFile(unknown, f.z_stream, f.y_streams)))


def test_corrupted_and_truncated_files(crop):
    data = hific_codec.encode(crop)
    rng = np.random.default_rng(0)
    for _ in range(30):
        bad = bytearray(data)
        bad[rng.integers(0, len(bad))] ^= 1 << int(rng.integers(0, 8))
        with pytest.raises(FormatError):
            hific_codec.decode(bytes(bad))
    for cut in (0, 3, 6, 20, len(data) // 2, len(data) - 1):
        with pytest.raises(FormatError):
            hific_codec.decode(data[:cut])


def test_salvage_decode_of_a_damaged_stream(crop):
    data = bytearray(hific_codec.encode(crop, 50))
    data[-40] ^= 0x10  # inside YLAT
    with pytest.raises(FormatError, match="YLAT"):
        hific_codec.decode(bytes(data))
    out = hific_codec.decode(bytes(data), verify=False)
    assert out.shape == crop.shape
