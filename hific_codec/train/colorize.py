"""Train the ``colorize`` plugin's network, or its L2 regression reference.  Resumable; CPU.

    python -m hific_codec.train.colorize --run-dir runs/colorize --steps 2500
    python -m hific_codec.train.colorize --run-dir runs/colorize-l2 --regression --steps 2500
    python -m hific_codec.train.colorize --export runs/colorize/last.safetensors

Training photos (the codec's split; the held-out files are never trained on) are kept at two
sizes, short side 256 and 176, and the network sees random 128x128 crops of them, flipped left to
right only (skies stay up).  Classification (Zhang et al. 2016): ab is quantised on a grid of
step 10; the bins are those the training photos use; the target is a soft encoding of each
pixel's colour over its 5 nearest bins (Gaussian, σ = 5) and the cross-entropy is weighted by
the inverse of the smoothed colour prior mixed half-and-half with uniform, so that rare, vivid
colours count as much as the common greys and browns.  ``--regression``: the same network with
2 outputs and an L2 loss on ab, the plain reference.  Held-out PSNR and colourfulness go to
``<run>/log.jsonl`` every 250 steps.
"""
from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .. import checkpoint
from ..models.colorize import ColorizeConfig, ColorizeNet, colorize, rgb_to_lab
from .data import DataConfig, load_split
from .run import Run, tail_cosine

GRID = 10.0  # ab bin step
SIGMA = 5.0  # soft encoding and prior smoothing, in ab units
NEIGHBOURS = 5
MIX = 0.5  # rebalancing: weight ∝ 1 / ((1 - MIX) prior + MIX / Q)
SIDES = (256, 176)


@dataclasses.dataclass(frozen=True)
class ColorizeTrainConfig:
    steps: int = 2500
    batch: int = 16
    crop: int = 128
    lr: float = 1e-3
    regression: bool = False


def _resize_short(a: np.ndarray, side: int) -> np.ndarray:
    h, w = a.shape[:2]
    s = side / min(h, w)
    return np.asarray(Image.fromarray(a).resize((max(side, round(w * s)), max(side, round(h * s))), Image.BICUBIC))


class Crops:
    """Batches of (B, 3, c, c) RGB in 0..1 from the photos at the SIDES sizes."""

    def __init__(self, images: list[np.ndarray], crop: int, seed: int):
        self.images = [_resize_short(a, s) for a in images for s in SIDES]
        self.crop, self.rng = crop, np.random.default_rng(seed)

    def batch(self, n: int) -> torch.Tensor:
        c, r = self.crop, self.rng
        out = np.empty((n, c, c, 3), np.uint8)
        for k in range(n):
            a = self.images[r.integers(len(self.images))]
            i, j = r.integers(0, a.shape[0] - c + 1), r.integers(0, a.shape[1] - c + 1)
            p = a[i : i + c, j : j + c]
            out[k] = p[:, ::-1] if r.random() < 0.5 else p
        return torch.from_numpy(out).permute(0, 3, 1, 2).float().div_(255)


