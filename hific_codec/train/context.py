"""Train a context model over a shipped fidelity model.  Resumable.

    python -m hific_codec.train.context --base-id 4 --run-dir runs/context --steps 8000 --minutes 100
    python -m hific_codec.train.context --base-id 7 --channel 16,16,32,64 --cache 8000 \
        --run-dir runs/chctx --steps 3000 --batch 16 --crop 256                          # model 8

Without ``--channel``: a checkerboard context (models/context.py) from scratch over a base model
without one.  With ``--channel SLICES``: a channel-conditional checkerboard
(models/channel_context.py) over a base model that has a checkerboard; that checkerboard starts
it (fine-tuned at a tenth of the learning rate) and the slices' heads start at zero, so step 0
is the base model's rate exactly.  The channel order is the base's channels by their share of
the rate on the first training crops, largest first.

``--cache N``: g_a is frozen, so its outputs for N random training crops are computed once
(kept in the run folder, fp16) and batches are drawn from them: a step then costs no g_a pass
(~7x faster for the channel context at 256x256).

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
import copy
import dataclasses
import json
import time

import torch

from .. import checkpoint, zoo
from ..entropy_models import bits, gaussian_likelihood
from ..models.channel_context import ChannelContext, ChannelContextConfig
from ..models.context import CheckerboardContext, ContextConfig
from .data import CropSampler, DataConfig, center_crops, load_split
from .run import Run, lr_at

BASE_LR_SCALE = 0.1  # --channel: the learning rate of the base checkerboard, relative to the heads'


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
    slices: tuple[int, ...] = ()  # channel-conditional slices; () = a checkerboard only
    cache: int = 0  # crops whose g_a outputs are computed once and trained on; 0 = fresh crops


def y_bits(net, ctx, y0: torch.Tensor, t: torch.Tensor, ref=None, noise: bool = True):
    """(bits of y with the context, bits of y with ``ref``), each (B,), from g_a's outputs ``y0``.
    ``ref``: the context to compare with (None: the hyperprior alone).  ``noise``: the
    additive-noise proxy (training); else the coder's symbols, round(y - mean) + mean."""
    with torch.no_grad():
        y = y0 * net.gain(t)
        psi = net.h_s(torch.round(net.h_a(y)))
        s0, m0, y0_hat = net.y_params(psi, y, ref)
    scale, mean, y_hat = ctx(psi, y)
    if noise:
        u = torch.empty_like(y).uniform_(-0.5, 0.5)
        with_ctx = bits(gaussian_likelihood(y + u, scale, mean))
        alone = bits(gaussian_likelihood(y + u, s0, m0)).detach()
    else:
        with_ctx = bits(gaussian_likelihood(y_hat, scale, mean))
        alone = bits(gaussian_likelihood(y0_hat, s0, m0))
    return with_ctx, alone


@torch.no_grad()
def validate(net, ctx, latents, levels: tuple[float, ...], ref=None) -> dict[str, float]:
    """Per level: bpp of y with the context, and its saving against ``ref`` (None: no context)."""
    ctx.eval()
    out = {}
    for t in levels:
        a = b = 0.0
        for y0 in latents:
            w, o = y_bits(net, ctx, y0, torch.tensor([t]), ref, noise=False)
            a, b = a + w.item(), b + o.item()
        px = sum(y0.shape[2] * y0.shape[3] * 256 for y0 in latents)
        out[f"t{t:g}_bpp_y"] = a / px
        out[f"t{t:g}_saving"] = 1 - a / b
    ctx.train()
    return out


class LatentCache:
    """g_a outputs of ``n`` random training crops, computed once (fp16, in the run folder)."""

    def __init__(self, path, net, sampler: CropSampler, n: int, seed: int):
        from safetensors.torch import load_file, save_file

        self.seconds = 0.0  # building it counts as training time; loading it again does not
        if path.exists():
            self.y = load_file(path)["y"]
        else:
            t0 = time.time()
            with torch.no_grad():
                self.y = torch.cat([net.g_a(sampler.batch(min(16, n - k))).half() for k in range(0, n, 16)])
            self.y = self.y.contiguous()
            save_file({"y": self.y}, path)
            self.seconds = time.time() - t0
        self.g = torch.Generator().manual_seed(seed)

    def batch(self, n: int) -> torch.Tensor:
        return self.y[torch.randint(0, len(self.y), (n,), generator=self.g)].float()


