"""The super-resolution network and its training script (mechanics; the trained plugins are
evaluated by `python -m benchmarks.sr`)."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from hific_codec.models.sr import SRConfig, SRNet
from hific_codec.train import sr as train_sr


@pytest.mark.parametrize("scale", [2, 4])
def test_output_size_and_bicubic_skip(scale):
    net = SRNet(SRConfig(scale=scale, channels=8, blocks=1))
    for p in net.up[-1].parameters():
        torch.nn.init.zeros_(p)  # no correction: the output is exactly bicubic upsampling
    lr = torch.rand(1, 3, 10, 12)
    out = net(lr)
    assert out.shape == (1, 3, 10 * scale, 12 * scale)
    assert torch.allclose(out, torch.nn.functional.interpolate(lr, scale_factor=scale, mode="bicubic"))


def test_training_runs_resumes_and_logs(tmp_path):
    rng = np.random.default_rng(0)
    for k in range(3):
        Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).resize((200, 200)).save(tmp_path / f"{k}.png")
    args = ["--scale", "2", "--run-dir", str(tmp_path / "run"), "--data", str(tmp_path), "--batch", "2",
            "--patch", "48", "--channels", "8", "--blocks", "1", "--threads", "1"]
    train_sr.main(args + ["--steps", "2"])
    train_sr.main(args + ["--steps", "4"])  # resumes at step 2
    rows = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4] and all(np.isfinite(r["val_psnr_y"]) for r in rows)


@pytest.mark.parametrize("name, scale", [("sr4", 4)])
def test_sr_plugin_tiles_without_seams(name, scale, crop):
    """The plugin's 128-px tiles with a 20-px halo give what one pass over the whole image gives."""
    from hific_codec import plugins
    from hific_codec.plugins import sr as sr_plugin

    img = np.ascontiguousarray(crop[:150, :170])  # two tiles each way, ragged last ones
    p = plugins.create(name)
    out = p(img)
    assert out.shape == (150 * scale, 170 * scale, 3) and out.dtype == np.uint8
    H = sr_plugin.HALO
    x = torch.from_numpy(np.pad(img, ((H, H), (H, H), (0, 0)), mode="edge")).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        whole = p.net(x)[0, :, H * scale : (H + 150) * scale, H * scale : (H + 170) * scale]
    whole = whole.mul(255).round().clamp(0, 255).permute(1, 2, 0).to(torch.uint8).numpy()
    assert np.abs(out.astype(int) - whole).max() <= 1  # float summation order only
    bic = plugins.create(f"bicubic{scale}")(img)
    assert np.abs(out.astype(int) - bic).mean() > 0.5  # the network does change the bicubic result
