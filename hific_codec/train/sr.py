"""Train the super-resolution plugins' networks (x2, x4).  Resumable; CPU by default.

    python -m hific_codec.train.sr --scale 4 --run-dir runs/sr4 --steps 20000 --minutes 120

Pairs are made on the fly from the training photos (the same split as the codec: JPEGs
downsampled by 2 first, every 12th file held out): a random HR crop, flipped and rotated, and its
bicubic downscale (Pillow, antialiased, like MATLAB's imresize used by the SR test sets).  L1 loss,
Adam with cosine decay over the last 30% of ``--steps``.  The held-out PSNR (Y channel, border
cropped), next to bicubic's on the same crops, goes to ``<run>/log.jsonl``.
"""
from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import torch
from PIL import Image

from .. import checkpoint
from ..models.sr import SRConfig, SRNet
from .data import CropSampler, DataConfig, load_split
from .run import Run, tail_cosine


def downscale(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """Bicubic downscale of (B, 3, H, W) 0..1 through Pillow (antialiased), quantised to 8 bits."""
    out = []
    for im in hr:
        a = (im.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        h, w = a.shape[0] // scale, a.shape[1] // scale
        lr = np.array(Image.fromarray(a).resize((w, h), Image.BICUBIC))
        out.append(torch.from_numpy(lr).permute(2, 0, 1).float() / 255)
    return torch.stack(out)


def y_psnr(a: torch.Tensor, b: torch.Tensor, border: int) -> float:
    w = torch.tensor([65.481, 128.553, 24.966]).view(1, 3, 1, 1)
    ya, yb = (a.clamp(0, 1) * w).sum(1), (b * w).sum(1)  # the +16 offset cancels
    mse = (ya - yb)[:, border:-border, border:-border].pow(2).mean()
    return float(10 * torch.log10(255.0**2 / mse))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--run-dir", default=None)
    ap.add_argument("--data", default=DataConfig.root)
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=96, help="HR crop side")
    ap.add_argument("--lr", type=float, default=4e-4)
    ap.add_argument("--minutes", type=float, default=1e9)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--channels", type=int, default=SRConfig.channels)
    ap.add_argument("--blocks", type=int, default=SRConfig.blocks)
    ap.add_argument("--init", metavar="CKPT", help="start a new run from the tensors of CKPT whose names and shapes match "
                    "(e.g. sr2 from sr4: head and body carry over, the upsampler starts fresh)")
    ap.add_argument("--export", metavar="CKPT", help="write the network of CKPT to the zoo as sr<scale> and stop")
    a = ap.parse_args(argv)
    if a.export:
        return export(a.export)
    torch.set_num_threads(a.threads)
    run = Run(a.run_dir or f"runs/sr{a.scale}")
    last = run.last
    cfg = SRConfig(scale=a.scale, channels=a.channels, blocks=a.blocks)
    meta = {"step": 0, "seconds": 0.0}
    if last.exists():
        meta = checkpoint.load_meta(last)
        cfg = SRConfig(**meta["model_config"])
    torch.manual_seed(meta["step"])
    model = SRNet(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    if last.exists():
        checkpoint.load(last, model, opt)
    elif a.init:
        print(f"initialised {init_from(model, a.init)} tensors from {a.init}")
    train, val = load_split(DataConfig(root=a.data, crop=a.patch))
    sampler = CropSampler(train, a.patch, seed=meta["step"])
    crop = lambda v: v[: min(192, v.shape[0]) // cfg.scale * cfg.scale, : min(192, v.shape[1]) // cfg.scale * cfg.scale]
    vs = [torch.from_numpy(np.array(crop(v))).permute(2, 0, 1).float()[None] / 255 for v in val]
    val_pairs = [(downscale(v, cfg.scale), v) for v in vs]
    def save(meta):
        meta.update(model_config=dataclasses.asdict(cfg))
        checkpoint.save(last, model, opt, meta)

    def step(k):
        for g in opt.param_groups:
            g["lr"] = tail_cosine(k, a.steps, a.lr)
        hr = sampler.batch(a.batch)
        loss = (model(downscale(hr, cfg.scale)) - hr).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss.item()}

    @torch.no_grad()
    def report():
        model.eval()
        p = np.mean([y_psnr(model(lr), hr, cfg.scale) for lr, hr in val_pairs])
        b = np.mean([y_psnr(torch.nn.functional.interpolate(lr, scale_factor=cfg.scale, mode="bicubic"), hr, cfg.scale)
                     for lr, hr in val_pairs])
        model.train()
        return {"val_psnr_y": p, "val_bicubic_psnr_y": b}

    run.train(meta, a.steps, a.minutes, step, save, every=500, report=report)


def init_from(model: torch.nn.Module, ckpt: str) -> int:
    """Copy the tensors of another SR checkpoint that fit this network; return how many."""
    from safetensors.torch import load_file

    src = {k[6:]: v for k, v in load_file(ckpt).items() if k.startswith("model.")}
    own = model.state_dict()
    fit = {k: v for k, v in src.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(fit, strict=False)
    return len(fit)


def export(ckpt: str) -> None:
    from .export import publish

    meta = checkpoint.load_meta(ckpt)
    cfg = SRConfig(**meta["model_config"])
    model = SRNet(cfg)
    checkpoint.load(ckpt, model)
    publish(f"sr{cfg.scale}", model.state_dict(), "sr", dataclasses.asdict(cfg), meta,
            "EDSR-style residual CNN on a bicubic skip, L1 loss on HR crops of the training photos "
            "(LR made by bicubic downscaling)")


if __name__ == "__main__":
    main()
