"""Train a checkerboard context model (models/context.py) over a shipped fidelity model.  Resumable.

    python -m hific_codec.train.context --base-id 4 --run-dir runs/context --steps 8000 --minutes 100

The base model (g_a, h_a, h_s, g_s and the z tables) stays frozen, exactly as it ships: with the
mean subtracted before rounding, the quantisation error of ŷ - and so the distortion - does not
depend on the entropy parameters, so the context model only has to lower the rate of y.  The
loss is the mean over the batch of log(bits of y), which weighs a 5% saving at 0.1 bpp like a 5%
saving at 1 bpp (what BD-rate measures); rate levels t are drawn from the model's whole range
[t_min, L-1].  No g_s pass and no backward through g_a: a step costs ~1/3 of a fidelity step.

The held-out log (``<run>/log.jsonl``) gives, per rate level, bits of y with and without the context.

Shipping: ``--export runs/context/last.safetensors --retire-as hyperprior-vr-5`` writes the
context weights (fp16, their own small file) and makes ``hyperprior-vr`` a new model id: the base
entry's weights file plus this context.  What the name held before stays under the retired name
(model 5 was exported with ``--retire-as hyperprior-vr-4``), so its files still decode.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import time

import torch

from .. import checkpoint, zoo
from ..entropy_models import bits, gaussian_likelihood
from ..models.context import CheckerboardContext, ContextConfig
from .data import CropSampler, DataConfig, center_crops, load_split
from .run import Run, lr_at


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    base_id: int = 4
    steps: int = 8000
    batch: int = 8
    crop: int = 192
    lr: float = 1e-3
    lr_final: float = 1e-5
    decay_frac: float = 0.5
    seed: int = 0


def y_bits(net, ctx: CheckerboardContext, x: torch.Tensor, t: torch.Tensor, noise: bool = True):
    """(bits of y with the context, bits of y with the hyperprior alone), each (B,).  ``noise``:
    the additive-noise proxy (training); else the coder's symbols, round(y - mean) + mean."""
    with torch.no_grad():
        y = net.g_a(x) * net.gain(t)
        psi = net.h_s(torch.round(net.h_a(y)))
        s0, m0 = psi.chunk(2, dim=1)
    scale, mean, y_hat = ctx(psi, y)
    if noise:
        u = torch.empty_like(y).uniform_(-0.5, 0.5)
        with_ctx = bits(gaussian_likelihood(y + u, scale, mean))
        alone = bits(gaussian_likelihood(y + u, s0, m0)).detach()
    else:
        with_ctx = bits(gaussian_likelihood(y_hat, scale, mean))
        alone = bits(gaussian_likelihood(torch.round(y - m0) + m0, s0, m0))
    return with_ctx, alone


