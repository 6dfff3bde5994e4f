"""Train pix2pix on the CMP facades pairs, one direction per run.  Resumable.

    python -m hific_codec.train.pix2pix --direction labels2photo --run-dir runs/p2p_l2p --steps 4000
    python -m hific_codec.train.pix2pix --export runs/p2p_l2p/last.safetensors

Isola et al. (2017): L_G = GAN(D(x, G(x))) + 100 · |y − G(x)|_1, L_D = ½ [BCE(D(x, y), 1) + BCE(D(x, G(x)), 0)];
Adam 2e-4, β1 = 0.5; jitter = resize to 286 and random 256 crop, plus mirroring; the learning
rate decays linearly to 0 over the second half of the steps.  Every 20th training pair is held
out for the validation L1; the test split is only for the benchmark report.  The label palette
(12 CMP classes) is found by k-means over the training label maps (they are JPEGs, so their
colours are noisy) and saved with the weights: the photo->labels plugin snaps its output to it,
and the benchmark scores per-pixel class accuracy with it.
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.nn.functional import binary_cross_entropy_with_logits as bce

from .. import checkpoint
from ..models.pix2pix import PatchDiscriminator, Pix2PixConfig, UNetGenerator, to_tensor
from .run import Run

DATA = "../shared/data/facades"
CLASSES = 12


@dataclasses.dataclass(frozen=True)
class P2PTrainConfig:
    steps: int = 4000
    batch: int = 4
    lr: float = 2e-4
    l1: float = 100.0
    size: int = 256
    jitter: int = 286
    seed: int = 0


def load_pairs(folder: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(photo, labels) uint8 pairs from pix2pix's side-by-side files (photo left, labels right)."""
    out = []
    for f in sorted(folder.glob("*.jpg"), key=lambda p: (len(p.stem), p.stem)):
        a = np.asarray(Image.open(f).convert("RGB"))
        w = a.shape[1] // 2
        out.append((a[:, :w], a[:, w:]))
    return out


def palette(labels: list[np.ndarray], k: int = CLASSES, iters: int = 25, seed: int = 0) -> np.ndarray:
    """k-means colour centres (k, 3) of the label maps, sorted by luminance for a stable order."""
    rng = np.random.default_rng(seed)
    px = np.concatenate([a.reshape(-1, 3) for a in labels]).astype(np.float64)
    px = px[rng.choice(len(px), min(len(px), 200_000), replace=False)]
    c = px[[rng.integers(len(px))]]
    for _ in range(1, k):  # k-means++ seeding
        d = ((px[:, None] - c[None]) ** 2).sum(-1).min(1)
        c = np.vstack([c, px[rng.choice(len(px), p=d / d.sum())]])
    for _ in range(iters):
        idx = ((px[:, None] - c[None]) ** 2).sum(-1).argmin(1)
        c = np.stack([px[idx == j].mean(0) if (idx == j).any() else c[j] for j in range(k)])
    return np.round(c[np.argsort(c @ [0.299, 0.587, 0.114])]).astype(np.uint8)


class Jitter:
    def __init__(self, pairs, tc: P2PTrainConfig, direction: str, seed: int):
        self.pairs, self.tc, self.rng = pairs, tc, np.random.default_rng(seed)
        self.swap = direction == "photo2labels"

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        tc, xs, ys = self.tc, [], []
        for _ in range(tc.batch):
            photo, labels = self.pairs[self.rng.integers(len(self.pairs))]
            src, dst = (photo, labels) if self.swap else (labels, photo)
            i, j = self.rng.integers(0, tc.jitter - tc.size + 1, 2)
            flip = self.rng.random() < 0.5
            for a, acc, resample in ((src, xs, Image.NEAREST if not self.swap else Image.BICUBIC),
                                     (dst, ys, Image.BICUBIC if not self.swap else Image.NEAREST)):
                b = np.asarray(Image.fromarray(a).resize((tc.jitter, tc.jitter), resample))[i : i + tc.size, j : j + tc.size]
                acc.append(to_tensor(b[:, ::-1] if flip else b))
        return torch.stack(xs), torch.stack(ys)


