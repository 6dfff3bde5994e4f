"""The ``colorize`` plugin (grey to colour): colour space, banding, the plugin contract, the CLI."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import hific_codec
from hific_codec import plugins
from hific_codec.models import colorize as cm
from hific_codec.train.colorize import colourfulness

from .conftest import MODE_SHAPES, in_mode


@pytest.fixture(scope="module")
def plugin():
    p = plugins.create("colorize")
    p.ensure_loaded()
    return p


def lab(a: np.ndarray) -> torch.Tensor:
    return cm.rgb_to_lab(torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float() / 255)[0]


def test_lab_matches_the_standard_values_and_round_trips(crop):
    white, red = lab(np.array([[[255, 255, 255], [255, 0, 0]]], np.uint8)).permute(1, 2, 0)[0]
    assert torch.allclose(white, torch.tensor([100.0, 0.0, 0.0]), atol=0.02)
    assert torch.allclose(red, torch.tensor([53.24, 80.09, 67.20]), atol=0.05)  # CIE Lab of sRGB red (D65)
    x = torch.from_numpy(crop).permute(2, 0, 1)[None].float() / 255
    assert float((cm.lab_to_rgb(cm.rgb_to_lab(x)) - x).abs().max()) < 1e-4


def test_banded_upsampling_is_bilinear_interpolation():
    ab = torch.randn(2, 7, 11)
    want = F.interpolate(ab[None], size=(101, 64), mode="bilinear", align_corners=False)[0]
    rows, cols = cm._bilinear(101, 7), cm._bilinear(64, 11).T
    got = torch.cat([torch.einsum("rh,chw,wx->crx", rows[i : i + 16], ab, cols) for i in range(0, 101, 16)], 1)
    assert float((got - want).abs().max()) < 1e-5


def test_a_grey_photo_comes_back_in_colour_with_its_lightness(plugin, kodim23):
    g = np.ascontiguousarray(np.asarray(Image.fromarray(kodim23).convert("L")))
    out = plugin(g)  # HxW grey in: HxWx3 colour out
    assert out.shape == (*g.shape, 3) and out.dtype == np.uint8
    assert colourfulness(out) > 20 > colourfulness(np.dstack([g] * 3))
    # lightness is the input's (changed only where the colour leaves sRGB and is clipped)
    dl = (lab(out)[0] - lab(np.dstack([g] * 3))[0]).abs()
    assert float(dl.median()) < 1.0 and float(dl.mean()) < 3.0


def test_bands_change_nothing_and_output_is_deterministic(plugin, crop, monkeypatch):
    g = np.dstack([np.asarray(Image.fromarray(crop).convert("L"))] * 3)
    whole = plugin(g)
    monkeypatch.setattr(cm, "BAND", 37)
    assert np.array_equal(plugin(g), whole)


@pytest.mark.parametrize("shape", MODE_SHAPES)
def test_any_size_and_mode(plugin, crop, shape):
    a = in_mode(crop, shape)
    out = plugin(a)
    assert out.shape == (*a.shape[:2], 4 if a.ndim == 3 and a.shape[2] == 4 else 3) and out.dtype == np.uint8
    if out.shape[2] == 4:
        assert (out[:, :, 3] == 200).all()


def test_takes_no_argument():
    with pytest.raises(plugins.PluginError, match="no argument"):
        plugins.create("colorize:vivid")


def test_cli_colorizes_a_grey_nic_file(tmp_path, crop):
    g = np.ascontiguousarray(np.asarray(Image.fromarray(crop).convert("L")))
    src = tmp_path / "grey.nic"
    grey_icc = bytes(16) + b"GRAY" + bytes(108)  # an ICC header naming the grey colour space
    src.write_bytes(hific_codec.encode(g, quality=60, icc=grey_icc))

    def decode(out, *post):
        r = subprocess.run([sys.executable, "-m", "hific_codec.cli", "decode", str(src), "-o", str(out), *post],
                           capture_output=True, text=True, check=False)
        assert r.returncode == 0, r.stderr
        return Image.open(out)

    with decode(tmp_path / "colour.png", "--post", "colorize") as im:
        assert im.mode == "RGB" and im.size == (g.shape[1], g.shape[0])
        assert colourfulness(np.asarray(im)) > 10
        assert "icc_profile" not in im.info  # a grey profile does not describe colour pixels
    with decode(tmp_path / "grey.png") as im:
        assert im.mode == "L" and im.info["icc_profile"] == grey_icc


def test_soft_targets_and_rebalancing_weights():
    from hific_codec.train.colorize import class_weights, soft_targets

    centres = torch.tensor([[a, b] for a in range(-20, 30, 10) for b in range(-20, 30, 10)], dtype=torch.float32)
    ab = torch.tensor([[[[0.0, 12.0]], [[0.0, -3.0]]]])  # (1, 2, 1, 2): two pixels
    z = soft_targets(ab, centres)
    assert torch.allclose(z.sum(1), torch.ones(1, 1, 2)) and (z > 0).sum(1).eq(5).all()  # 5 nearest bins
    assert centres[z[0, :, 0, 0].argmax()].tolist() == [0.0, 0.0] and centres[z[0, :, 0, 1].argmax()].tolist() == [10.0, 0.0]
    prior = torch.full((len(centres),), 0.2 / (len(centres) - 1))
    prior[12] = 0.8  # one common colour (a = b = 0)
    w = class_weights(centres, prior)
    assert abs(float((w * prior).sum()) - 1) < 1e-5 and w[12] < w.min() * 1.001 < w.max() / 3  # rare colours count more


def test_training_resumes_and_exports_a_working_plugin(tmp_path, scratch_zoo):
    from hific_codec.train import colorize as train

    rng = np.random.default_rng(0)
    for k in range(3):  # file 0 is held out, as in the training split
        Image.fromarray(rng.integers(0, 256, (160, 200, 3), dtype=np.uint8)).save(tmp_path / f"{k}.png")
    args = ["--run-dir", str(tmp_path / "run"), "--data", str(tmp_path), "--batch", "2", "--threads", "1"]
    train.main(args + ["--steps", "2"])
    train.main(args + ["--steps", "3"])  # resumes at step 2
    from hific_codec import checkpoint, zoo

    assert checkpoint.load_meta(tmp_path / "run" / "last.safetensors")["step"] == 3
    zoo.entries.cache_clear()
    train.main(["--export", str(tmp_path / "run" / "last.safetensors")])
    out = plugins.create("colorize")(np.full((40, 56), 128, np.uint8))
    assert out.shape == (40, 56, 3) and out.dtype == np.uint8
