"""A starting point for overfitted coding: the ARM and synthesis fitted jointly to many training
crops (each crop its own latents, the networks shared), with the per-image fit's own schedule.

Each encode at effort 3 and up then starts its networks from these weights instead of a random
draw (its latents still start at zero), which spends fewer of its iterations on learning what
every photo shares.  The file holds about 1,500 numbers; the encoder alone reads it, so a file's
bytes never depend on it being present.

    python -m hific_codec.train.overfit_start --crops 12 --crop 256 --iterations 1500 \
        --out hific_codec/weights/overfit-start.safetensors
"""
from __future__ import annotations

import argparse
import json
import math
import time

import torch

from ..overfit import lmbda as quality_lmbda
from ..overfit.fit import FitConfig, _stage
from ..overfit.model import OverfitConfig, OverfitModel
from .data import CropSampler, DataConfig, load_split


def train(crops: torch.Tensor, cfg: OverfitConfig, fc: FitConfig, log=print) -> OverfitModel:
    """Fit one ARM and synthesis to ``crops`` (B, 3, h, w) in [0, 1], each crop its own latents."""
    torch.manual_seed(fc.seed)
    b, _, h, w = crops.shape
    model = OverfitModel(cfg, h, w, batch=b)
    opt = torch.optim.Adam(model.parameters(), lr=fc.lr)
    t0 = time.time()
    for it in range(fc.iterations):
        _hard, lr, quantise = _stage(it, fc.iterations, fc)
        for g in opt.param_groups:
            g["lr"] = lr
        xh, bits = model(quantise)
        mse = torch.mean((xh[:, :, :h, :w] - crops) ** 2)
        bpp = bits / (b * h * w)
        loss = mse + fc.lmbda * bpp
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if (it + 1) % 50 == 0 or it + 1 == fc.iterations:
            log(f"{it + 1}/{fc.iterations} bpp {bpp.item():.3f} psnr {-10 * math.log10(mse.item()):.2f} "
                f"{time.time() - t0:.0f} s")
    return model


def networks(model: OverfitModel) -> dict[str, torch.Tensor]:
    """The shared part of a model (ARM and synthesis), as the encoder's starting point."""
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items() if not k.startswith("latents.")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hific_codec.train.overfit_start", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=DataConfig.root)
    ap.add_argument("--crops", type=int, default=12)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--iterations", type=int, default=1500)
    ap.add_argument("--quality", type=float, default=50.0, help="λ of this quality (overfit.lmbda)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    from safetensors.torch import save_file

    torch.set_num_threads(a.threads)
    train_imgs, _ = load_split(DataConfig(root=a.data, crop=a.crop))
    crops = CropSampler(train_imgs, a.crop, a.seed).batch(a.crops)
    fc = FitConfig(iterations=a.iterations, lmbda=quality_lmbda(a.quality), seed=a.seed)
    cfg = OverfitConfig()
    model = train(crops, cfg, fc, log=lambda s: print(s, flush=True))
    meta = {"config": json.dumps(cfg.to_dict()), "crops": str(a.crops), "crop": str(a.crop),
            "iterations": str(a.iterations), "quality": str(a.quality), "seed": str(a.seed)}
    save_file(networks(model), a.out, metadata=meta)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