def channel_order(net, ctx: CheckerboardContext, y0: torch.Tensor) -> list[int]:
    """The base's latent channels by their bits at the middle rate level, largest first."""
    lo, hi = net.cfg.t_min, net.cfg.levels - 1
    with torch.no_grad():
        y = y0 * net.gain(torch.tensor([(lo + hi) / 2]))
        scale, mean, y_hat = net.y_params(net.h_s(torch.round(net.h_a(y))), y, ctx)
        per_channel = -torch.log2(gaussian_likelihood(y_hat, scale, mean)).sum(dim=(0, 2, 3))
    return torch.argsort(per_channel, descending=True).tolist()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base-id", type=int, default=TrainConfig.base_id, help="model id of the frozen fidelity model")
    ap.add_argument("--run-dir", default="runs/context")
    ap.add_argument("--data", default=DataConfig.root)
    ap.add_argument("--steps", type=int, default=TrainConfig.steps)
    ap.add_argument("--batch", type=int, default=TrainConfig.batch)
    ap.add_argument("--crop", type=int, default=TrainConfig.crop)
    ap.add_argument("--lr", type=float, default=TrainConfig.lr)
    ap.add_argument("--channel", metavar="SLICES", default="",
                    help="comma-separated slice sizes: a channel-conditional context over the base's checkerboard")
    ap.add_argument("--cache", type=int, default=0, metavar="N", help="train on g_a outputs of N crops, computed once")
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
    from .. import allocator, codec

    allocator.tune()  # many same-sized buffers per step: keep them on the heap
    run = Run(a.run_dir)
    slices = tuple(int(v) for v in a.channel.split(",")) if a.channel else ()
    tc = TrainConfig(base_id=a.base_id, steps=a.steps, batch=a.batch, crop=a.crop, lr=a.lr, slices=slices,
                     cache=a.cache)
    meta = {"step": 0, "seconds": 0.0}
    if run.last.exists():
        meta = checkpoint.load_meta(run.last)
        tc = dataclasses.replace(TrainConfig(**meta["train_config"]), steps=a.steps)
    base = codec.load(model_id=tc.base_id)
    if meta.get("base_sha256", base.entry.sha256) != base.entry.sha256:
        raise SystemExit(f"{run.last} was trained over weights {meta['base_sha256'][:8]}, "
                         f"model id {tc.base_id} is {base.entry.sha256[:8]}")
    if bool(tc.slices) != isinstance(base.context, CheckerboardContext):
        raise SystemExit(f"model id {tc.base_id} {'has no' if tc.slices else 'already has a'} checkerboard context"
                         f"{'' if tc.slices else ' (use --channel SLICES to add channel slices over it)'}")
    net = base.net
    dc = DataConfig(root=a.data, crop=tc.crop)
    train, val = load_split(dc)
    sampler = CropSampler(train, tc.crop, seed=tc.seed + meta["step"] + 1)
    cache = LatentCache(run.dir / "latents.safetensors", net, CropSampler(train, tc.crop, seed=tc.seed),
                        tc.cache, tc.seed + meta["step"]) if tc.cache else None
    meta["seconds"] += cache.seconds if cache else 0.0
    with torch.no_grad():
        val = [net.g_a(x[None]) for x in center_crops(val)]
    torch.manual_seed(tc.seed + meta["step"])
    if tc.slices:
        order = meta["model_config"]["order"] if "model_config" in meta else \
            channel_order(net, base.context, cache.y[:256].float() if cache else net.g_a(sampler.batch(16)))
        cfg = ChannelContextConfig(base=base.context.cfg, slices=tc.slices, order=tuple(order))
        ctx = ChannelContext(cfg, copy.deepcopy(base.context).requires_grad_(True))
        heads = [p for n, p in ctx.named_parameters() if not n.startswith("base.")]
        groups = [{"params": heads, "scale": 1.0}, {"params": list(ctx.base.parameters()), "scale": BASE_LR_SCALE}]
        ref, config = base.context, cfg.to_dict()
    else:
        cfg = ContextConfig(M=net.cfg.M)
        ctx = CheckerboardContext(cfg)
        groups, ref, config = [{"params": list(ctx.parameters()), "scale": 1.0}], None, dataclasses.asdict(cfg)
    opt = torch.optim.Adam(groups, lr=tc.lr)
    if run.last.exists():
        checkpoint.load(run.last, ctx, opt)
        print(f"resumed at step {meta['step']} ({meta['seconds'] / 3600:.2f} h)")
    lo, hi = net.cfg.t_min, net.cfg.levels - 1
    levels = (lo, (lo + hi) / 2, hi)
    print(f"{len(train)} training images{f' ({tc.cache} cached crops)' if cache else ''}, {len(val)} held-out "
          f"crops; base model id {tc.base_id} ({base.entry.sha256[:8]}), t in [{lo:g}, {hi:g}]", flush=True)

    def save() -> None:
        meta.update(model_config=config, train_config=dataclasses.asdict(tc), base_sha256=base.entry.sha256,
                    kind="channel" if tc.slices else "checkerboard")
        if tc.slices:
            meta["init_context"] = {k: base.entry.context[k] for k in ("sha256", "train_hours", "train_steps")}
        checkpoint.save(run.last, ctx, opt, meta)

    t0, seconds0, step = time.time(), meta["seconds"], meta["step"]
    if step == 0:
        run.log({"step": 0, "hours": 0.0, **validate(net, ctx, val, levels, ref)})
    while step < tc.steps and time.time() - t0 < a.minutes * 60:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, tc) * g["scale"]
        t = lo + torch.rand(tc.batch) * (hi - lo)
        if cache is not None:
            y0 = cache.batch(tc.batch)
        else:
            with torch.no_grad():
                y0 = net.g_a(sampler.batch(tc.batch))
        with_ctx, alone = y_bits(net, ctx, y0, t, ref)
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
                     **validate(net, ctx, val, levels, ref)})
        run.tick(save)
    run.finish(save, step)


