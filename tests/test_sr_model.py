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
