"""Style-transfer plugin and its training script, on tiny images."""
import json

import numpy as np
import pytest
from PIL import Image

from hific_codec import plugins, zoo
from hific_codec.models.style import StyleConfig, StyleNet
from hific_codec.train import style as train_style


def test_style_plugin_on_a_tiny_image(crop):
    entry = zoo.get("style-4")
    img = np.ascontiguousarray(crop[:30, :42])  # not a multiple of 4: padded and cropped back
    outs = {}
    for name in entry.config["styles"]:
        out = plugins.create(f"style:{name}")(img)
        assert out.shape == img.shape and out.dtype == np.uint8
        outs[name] = out
    # each style is a different function of the same input, and none is the identity
    names = list(outs)
    assert all(np.abs(outs[a].astype(int) - outs[b]).mean() > 5 for i, a in enumerate(names) for b in names[i + 1:])
    assert all(np.abs(o.astype(int) - img).mean() > 5 for o in outs.values())


def test_style_plugin_errors():
    with pytest.raises(plugins.PluginError, match="needs a style name"):
        plugins.create("style")
    with pytest.raises(plugins.PluginError, match="unknown style 'nope'"):
        plugins.create("style:nope")(np.zeros((8, 8, 3), np.uint8))


def test_style_net_keeps_the_size_and_styles_share_convolutions():
    import torch

    net = StyleNet(StyleConfig(styles=("a", "b"), channels=(4, 8, 8), res_blocks=1))
    x = torch.rand(1, 3, 16, 20)
    assert net(x, 0).shape == x.shape
    assert not torch.equal(net.down[0].cin.scale, torch.zeros(0))  # per-style parameters exist
    assert net.down[0].cin.scale.shape == (2, 4)


def test_training_runs_resumes_and_logs(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "data").mkdir()
    (tmp_path / "styles").mkdir()
    for k in range(3):
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).resize((96, 96)).save(tmp_path / "data" / f"{k}.png")
    for name in ("stripes", "dots"):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).resize((128, 128)).save(tmp_path / "styles" / f"{name}.png")
    args = ["--run-dir", str(tmp_path / "run"), "--data", str(tmp_path / "data"), "--crop", "64", "--threads", "1",
            "--styles", "stripes,dots", "--styles-dir", str(tmp_path / "styles")]
    train_style.main(args + ["--steps", "20"])
    train_style.main(args + ["--steps", "40"])  # resumes at step 20
    rows = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [20, 40] and all(np.isfinite(r["style"]) for r in rows)
