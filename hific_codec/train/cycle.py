"""Train CycleGAN on the CMP facades photos and label maps without their pairing.  Resumable.

    python -m hific_codec.train.cycle --run-dir runs/cycle --steps 4000
    python -m hific_codec.train.cycle --export runs/cycle/last.safetensors

The two sets are the pix2pix training split's photos and label maps (every 20th pair held out),
but each batch draws a photo and a label map by independent random indices, so the pairing is
never seen; the test split's pairs are only for the benchmark, which scores both directions
against the ground truth that pix2pix is trained with.  Zhu et al. (2017): least-squares GAN
losses, cycle weight 10, a pool of the last 50 generated images for the critics, Adam 2e-4
(β1 0.5), the learning rate decaying linearly to 0 over the second half; jitter = resize to
1.12 x the working size, random crop, mirroring.
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.nn.functional import mse_loss as mse

from .. import checkpoint
from ..models.cycle import CycleConfig, PatchCritic, ResnetGenerator
from ..models.pix2pix import to_tensor
from .pix2pix import DATA, load_pairs, palette
from .run import Run


@dataclasses.dataclass(frozen=True)
class CycleTrainConfig:
    steps: int = 4000
    batch: int = 1
    lr: float = 2e-4
    cycle: float = 10.0
    pool: int = 50
    seed: int = 0


class Cycle(torch.nn.Module):
    """G: photo -> labels, F: labels -> photo, and their critics."""

    def __init__(self, cfg: CycleConfig):
        super().__init__()
        self.G, self.F = ResnetGenerator(cfg), ResnetGenerator(cfg)
        self.D_labels, self.D_photo = PatchCritic(), PatchCritic()


class Pool:
    """Zhu et al.'s history of generated images: half the time the critic sees an older one."""

    def __init__(self, size: int, rng: np.random.Generator):
        self.size, self.rng, self.items = size, rng, []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = []
        for im in x.detach():
            if len(self.items) < self.size:
                self.items.append(im)
                out.append(im)
            elif self.rng.random() < 0.5:
                k = self.rng.integers(self.size)
                out.append(self.items[k])
                self.items[k] = im
            else:
                out.append(im)
        return torch.stack(out)


def draw_pair(rng: np.random.Generator, n: int) -> tuple[int, int]:
    """(photo index, label map index): two independent draws, so the pairing is never used."""
    return int(rng.integers(n)), int(rng.integers(n))


def jitter(a: np.ndarray, size: int, rng: np.random.Generator, resample) -> torch.Tensor:
    big = size * 286 // 256
    i, j = rng.integers(0, big - size + 1, 2)
    b = np.asarray(Image.fromarray(a).resize((big, big), resample))[i : i + size, j : j + size]
    return to_tensor(b[:, ::-1] if rng.random() < 0.5 else b)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dir", default="runs/cycle")
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--steps", type=int, default=CycleTrainConfig.steps)
    ap.add_argument("--minutes", type=float, default=1e9)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--export", metavar="CKPT", help="write both generators of CKPT to the zoo and stop")
    a = ap.parse_args(argv)
    if a.export:
        return export(a.export)
    torch.set_num_threads(a.threads)
    run = Run(a.run_dir)
    tc, mc = CycleTrainConfig(steps=a.steps), CycleConfig()
    meta: dict = {"step": 0, "seconds": 0.0}
    if run.last.exists():
        meta = checkpoint.load_meta(run.last)
    pairs = load_pairs(Path(a.data) / "train")
    if not pairs:
        raise SystemExit(f"no facades pairs under {a.data}/train")
    train = [p for k, p in enumerate(pairs) if k % 20]
    photos, labels = [p for p, _ in train], [lab for _, lab in train]
    if "palette" not in meta:
        meta["palette"] = palette(labels).tolist()
    torch.manual_seed(tc.seed + meta["step"])
    rng = np.random.default_rng(tc.seed + meta["step"] + 1)
    m = Cycle(mc)
    opt_g = torch.optim.Adam([*m.G.parameters(), *m.F.parameters()], lr=tc.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam([*m.D_labels.parameters(), *m.D_photo.parameters()], lr=tc.lr, betas=(0.5, 0.999))
    if run.last.exists():
        checkpoint.load(run.last, m)
    pool_l, pool_p = Pool(tc.pool, rng), Pool(tc.pool, rng)

    def save(meta) -> None:
        meta.update(model_config=dataclasses.asdict(mc), train_config=dataclasses.asdict(tc))
        checkpoint.save(run.last, m, None, meta)  # the optimisers restart on resume (Adam re-warms in a few steps)

    def step(k):
        lr = tc.lr * min(1.0, 2 * (1 - k / tc.steps))
        for opt in (opt_g, opt_d):
            for g in opt.param_groups:
                g["lr"] = lr
        ij = [draw_pair(rng, len(train)) for _ in range(tc.batch)]
        photo = torch.stack([jitter(photos[i], mc.size, rng, Image.BICUBIC) for i, _ in ij])
        lab = torch.stack([jitter(labels[j], mc.size, rng, Image.NEAREST) for _, j in ij])
        fake_lab, fake_photo = m.G(photo), m.F(lab)
        s_l, s_p = m.D_labels(fake_lab), m.D_photo(fake_photo)
        l_gan = mse(s_l, torch.ones_like(s_l)) + mse(s_p, torch.ones_like(s_p))
        l_cyc = (m.F(fake_lab) - photo).abs().mean() + (m.G(fake_photo) - lab).abs().mean()
        opt_g.zero_grad(set_to_none=True)
        (l_gan + tc.cycle * l_cyc).backward()
        opt_g.step()
        d = 0.0
        for D, real, fake in ((m.D_labels, lab, pool_l(fake_lab)), (m.D_photo, photo, pool_p(fake_photo))):
            r, f = D(real), D(fake)
            d = d + 0.5 * (mse(r, torch.ones_like(r)) + mse(f, torch.zeros_like(f)))
        opt_d.zero_grad(set_to_none=True)
        d.backward()
        opt_d.step()
        return {"gan": l_gan.item(), "cycle": l_cyc.item(), "d": d.item()}

    run.train(meta, tc.steps, a.minutes, step, save, every=100)


def export(ckpt: str) -> None:
    from .export import publish

    meta = checkpoint.load_meta(ckpt)
    mc = CycleConfig(**meta["model_config"])
    m = Cycle(mc)
    checkpoint.load(ckpt, m)
    for name, net in (("photo2labels", m.G), ("labels2photo", m.F)):
        publish(f"facades-cycle-{name}", net.state_dict(), "cycle", {**dataclasses.asdict(mc), "palette": meta["palette"]},
                meta, "CycleGAN ResNet generator, trained on CMP facades photos and label maps without their pairing",
                train_config=meta["train_config"])


if __name__ == "__main__":
    main()