def export(ckpt: str, retire_as: str, notes: str, name: str = zoo.DEFAULT_MODEL) -> None:
    from ..models import contexts
    from .export import context_file, next_model_id, retire

    meta = checkpoint.load_meta(ckpt)
    kind = meta.get("kind", contexts.DEFAULT)
    ctx = contexts.build(kind, meta["model_config"])
    checkpoint.load(ckpt, ctx)
    manifest = json.loads(zoo.MANIFEST.read_text())
    # The base: the entry with these network weights and no context, or (channel slices) the one
    # whose checkerboard the run started from.
    init = meta.get("init_context")
    base_name = next((n for n, e in manifest.items() if e["family"] == "hyperprior"
                      and e["sha256"] == meta["base_sha256"]
                      and e.get("context", {}).get("sha256") == (init["sha256"] if init else None)), None)
    if base_name is None:
        with_ctx = f" with context {init['sha256'][:8]}" if init else ""
        raise SystemExit(f"no shipped model has the base weights {meta['base_sha256'][:8]}{with_ctx}")
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
    hours, steps = meta["seconds"] / 3600, meta["step"]
    entry = {"file": fname, "sha256": sha, "config": meta["model_config"], "train_config": meta["train_config"]}
    if init:  # the hours behind the checkerboard it started from count too
        entry.update(kind=kind, init=init)
        hours, steps = hours + init["train_hours"], steps + init["train_steps"]
    entry.update(train_hours=round(hours, 3), train_steps=steps)
    manifest[name] = {**base, "model_id": model_id, "notes": notes or base["notes"], "context": entry}
    (zoo.WEIGHTS_DIR / fname).write_bytes(blob)
    zoo.MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {fname} ({len(blob) / 1e6:.2f} MB): {name!r} is model id {model_id} "
          f"({base_name}'s weights + {kind} context, {meta['step']} steps, {meta['seconds'] / 3600:.2f} h)")


if __name__ == "__main__":
    main()
