"""Train the multi-style transfer network (models/style.py).  Resumable.

    python -m hific_codec.train.style --run-dir runs/style --steps 3000 --minutes 40
    python -m hific_codec.train.style --export runs/style/last.safetensors      # -> weights/ + manifest

Perceptual losses of Johnson et al. (2016) on frozen ImageNet EfficientNet-Lite0 features
(train/features.py; VGG weights cannot be downloaded here):

    L = w_c · ‖φ_c(x̃) − φ_c(x)‖² + w_s · Σ_l ‖G_l(x̃) − G_l(style)‖² + w_tv · TV(x̃)

φ_c is the stride-8 tap, G_l the Gram matrices of all four taps (normalised by C·H·W).  Each
batch trains one style, in turn.  Content crops come from the training photos only.
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from .. import checkpoint
from ..models.style import StyleConfig, StyleNet
from .data import CropSampler, DataConfig, load_split
from .features import EffNetLite0, gram
from .run import Run

STYLE_DIR = "../shared/data/style/styles"
CONTENT_TAP = 2


@dataclasses.dataclass(frozen=True)
class StyleTrainConfig:
    steps: int = 3000
    batch: int = 4
    crop: int = 192
    lr: float = 1e-3
    w_content: float = 1.0
    w_style: float = 0.1  # a photo vs a style image: Gram term ~1e3 unweighted, content ~1e2 for a flat image
    w_tv: float = 1e-4
    style_size: int = 384  # long side of the style image when its Gram matrices are taken
    seed: int = 0


def load_style(path: Path, size: int) -> Tensor:
    im = Image.open(path).convert("RGB")
    s = size / max(im.size)
    im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.Resampling.LANCZOS)
    return torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1)[None].float() / 255


def style_targets(feats: EffNetLite0, paths: list[Path], size: int) -> list[list[Tensor]]:
    with torch.no_grad():
        return [[gram(f) for f in feats.taps(load_style(p, size))] for p in paths]


def losses(feats: EffNetLite0, x: Tensor, out: Tensor, targets: list[Tensor], tc: StyleTrainConfig) -> dict[str, Tensor]:
    """Content, style and TV terms (weighted) of a stylised batch ``out`` of contents ``x``."""
    fo = feats.taps(out)
    with torch.no_grad():
        fx = feats.taps(x)
    content = (fo[CONTENT_TAP] - fx[CONTENT_TAP]).pow(2).mean()
    style = sum((gram(f) - g).pow(2).sum((1, 2)).mean() for f, g in zip(fo, targets))
    tv = (out[:, :, 1:] - out[:, :, :-1]).abs().sum() + (out[:, :, :, 1:] - out[:, :, :, :-1]).abs().sum()
    return {"content": tc.w_content * content, "style": tc.w_style * style, "tv": tc.w_tv * tv / len(x)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dir", "--run", dest="run", default="runs/style")
    ap.add_argument("--data", default=DataConfig.root)
    ap.add_argument("--styles-dir", default=STYLE_DIR)
    ap.add_argument("--styles", default=",".join(StyleConfig.styles))
    ap.add_argument("--steps", type=int, default=StyleTrainConfig.steps)
    ap.add_argument("--minutes", type=float, default=1e9)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--crop", type=int, default=StyleTrainConfig.crop)
    ap.add_argument("--w-style", type=float, default=StyleTrainConfig.w_style)
    ap.add_argument("--ckpt-minutes", type=float, default=5.0)
    ap.add_argument("--export", metavar="CKPT", help="write the network of CKPT to the zoo and stop")
    ap.add_argument("--name", default="style-4")
    args = ap.parse_args(argv)
    if args.export:
        return export(args.export, args.name)

    torch.set_num_threads(args.threads)
    run = Run(args.run, args.ckpt_minutes)
    last = run.last
    tc = StyleTrainConfig(steps=args.steps, crop=args.crop, w_style=args.w_style)
    mc = StyleConfig(styles=tuple(args.styles.split(",")))
    meta = {"step": 0, "seconds": 0.0}
    if last.exists():
        meta = checkpoint.load_meta(last)
        tc = dataclasses.replace(StyleTrainConfig(**meta["train_config"]), steps=args.steps)
        mc = StyleConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in meta["model_config"].items()})
    torch.manual_seed(tc.seed + meta["step"])
    net = StyleNet(mc)
    opt = torch.optim.Adam(net.parameters(), lr=tc.lr)
    if last.exists():
        checkpoint.load(last, net, opt)
        print(f"resumed at step {meta['step']}", flush=True)
    feats = EffNetLite0()
    paths = []
    for s in mc.styles:
        found = sorted(Path(args.styles_dir).glob(f"{s}.*"))
        if not found:
            raise SystemExit(f"style image {s!r} not found in {args.styles_dir}")
        paths.append(found[0])
    targets = style_targets(feats, paths, tc.style_size)
    dc = DataConfig(root=args.data, crop=tc.crop)
    train_imgs, _ = load_split(dc)
    sampler = CropSampler(train_imgs, tc.crop, seed=tc.seed + meta["step"] + 1)
    def save(meta) -> None:
        meta.update(model_config=dataclasses.asdict(mc), train_config=dataclasses.asdict(tc))
        checkpoint.save(last, net, opt, meta)

    def step(k):
        s = k % len(mc.styles)
        x = sampler.batch(tc.batch)
        parts = losses(feats, x, net(x, s), targets[s], tc)
        loss = sum(parts.values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"style_name": mc.styles[s], **{k: round(v.item(), 5) for k, v in parts.items()}}

    run.train(meta, tc.steps, args.minutes, step, save, every=20)


def export(ckpt: str, name: str) -> None:
    from .export import publish

    meta = checkpoint.load_meta(ckpt)
    mc = StyleConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in meta["model_config"].items()})
    net = StyleNet(mc)
    checkpoint.load(ckpt, net)
    publish(name, net.state_dict(), "style", dataclasses.asdict(mc), meta,
            "Johnson et al. 2016 feed-forward network with conditional instance norm (Dumoulin et al. 2017), "
            "Gram style + feature content losses on ImageNet EfficientNet-Lite0 features", train_config=meta["train_config"])


if __name__ == "__main__":
    main()
