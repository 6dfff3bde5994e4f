"""Train the ``enhance`` plugin's artifact-removal network.  Resumable; CPU by default.

    python -m hific_codec.train.enhance --run-dir runs/enhance --steps 6000 --minutes 50
    python -m hific_codec.train.enhance --run-dir runs/enhance-gan --init runs/enhance/last.safetensors --adversarial 0.005
    python -m hific_codec.train.enhance --export runs/enhance/last.safetensors

Pairs are made on the fly from the training photos (the codec's split; the held-out files are
never trained on): a random crop, flipped and rotated, compressed as its own JPEG at a random
quality 5..50 (Pillow, 4:2:0 chroma as most cameras and browsers write), or, for a quarter of
the batch, a crop of a training photo coded by NIC at quality 0..30 (a pool made once at start).
L1 loss on the pixels; with ``--adversarial W`` the network is fine-tuned as Galteri et al.
(ICCV 2017) do: + W · non-saturating GAN loss of a patch discriminator conditioned on the
compressed input, + ``--perceptual`` · a feature distance (EfficientNet-Lite0).  Held-out PSNR
before and after, at JPEG 10 / 20 and NIC 10, goes to ``<run>/log.jsonl``.
"""
from __future__ import annotations

import argparse
import dataclasses
import io
import time

import numpy as np
import torch
from PIL import Image
from torch.nn.functional import binary_cross_entropy_with_logits as bce

from .. import checkpoint
from ..models.enhance import EnhanceConfig, EnhanceNet
from .data import DataConfig, load_split
from .run import Run, tail_cosine

JPEG_QUALITIES = (5, 50)
NIC_QUALITIES = (0, 30)


def jpeg(a: np.ndarray, quality: int) -> tuple[np.ndarray, int]:
    """(h, w, 3) uint8 through a baseline JPEG at ``quality`` (Pillow's libjpeg, 4:2:0): the
    decoded image and the file's bytes."""
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "JPEG", quality=int(quality))
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")), buf.tell()