@torch.no_grad()
def validate(net, ctx, crops, levels: tuple[float, ...]) -> dict[str, float]:
    ctx.eval()
    out = {}
    for t in levels:
        a = b = 0.0
        for x in crops:
            w, o = y_bits(net, ctx, x[None], torch.tensor([t]), noise=False)
            a, b = a + w.item(), b + o.item()
        px = sum(x.shape[1] * x.shape[2] for x in crops)
        out[f"t{t:g}_bpp_y"] = a / px
        out[f"t{t:g}_saving"] = 1 - a / b
    ctx.train()
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base-id", type=int, default=TrainConfig.base_id, help="model id of the frozen fidelity model")
    ap.add_argument("--run-dir", default="runs/context")
    ap.add_argument("--data", default=DataConfig.root)
    ap.add_argument("--steps", type=int, default=TrainConfig.steps)
    ap.add_argument("--batch", type=int, default=TrainConfig.batch)
    ap.add_argument("--crop", type=int, default=TrainConfig.crop)
    ap.add_argument("--lr", type=float, default=TrainConfig.lr)
    ap.add_argument("--minutes", type=float, default=1e9)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--export", metavar="CKPT", help="ship CKPT's context model as the default model and stop")
    ap.add_argument("--retire-as", default="", help="with --export: the name the model now called hyperprior-vr keeps")
    ap.add_argument("--notes", default="")
    a = ap.parse_args(argv)
    if a.export:
        return export(a.export, a.retire_as, a.notes)
    torch.set_num_threads(a.threads)
    from .. import codec

    run = Run(a.run_dir)
    tc = TrainConfig(base_id=a.base_id, steps=a.steps, batch=a.batch, crop=a.crop, lr=a.lr)
    meta = {"step": 0, "seconds": 0.0}
    if run.last.exists():
        meta = checkpoint.load_meta(run.last)
        tc = dataclasses.replace(TrainConfig(**meta["train_config"]), steps=a.steps)
    base = codec.load(model_id=tc.base_id)
    if meta.get("base_sha256", base.entry.sha256) != base.entry.sha256:
        raise SystemExit(f"{run.last} was trained over weights {meta['base_sha256'][:8]}, "
                         f"model id {tc.base_id} is {base.entry.sha256[:8]}")
    net = base.net
    cfg = ContextConfig(M=net.cfg.M)
    torch.manual_seed(tc.seed + meta["step"])
    ctx = CheckerboardContext(cfg)
    opt = torch.optim.Adam(ctx.parameters(), lr=tc.lr)
    if run.last.exists():
        checkpoint.load(run.last, ctx, opt)
        print(f"resumed at step {meta['step']} ({meta['seconds'] / 3600:.2f} h)")
    dc = DataConfig(root=a.data, crop=tc.crop)
    train, val = load_split(dc)
    sampler = CropSampler(train, tc.crop, seed=tc.seed + meta["step"] + 1)
    val = center_crops(val)
    lo, hi = net.cfg.t_min, net.cfg.levels - 1
    levels = (lo, (lo + hi) / 2, hi)
    print(f"{len(train)} training images, {len(val)} held-out crops; base model id {tc.base_id} "
          f"({base.entry.sha256[:8]}), t in [{lo:g}, {hi:g}]", flush=True)

    def save() -> None:
        meta.update(model_config=dataclasses.asdict(cfg), train_config=dataclasses.asdict(tc),
                    base_sha256=base.entry.sha256)
        checkpoint.save(run.last, ctx, opt, meta)

    t0, seconds0, step = time.time(), meta["seconds"], meta["step"]
    if step == 0:
        run.log({"step": 0, "hours": 0.0, **validate(net, ctx, val, levels)})
    while step < tc.steps and time.time() - t0 < a.minutes * 60:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, tc)
        x = sampler.batch(tc.batch)
        t = lo + torch.rand(tc.batch) * (hi - lo)
        with_ctx, alone = y_bits(net, ctx, x, t)
        loss = with_ctx.log().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        meta.update(step=step, seconds=seconds0 + time.time() - t0)
        if step % 50 == 0:
            saving = 1 - (with_ctx.sum() / alone.sum()).item()
            print(f"step {step} y-bits saving {saving:.2%} {meta['seconds'] / step:.3f}s/step", flush=True)
        if step % a.eval_every == 0 or step == tc.steps:
            run.log({"step": step, "hours": meta["seconds"] / 3600, "lr": lr_at(step, tc),
                     **validate(net, ctx, val, levels)})
        run.tick(save)
    run.finish(save, step)


def context_file(ctx: CheckerboardContext, name: str) -> tuple[bytes, str, str]:
    """The context model as shipped: (fp16 safetensors bytes, SHA-256, file name)."""
    from safetensors.torch import save

    blob = save({k: v.half().contiguous() for k, v in ctx.state_dict().items()}, metadata={"family": "context"})
    sha = hashlib.sha256(blob).hexdigest()
    return blob, sha, f"{name}-ctx-{sha[:8]}.safetensors"


def export(ckpt: str, retire_as: str, notes: str, name: str = zoo.DEFAULT_MODEL) -> None:
    from .export import next_model_id, retire

    meta = checkpoint.load_meta(ckpt)
    ctx = CheckerboardContext(ContextConfig(**meta["model_config"]))
    checkpoint.load(ckpt, ctx)
    manifest = json.loads(zoo.MANIFEST.read_text())
    base_name = next((n for n, e in manifest.items() if e["family"] == "hyperprior"
                      and e["sha256"] == meta["base_sha256"] and not e.get("context")), None)
    if base_name is None:
        raise SystemExit(f"no shipped model has the base weights {meta['base_sha256'][:8]}")
    blob, sha, fname = context_file(ctx, name)
    base = dict(manifest[base_name])
    old = manifest.get(name)
    if old and old.get("context", {}).get("sha256") == sha:
        model_id = old["model_id"]  # the same context again: nothing changes
    else:
        # Files name their model by id and by the base weights' hash only, so a new context must
        # get a new id, and whatever holds the name now keeps shipping under another name.
        if old:
            retire(manifest, name, retire_as)
        model_id = next_model_id(manifest)
    manifest[name] = {
        **base, "model_id": model_id, "notes": notes or base["notes"],
        "context": {"file": fname, "sha256": sha, "config": meta["model_config"],
                    "train_hours": round(meta["seconds"] / 3600, 3), "train_steps": meta["step"],
                    "train_config": meta["train_config"]},
    }
    (zoo.WEIGHTS_DIR / fname).write_bytes(blob)
    zoo.MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {fname} ({len(blob) / 1e6:.2f} MB): {name!r} is model id {model_id} "
          f"({base_name}'s weights + context, {meta['step']} steps, {meta['seconds'] / 3600:.2f} h)")


if __name__ == "__main__":
    main()
