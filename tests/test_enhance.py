"""The ``enhance`` plugin (artifact removal) and ``nic enhance``, on real compressed images."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from hific_codec import plugins
from hific_codec.plugins.enhance import HALO, TILE
from hific_codec.train.enhance import jpeg

from .conftest import MODE_SHAPES, in_mode, psnr


@pytest.fixture(scope="module")
def enhance():
    p = plugins.create("enhance")
    p.ensure_loaded()
    return p


def test_removes_jpeg_artifacts_on_a_photo(enhance, crop):
    """On a JPEG at quality 10 and 20 the output is measurably closer to the original."""
    for q, gain in ((10, 0.5), (20, 0.3)):
        dec, _ = jpeg(crop, q)
        out = enhance(dec)
        assert out.shape == dec.shape and out.dtype == np.uint8
        assert psnr(out, crop) > psnr(dec, crop) + gain, q


def test_tiles_give_the_whole_image_result(enhance, kodim23):
    """Tiles with their halo reproduce one pass over the whole (padded) image: no seams."""
    img, _ = jpeg(np.ascontiguousarray(kodim23[: TILE + 37, : TILE + 91]), 15)
    h, w = img.shape[:2]
    x = np.pad(img, ((HALO, HALO + 1), (HALO, HALO + 1), (0, 0)), mode="edge")
    x = torch.from_numpy(x[: h + h % 2 + 2 * HALO, : w + w % 2 + 2 * HALO]).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        whole = enhance.net(x)[0, :, HALO : HALO + h, HALO : HALO + w]
    whole = whole.mul(255).round().clamp(0, 255).permute(1, 2, 0).to(torch.uint8).numpy()
    tiled = enhance(img)
    assert np.abs(tiled.astype(int) - whole).max() <= 1
    assert (tiled != img).mean() > 0.5  # it did change the image


@pytest.mark.parametrize("shape", MODE_SHAPES)
def test_any_size_and_mode(enhance, crop, shape):
    a = in_mode(crop, shape)
    out = enhance(a)
    assert out.shape == a.shape and out.dtype == np.uint8
    assert np.array_equal(out, enhance(a))  # deterministic


def test_the_gan_variant_is_another_network_that_still_removes_artifacts(enhance, crop):
    gan = plugins.create("enhance:gan")
    dec, _ = jpeg(crop, 10)
    out, plain = gan(dec), enhance(dec)
    assert (out != plain).mean() > 0.5
    assert psnr(out, crop) > psnr(dec, crop) + 0.5


def test_variant_names_are_checked():
    with pytest.raises(plugins.PluginError, match="enhance:gan"):
        plugins.create("enhance:sharp")


def nic(*args):
    return subprocess.run([sys.executable, "-m", "hific_codec.cli", *args], capture_output=True, text=True, check=False)


def test_cli_enhances_a_jpeg_and_keeps_its_metadata(tmp_path, crop):
    src = tmp_path / "photo.jpg"
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    Image.fromarray(crop).save(src, "JPEG", quality=15, exif=exif.tobytes())
    r = nic("enhance", str(src))
    assert r.returncode == 0, r.stderr
    out = tmp_path / "photo.enhanced.png"
    with Image.open(out) as im:
        assert im.size == (crop.shape[1], crop.shape[0])
        assert im.getexif().get(0x010F) == "TestCam"
        got = np.asarray(im.convert("RGB"))
    assert psnr(got, crop) > psnr(np.asarray(Image.open(src).convert("RGB")), crop) + 0.3
    again = nic("enhance", str(src))  # an existing output needs --force
    assert again.returncode == 1 and "exists" in again.stderr and "Traceback" not in again.stderr
    bad = nic("enhance", str(src), "-o", str(tmp_path / "x.nic"))
    assert bad.returncode == 1 and "nic encode" in bad.stderr and not (tmp_path / "x.nic").exists()
    missing = nic("enhance", str(tmp_path / "none.jpg"), "-o", str(tmp_path / "y.png"))
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and not (tmp_path / "y.png").exists()