def colour_prior(images: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """(centres (Q, 2), prior (Q,)): the ab bins the photos use and how often, from every 4th pixel."""
    counts = torch.zeros(23, 23, dtype=torch.float64)
    for a in images:
        lab = rgb_to_lab(torch.from_numpy(np.ascontiguousarray(a[::4, ::4])).permute(2, 0, 1)[None].float() / 255)
        idx = ((lab[0, 1:] / GRID).round().clamp(-11, 11) + 11).long().reshape(2, -1)
        counts.index_put_((idx[0], idx[1]), torch.ones(idx.shape[1], dtype=torch.float64), accumulate=True)
    keep = counts > 0
    ia, ib = torch.nonzero(keep, as_tuple=True)
    centres = torch.stack([ia, ib], 1).float().sub(11).mul(GRID)
    p = counts[keep] / counts.sum()
    return centres, p.float()


def class_weights(centres: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """Per-bin loss weights: the prior smoothed over ab, mixed with uniform, inverted, E_prior[w] = 1."""
    d2 = torch.cdist(centres, centres) ** 2
    smooth = torch.exp(-d2 / (2 * SIGMA**2)) @ prior
    smooth = smooth / smooth.sum()
    w = 1.0 / ((1 - MIX) * smooth + MIX / len(prior))
    return w / (w * prior).sum()


def soft_targets(ab: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """(B, 2, h, w) ab -> (B, Q, h, w): each pixel's colour spread over its nearest bins."""
    B, _, h, w = ab.shape
    flat = ab.permute(0, 2, 3, 1).reshape(-1, 2)
    d2 = torch.cdist(flat, centres) ** 2
    near, idx = d2.topk(NEIGHBOURS, dim=1, largest=False)
    wts = torch.softmax(-near / (2 * SIGMA**2), 1)
    z = torch.zeros(flat.shape[0], len(centres)).scatter_(1, idx, wts)
    return z.view(B, h, w, -1).permute(0, 3, 1, 2)


def loss_fn(net: ColorizeNet, rgb: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    lab = rgb_to_lab(rgb)
    out = net(lab[:, :1] / 100)
    ab = F.avg_pool2d(lab[:, 1:], 4)  # the network predicts at 1/4
    if weights is None:
        return F.mse_loss(out, ab / 110)
    z = soft_targets(ab, net.centres)
    ce = -(z * F.log_softmax(out, 1)).sum(1)
    return (ce * weights[z.argmax(1)]).mean()


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler & Süsstrunk (2003) colourfulness M of an (h, w, 3) uint8 image."""
    r, g, b = (rgb[..., k].astype(np.float64) for k in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dir", default="runs/colorize")
    ap.add_argument("--data", default=DataConfig.root)
    ap.add_argument("--steps", type=int, default=ColorizeTrainConfig.steps)
    ap.add_argument("--batch", type=int, default=ColorizeTrainConfig.batch)
    ap.add_argument("--lr", type=float, default=ColorizeTrainConfig.lr)
    ap.add_argument("--regression", action="store_true", help="2 outputs and an L2 loss (the reference)")
    ap.add_argument("--minutes", type=float, default=1e9)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--export", metavar="CKPT", help="write the network of CKPT to the zoo as NAME and stop")
    ap.add_argument("--name", default="colorize")
    a = ap.parse_args(argv)
    if a.export:
        return export(a.export, a.name)
    torch.set_num_threads(a.threads)
    tc = ColorizeTrainConfig(steps=a.steps, batch=a.batch, lr=a.lr, regression=a.regression)
    run = Run(a.run_dir)
    meta = {"step": 0, "seconds": 0.0}
    if run.last.exists():
        meta = checkpoint.load_meta(run.last)
    train, val = load_split(DataConfig(root=a.data, crop=tc.crop))
    centres, prior = colour_prior(train)
    cfg = ColorizeConfig(bins=0 if tc.regression else len(centres))
    torch.manual_seed(meta["step"])
    net = ColorizeNet(cfg)
    weights = None
    if not tc.regression:
        net.centres.copy_(centres)
        weights = class_weights(centres, prior)
    opt = torch.optim.Adam(net.parameters(), lr=tc.lr)
    if run.last.exists():
        checkpoint.load(run.last, net, opt)
    crops = Crops(train, tc.crop, seed=meta["step"])
    vals = [_resize_short(v, 256) for v in val]
    true_colour = float(np.mean([colourfulness(v) for v in vals]))

    def save(meta):
        meta.update(model_config=dataclasses.asdict(cfg), train_config=dataclasses.asdict(tc))
        checkpoint.save(run.last, net, opt, meta)

    def step(k):
        for g in opt.param_groups:
            g["lr"] = tail_cosine(k, tc.steps, tc.lr)
        loss = loss_fn(net, crops.batch(tc.batch), weights)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss.item()}

    def report():
        net.eval()
        outs = [colorize(net, v) for v in vals]
        net.train()
        return {"psnr": float(np.mean([psnr(o, v) for o, v in zip(outs, vals)])),
                "colourfulness": float(np.mean([colourfulness(o) for o in outs])),
                "colourfulness_true": true_colour}

    run.train(meta, tc.steps, a.minutes, step, save, every=250, report=report)


def load_checkpoint(ckpt: str) -> tuple[ColorizeNet, dict]:
    """(network, meta) of a training checkpoint: the shipped network's or the L2 reference's."""
    meta = checkpoint.load_meta(ckpt)
    net = ColorizeNet(ColorizeConfig.from_dict(meta["model_config"]))
    checkpoint.load(ckpt, net)
    return net, meta


def export(ckpt: str, name: str) -> None:
    from .export import publish

    net, meta = load_checkpoint(ckpt)
    cfg = net.cfg
    how = "L2 regression of ab" if not cfg.bins else f"rebalanced cross-entropy over {cfg.bins} ab bins"
    publish(name, net.state_dict(), "colorize", dataclasses.asdict(cfg), meta,
            f"automatic colorization (Zhang et al. 2016), U-Net with global features, {how}, training photos")


if __name__ == "__main__":
    main()
