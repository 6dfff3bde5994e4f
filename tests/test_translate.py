"""pix2pix translation: palette, training mechanics, export and the plugin, on tiny synthetic pairs."""

import numpy as np
import pytest
import torch
from PIL import Image

from hific_codec import checkpoint, plugins, zoo
from hific_codec.models.pix2pix import PatchDiscriminator, Pix2PixConfig, UNetGenerator, classify
from hific_codec.train import pix2pix as train_p2p


def test_palette_recovers_noisy_label_colours():
    rng = np.random.default_rng(0)
    colours = np.array([[0, 0, 170], [255, 85, 0], [0, 255, 255]], np.uint8)
    maps = [colours[rng.integers(0, 3, (16, 16))].repeat(4, 0).repeat(4, 1).astype(int) for _ in range(4)]
    noisy = [np.clip(m + rng.integers(-12, 13, m.shape), 0, 255).astype(np.uint8) for m in maps]  # JPEG-like noise
    pal = train_p2p.palette(noisy, k=3).astype(int)
    dist = np.abs(colours.astype(int)[:, None] - pal[None]).max(-1)  # (true colour, palette entry)
    assert (dist.min(1) <= 3).all() and len(set(dist.argmin(1))) == 3  # one entry per colour, within 3 levels
    assert (classify(noisy[0], pal) == classify(maps[0].astype(np.uint8), pal)).mean() > 0.99


def test_unet_and_patchgan_shapes():
    cfg = Pix2PixConfig(ngf=4, ndf=4, levels=4)
    x = torch.rand(2, 3, 32, 48) * 2 - 1
    y = UNetGenerator(cfg)(x)
    assert y.shape == x.shape and y.abs().max() <= 1
    assert PatchDiscriminator(cfg)(x, y).shape == (2, 1, 2, 4)


@pytest.fixture()
def facades(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "train").mkdir()
    for k in range(6):
        labels = np.array([[0, 0, 170], [255, 85, 0]], np.uint8)[rng.integers(0, 2, (8, 8))].repeat(8, 0).repeat(8, 1)
        photo = np.clip(labels.astype(int) // 2 + rng.integers(0, 60, labels.shape), 0, 255).astype(np.uint8)
        Image.fromarray(np.concatenate([photo, labels], 1)).save(tmp_path / "train" / f"{k + 1}.jpg", quality=95)
    return tmp_path


def test_training_resumes_exports_and_the_plugin_runs(facades, tmp_path, scratch_zoo):
    args = ["--direction", "photo2labels", "--run-dir", str(tmp_path / "run"), "--data", str(facades),
            "--size", "64", "--ngf", "4", "--threads", "1", "--batch", "2"]
    train_p2p.main(args + ["--steps", "2"])
    train_p2p.main(args + ["--steps", "3"])  # resumes at step 2
    meta = checkpoint.load_meta(tmp_path / "run" / "last.safetensors")
    assert meta["step"] == 3 and len(meta["palette"]) == train_p2p.CLASSES
    zoo.entries.cache_clear()
    train_p2p.main(["--export", str(tmp_path / "run" / "last.safetensors")])
    img = np.random.default_rng(1).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    out = plugins.create("translate:facades-photo2labels")(img)
    assert out.shape == img.shape
    pal = {tuple(c) for c in zoo.get("facades-photo2labels").config["palette"]}
    assert {tuple(c) for c in out.reshape(-1, 3)} <= pal  # a clean label map


def test_translate_spec_errors():
    with pytest.raises(plugins.PluginError, match="translate needs one of"):
        plugins.create("translate:cats2dogs")


def test_shipped_labels2photo_draws_dark_windows_on_a_lighter_wall():
    """The shipped generator has learned what a facade looks like: on a synthetic label map (the
    palette's wall colour with a grid of window-coloured rectangles) the window pixels come out
    darker than the wall, as in the training photos (mean luminance there: windows 71, wall 115)."""
    pal = np.array(zoo.get("facades-labels2photo").config["palette"], np.int64)
    wall = int(np.argmin(np.abs(pal - [0, 0, 221]).sum(1)))  # CMP: facade (dark blue)
    window = int(np.argmin(np.abs(pal - [0, 196, 255]).sum(1)))  # CMP: window (light blue)
    m = np.full((256, 256), wall)
    for i in range(20, 236, 48):
        for j in range(20, 236, 48):
            m[i : i + 24, j : j + 20] = window
    out = plugins.create("translate:facades-labels2photo")(pal[m].astype(np.uint8)).mean(axis=2)
    assert out[m == window].mean() < out[m == wall].mean() - 10


def test_cycle_trains_without_pairs_resumes_exports_and_both_plugins_run(facades, tmp_path, scratch_zoo, monkeypatch):
    """The CycleGAN trainer draws photos and label maps independently; it resumes, exports both
    generators, and the cycle:* plugins return images of the input's size (label maps snapped to
    the palette), the same on every call."""
    import functools

    from hific_codec.models.cycle import CycleConfig
    from hific_codec.train import cycle as train_cycle

    monkeypatch.setattr(train_cycle, "CycleConfig", functools.partial(CycleConfig, ngf=4, blocks=1, size=32))
    args = ["--run-dir", str(tmp_path / "run"), "--data", str(facades), "--threads", "1"]
    train_cycle.main(args + ["--steps", "2"])
    train_cycle.main(args + ["--steps", "3"])  # resumes at step 2
    meta = checkpoint.load_meta(tmp_path / "run" / "last.safetensors")
    assert meta["step"] == 3 and meta["model_config"]["size"] == 32
    zoo.entries.cache_clear()
    train_cycle.main(["--export", str(tmp_path / "run" / "last.safetensors")])
    img = np.random.default_rng(1).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    labels = plugins.create("cycle:photo2labels")(img)
    pal = {tuple(c) for c in zoo.get("facades-cycle-photo2labels").config["palette"]}
    assert labels.shape == img.shape and {tuple(c) for c in labels.reshape(-1, 3)} <= pal
    photo = plugins.create("cycle:labels2photo")
    assert photo(img).shape == img.shape and np.array_equal(photo(img), photo(img))


def test_cycle_spec_errors():
    with pytest.raises(plugins.PluginError, match="cycle needs one of: labels2photo, photo2labels"):
        plugins.create("cycle:facades-labels2photo")


def test_unpaired_batches_do_not_follow_the_pairing():
    """Photo i and label map i are never drawn together by construction: the two indexes come from
    separate draws (checked over many draws: they agree about as often as chance)."""
    from hific_codec.train.cycle import draw_pair

    rng = np.random.default_rng(0)
    same = np.mean([np.equal(*draw_pair(rng, 100)) for _ in range(5000)])
    assert same < 0.03