class Pair(torch.nn.Module):
    def __init__(self, cfg: Pix2PixConfig):
        super().__init__()
        self.G, self.D = UNetGenerator(cfg), PatchDiscriminator(cfg)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--direction", choices=["labels2photo", "photo2labels"], default="labels2photo")
    ap.add_argument("--run-dir", "--run", dest="run")
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--steps", type=int, default=P2PTrainConfig.steps)
    ap.add_argument("--batch", type=int, default=P2PTrainConfig.batch)
    ap.add_argument("--size", type=int, default=P2PTrainConfig.size, help="crop side (jitter resize is +12%%)")
    ap.add_argument("--ngf", type=int, default=Pix2PixConfig.ngf)
    ap.add_argument("--minutes", type=float, default=1e9)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--export", metavar="CKPT", help="write the generator of CKPT to the zoo and stop")
    a = ap.parse_args(argv)
    if a.export:
        return export(a.export)
    torch.set_num_threads(a.threads)
    run = Run(a.run or f"runs/p2p_{a.direction}")
    last = run.last
    tc = P2PTrainConfig(steps=a.steps, batch=a.batch, size=a.size, jitter=a.size * 286 // 256)
    mc = Pix2PixConfig(direction=a.direction, ngf=a.ngf, ndf=a.ngf)
    meta: dict = {"step": 0, "seconds": 0.0}
    if last.exists():
        meta = checkpoint.load_meta(last)
        tc = dataclasses.replace(P2PTrainConfig(**meta["train_config"]), steps=a.steps)
        mc = Pix2PixConfig(**meta["model_config"])
    pairs = load_pairs(Path(a.data) / "train")
    if not pairs:
        raise SystemExit(f"no facades pairs under {a.data}/train")
    val, train = pairs[::20], [p for k, p in enumerate(pairs) if k % 20]
    if "palette" not in meta:
        meta["palette"] = palette([lab for _, lab in train]).tolist()
    torch.manual_seed(tc.seed + meta["step"])
    pair = Pair(mc)
    opt = torch.optim.Adam([{"params": pair.G.parameters()}, {"params": pair.D.parameters()}], lr=tc.lr, betas=(0.5, 0.999))
    if last.exists():
        checkpoint.load(last, pair, opt)
        print(f"resumed at step {meta['step']}", flush=True)
    G, D = pair.G, pair.D
    jit = Jitter(train, tc, mc.direction, tc.seed + meta["step"] + 1)

    def save(meta) -> None:
        meta.update(model_config=dataclasses.asdict(mc), train_config=dataclasses.asdict(tc))
        checkpoint.save(last, pair, opt, meta)

    def step(k):
        for g in opt.param_groups:
            g["lr"] = tc.lr * min(1.0, 2 * (1 - k / tc.steps))
        x, y = jit.batch()
        fake = G(x)
        opt.zero_grad(set_to_none=True)
        real_logit, fake_logit = D(x, y), D(x, fake.detach())
        l_d = 0.5 * (bce(real_logit, torch.ones_like(real_logit)) + bce(fake_logit, torch.zeros_like(fake_logit)))
        l_d.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        logit = D(x, fake)
        l1 = (fake - y).abs().mean()
        l_g = bce(logit, torch.ones_like(logit)) + tc.l1 * l1
        l_g.backward()
        for p in D.parameters():
            p.grad = None
        opt.step()
        return {"l_d": l_d.item(), "l1": l1.item()}

    run.train(meta, tc.steps, a.minutes, step, save, every=50,
              report=lambda: {"val_l1": validate(G, val, mc.direction, tc.size)})


@torch.no_grad()
def validate(G: UNetGenerator, val, direction: str, size: int) -> float:
    G.eval()
    errs = []
    for photo, labels in val:
        src, dst = (photo, labels) if direction == "photo2labels" else (labels, photo)
        s = np.asarray(Image.fromarray(src).resize((size, size), Image.BICUBIC))
        d = np.asarray(Image.fromarray(dst).resize((size, size), Image.BICUBIC))
        errs.append((G(to_tensor(s)[None])[0] - to_tensor(d)).abs().mean().item())
    G.train()
    return float(np.mean(errs))


def export(ckpt: str) -> None:
    from .export import publish

    meta = checkpoint.load_meta(ckpt)
    mc = Pix2PixConfig(**meta["model_config"])
    pair = Pair(mc)
    checkpoint.load(ckpt, pair)
    publish(f"facades-{mc.direction}", pair.G.state_dict(), "translate",
            {**dataclasses.asdict(mc), "palette": meta["palette"]}, meta,
            "pix2pix U-Net + PatchGAN on CMP facades train (every 20th pair held out)",
            train_config=meta["train_config"])


if __name__ == "__main__":
    main()