def nic_pool(images: list[np.ndarray], n: int, side: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(clean, NIC-decoded) crops of ``side`` pixels at random qualities in NIC_QUALITIES."""
    import hific_codec

    rng = np.random.default_rng(seed)
    out = []
    for k in rng.permutation(len(images))[:n]:
        a = images[k]
        i, j = (rng.integers(0, max(1, s - side + 1)) for s in a.shape[:2])
        c = np.ascontiguousarray(a[i : i + side, j : j + side])
        q = int(rng.integers(NIC_QUALITIES[0], NIC_QUALITIES[1] + 1))
        out.append((c, hific_codec.decode(hific_codec.encode(c, quality=q))))
    return out


class PairSampler:
    """Batches of (compressed, clean) crops, (B, 3, c, c) in 0..1."""

    def __init__(self, images, pool, crop: int, nic_share: float, seed: int):
        self.images, self.pool, self.crop, self.nic_share = images, pool, crop, nic_share
        area = np.array([a.shape[0] * a.shape[1] for a in images], dtype=np.float64)
        self.p = area / area.sum()
        self.rng = np.random.default_rng(seed)

    def _crop(self, *arrays):
        c, r = self.crop, self.rng
        h, w = arrays[0].shape[:2]
        i, j = r.integers(0, h - c + 1), r.integers(0, w - c + 1)
        flip, rot = r.random() < 0.5, int(r.integers(0, 4))
        out = []
        for a in arrays:
            p = a[i : i + c, j : j + c]
            out.append(np.ascontiguousarray(np.rot90(p[:, ::-1] if flip else p, rot)))
        return out

    def batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ys = [], []
        for _ in range(n):
            if self.pool and self.rng.random() < self.nic_share:
                clean, coded = self._crop(*self.pool[self.rng.integers(len(self.pool))])
            else:
                # JPEG after the crop and flips: its 8x8 grid starts at the crop's corner, as a
                # photo's starts at the image's
                (clean,) = self._crop(self.images[self.rng.choice(len(self.images), p=self.p)])
                coded, _ = jpeg(clean, self.rng.integers(JPEG_QUALITIES[0], JPEG_QUALITIES[1] + 1))
            xs.append(coded)
            ys.append(clean)
        t = lambda v: torch.from_numpy(np.stack(v)).permute(0, 3, 1, 2).float().div_(255)
        return t(xs), t(ys)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = (a.clamp(0, 1) * 255).round().sub(b * 255).pow(2).mean()
    return float(10 * torch.log10(255.0**2 / mse))


@dataclasses.dataclass(frozen=True)
class EnhanceTrainConfig:
    steps: int = 6000
    batch: int = 16
    crop: int = 64
    lr: float = 4e-4
    nic_share: float = 0.25
    adversarial: float = 0.0
    perceptual: float = 0.0


class Critic(torch.nn.Module):
    """Patch discriminator on (output, compressed input) pairs: 3 stride-2 4x4 convolutions."""

    def __init__(self, c: int = 32):
        super().__init__()
        layers, cin = [], 6
        for k in (c, 2 * c, 4 * c):
            layers += [torch.nn.Conv2d(cin, k, 4, 2, 1), torch.nn.LeakyReLU(0.2)]
            cin = k
        self.body = torch.nn.Sequential(*layers, torch.nn.Conv2d(cin, 1, 1))

    def forward(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat([y, x], 1) * 2 - 1)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dir", default="runs/enhance")
    ap.add_argument("--data", default=DataConfig.root)
    ap.add_argument("--steps", type=int, default=EnhanceTrainConfig.steps)
    ap.add_argument("--batch", type=int, default=EnhanceTrainConfig.batch)
    ap.add_argument("--lr", type=float, default=EnhanceTrainConfig.lr)
    ap.add_argument("--adversarial", type=float, default=0.0, help="weight of the GAN term (0: L1 only)")
    ap.add_argument("--perceptual", type=float, default=0.0, help="weight of the feature distance")
    ap.add_argument("--pool", type=int, default=48, help="NIC-coded training crops made at start")
    ap.add_argument("--minutes", type=float, default=1e9)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--channels", type=int, default=EnhanceConfig.channels)
    ap.add_argument("--blocks", type=int, default=EnhanceConfig.blocks)
    ap.add_argument("--init", metavar="CKPT", help="start a new run from the network of CKPT")
    ap.add_argument("--export", metavar="CKPT", help="write the network of CKPT to the zoo as NAME and stop")
    ap.add_argument("--name", default="enhance")
    a = ap.parse_args(argv)
    if a.export:
        return export(a.export, a.name)
    torch.set_num_threads(a.threads)
    tc = EnhanceTrainConfig(steps=a.steps, batch=a.batch, lr=a.lr, adversarial=a.adversarial, perceptual=a.perceptual)
    run = Run(a.run_dir)
    cfg = EnhanceConfig(channels=a.channels, blocks=a.blocks)
    meta = {"step": 0, "seconds": 0.0}
    if run.last.exists() or a.init:  # the network's shape comes with the weights
        cfg = EnhanceConfig(**checkpoint.load_meta(run.last if run.last.exists() else a.init)["model_config"])
    if run.last.exists():
        meta = checkpoint.load_meta(run.last)
    torch.manual_seed(meta["step"])
    model = EnhanceNet(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=tc.lr)
    critic = feats = None
    if tc.adversarial:
        critic = Critic()
        opt_d = torch.optim.Adam(critic.parameters(), lr=tc.lr, betas=(0.5, 0.999))
    if tc.perceptual:
        from .features import perceptual_distance, shared

        feats = shared()
    if run.last.exists():
        checkpoint.load(run.last, model, opt)
    elif a.init:
        checkpoint.load(a.init, model)
        # the hours recorded with the weights include the run this one starts from
        meta.update(init=a.init, seconds=checkpoint.load_meta(a.init)["seconds"])
    train, val = load_split(DataConfig(root=a.data, crop=tc.crop))
    t0 = time.time()
    pool = nic_pool(train, a.pool, 256, seed=meta["step"])
    print(f"NIC pool: {len(pool)} crops in {time.time() - t0:.0f} s", flush=True)
    sampler = PairSampler(train, pool, tc.crop, tc.nic_share, seed=meta["step"])
    vals = [np.ascontiguousarray(v[: min(192, v.shape[0]) // 16 * 16, : min(192, v.shape[1]) // 16 * 16]) for v in val]
    pool_val = nic_pool(vals, len(vals), 192, seed=1)
    t = lambda v: torch.from_numpy(np.array(v)).permute(2, 0, 1).float()[None] / 255
    val_sets = {"jpeg10": [(t(jpeg(v, 10)[0]), t(v)) for v in vals], "jpeg20": [(t(jpeg(v, 20)[0]), t(v)) for v in vals],
                "nic": [(t(d), t(c)) for c, d in pool_val]}

    def save(meta):
        meta.update(model_config=dataclasses.asdict(cfg), train_config=dataclasses.asdict(tc))
        checkpoint.save(run.last, model, opt, meta)

    def step(k):
        for g in opt.param_groups:
            g["lr"] = tail_cosine(k, tc.steps, tc.lr)
        x, y = sampler.batch(tc.batch)
        out = model(x)
        loss = (out - y).abs().mean()
        logs = {"l1": loss.item()}
        if feats is not None:
            p = perceptual_distance(feats, out, y).mean()
            loss = loss + tc.perceptual * p
            logs["perceptual"] = p.item()
        if critic is not None:
            g = bce(critic(out, x), torch.ones(1).expand_as(critic(out, x)))
            loss = loss + tc.adversarial * g
            logs["g_adv"] = g.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if critic is not None:
            real, fake = critic(y, x), critic(out.detach(), x)
            d = 0.5 * (bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake)))
            opt_d.zero_grad(set_to_none=True)
            d.backward()
            opt_d.step()
            logs["d"] = d.item()
        return logs

    @torch.no_grad()
    def report():
        model.eval()
        rec = {}
        for name, pairs in val_sets.items():
            rec[f"{name}_in"] = float(np.mean([psnr(xv, yv) for xv, yv in pairs]))
            rec[f"{name}_out"] = float(np.mean([psnr(model(xv), yv) for xv, yv in pairs]))
        model.train()
        return rec

    run.train(meta, tc.steps, a.minutes, step, save, every=250, report=report)


def export(ckpt: str, name: str) -> None:
    from .export import publish

    meta = checkpoint.load_meta(ckpt)
    cfg = EnhanceConfig(**meta["model_config"])
    model = EnhanceNet(cfg)
    checkpoint.load(ckpt, model)
    tc = meta.get("train_config", {})
    how = "L1" + (f" + {tc['perceptual']} x feature distance" if tc.get("perceptual") else "") + (
        f" + {tc['adversarial']} x GAN" if tc.get("adversarial") else "")
    publish(name, model.state_dict(), "enhance", dataclasses.asdict(cfg), meta,
            f"artifact-removal residual CNN at half resolution, {how} on training crops compressed by JPEG "
            f"(quality {JPEG_QUALITIES[0]}-{JPEG_QUALITIES[1]}) and NIC (quality {NIC_QUALITIES[0]}-{NIC_QUALITIES[1]})")


if __name__ == "__main__":
    main()
