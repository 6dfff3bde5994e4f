"""Train the variable-rate fidelity (MSE) model.  Resumable; one process, CPU by default.

    python -m hific_codec.train.fidelity --run runs/fidelity --steps 40000 --minutes 150

Re-running the same command resumes from ``<run>/last.safetensors``.  Runs unchanged under
``torchrun --nproc_per_node N`` (see train/distributed.py).  Every rate level
``t`` in [0, L-1] is sampled continuously per batch element, with its own lambda.
The learning curve (train and held-out PSNR/bpp at three levels) goes to ``<run>/log.jsonl``.

Joint training with a checkerboard context model (models/context.py), from a trained network and
a context model trained over it (train/context.py)::

    python -m hific_codec.train.fidelity --run-dir runs/joint --init runs/fidelity4/last.safetensors \
        --init-context runs/context/last.safetensors --t-min -3 --lr 2e-4 --lr-final 1e-5 \
        --decay-frac 0.5 --warmup 300 --crop 192 --batch 4 --steps 8000      # model 6

The rate of y is then the coder's two-pass rate, so g_a, h_s and the context learn together what
the frozen-network context training (train/context.py) could not: latents that the context
predicts well.  The run's hours start from the network's; the context's own pre-training hours
are kept apart (``context_seconds``) so that exported hours are not counted twice.

A channel-conditional context (models/channel_context.py, trained over the frozen network with
``train.context --channel``) joins the same way: ``--init-context`` of its checkpoint, with ``--init``
a fidelity or a joint checkpoint (a joint one's checkerboard is then replaced by the channel
context's own, which it was fine-tuned from).  Then g_a learns to spread its latents over the
slices, which a context over a frozen network cannot ask of it (ELIC, He et al. 2022)::

    python -m hific_codec.train.fidelity --run-dir runs/joint8 --init checkpoints/joint-gpu/last.safetensors \
        --init-context checkpoints/chctx9/last.safetensors --t-min -3 --crop 256 --batch 16 --lr 1e-4 ...

On a GPU the same script runs with ``--device cuda``; ``--fit-minutes M`` lays the
LR schedule over the steps that fit the lease, and ``--init`` of a joint checkpoint continues
network and context together.  Model 7 is model 6 continued so on an H100 (scripts/gpu_joint.sh)::

    python -m hific_codec.train.fidelity --device cuda --init checkpoints/joint/last.safetensors \
        --t-min -3 --batch 16 --crop 256 --lr 1e-4 --lr-final 1e-5 --decay-frac 0.6 --warmup 500 \
        --fit-minutes 7.6 --run-dir /tmp/runA                # then resumed for 4.1 more minutes
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from .. import checkpoint
from ..models import contexts
from ..models.hyperprior import HyperpriorConfig, MeanScaleHyperprior
from . import distributed
from .data import CropSampler, DataConfig, center_crops, load_split
from .losses import psnr, rate_distortion
from .run import lr_at


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    steps: int = 40000  # planned total; the LR schedule is laid out over it
    batch: int = 8
    lr: float = 5e-4
    lr_final: float = 5e-5  # reached by a cosine decay over the last `decay_frac` of steps
    decay_frac: float = 0.3
    clip: float = 1.0
    seed: int = 0
    warmup: int = 0  # linear LR warm-up steps (a fresh optimizer on trained weights)
    crop: int = 128
    t_min: float = 0.0  # rate levels are drawn from [t_min, L-1]; below 0 the gains extrapolate


class Joint(torch.nn.Module):
    """Network and context model under one module: one checkpoint, one DDP wrapper."""

    def __init__(self, net: MeanScaleHyperprior, ctx: torch.nn.Module):
        super().__init__()
        self.net, self.ctx = net, ctx

    def forward(self, x: torch.Tensor, t: torch.Tensor):
        return self.net(x, t, self.ctx)


GAIN_LR_SCALE = 5.0
FIT_PROBE = 100  # steps timed before --fit-minutes lays out the schedule


@torch.no_grad()
def validate(model: torch.nn.Module, crops: list[torch.Tensor]) -> dict[str, float]:
    """Held-out bpp (noise proxy) and PSNR at levels 0, (L-1)/2, L-1 (and t_min when below 0).
    ``model``: the network, or a :class:`Joint`."""
    model.eval()
    out = {}
    net = model.net if isinstance(model, Joint) else model
    L = net.cfg.levels
    ts = (0.0, (L - 1) / 2, float(L - 1)) if net.cfg.t_min >= 0 else (net.cfg.t_min, 0.0, (L - 1) / 2, float(L - 1))
    dev = next(model.parameters()).device
    for t in ts:
        bpps, psnrs = [], []
        for x in crops:
            x = x[None].to(dev)
            tt = torch.full((1,), t, device=dev)
            r = model(x, tt)
            l = rate_distortion(x, r.x_hat.clamp(0, 1), r.y_likelihoods, r.z_likelihoods, net.lmbda(tt))
            bpps.append(l.bpp.item())
            psnrs.append(psnr(l.mse).item())
        out[f"t{t:g}_bpp"] = sum(bpps) / len(bpps)
        out[f"t{t:g}_psnr"] = sum(psnrs) / len(psnrs)
    model.train()
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dir", "--run", dest="run", default="runs/fidelity", help="run folder (--run-dir under torchrun: torchrun claims --run)")
    ap.add_argument("--data", default=DataConfig.root)
    ap.add_argument("--steps", type=int, default=TrainConfig.steps)
    ap.add_argument("--batch", type=int, default=TrainConfig.batch)
    ap.add_argument("--lr", type=float, default=None, help=f"peak learning rate (default {TrainConfig.lr}; on resume, replaces the saved one: a warm restart)")
    ap.add_argument("--minutes", type=float, default=1e9, help="stop (with a checkpoint) after this wall time")
    ap.add_argument("--fit-minutes", type=float, metavar="M",
                    help="lay the LR schedule over as many steps as fit in M minutes (measured over the "
                         f"first {FIT_PROBE} steps; replaces --steps), and stop there")
    ap.add_argument("--device", default="cpu", help="cpu, or cuda on a GPU (one process)")
    ap.add_argument("--profile", type=int, default=0, metavar="K",
                    help="profile K steps after the first 20 (torch.profiler), print the top operators, stop")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-every", type=int, default=1000)
    ap.add_argument("--ckpt-minutes", type=float, default=5.0)
    ap.add_argument("--N", type=int, default=HyperpriorConfig.N)
    ap.add_argument("--M", type=int, default=HyperpriorConfig.M)
    ap.add_argument("--check-sync", action="store_true", help="at the end, record every rank's parameter hash")
    ap.add_argument("--init", metavar="CKPT", help="new run: start from this fidelity checkpoint's network, or a joint "
                    "checkpoint's network and context (its hours and steps carry over; a fresh optimizer)")
    ap.add_argument("--init-context", metavar="CKPT", help="new run: train jointly with this context checkpoint's model")
    ap.add_argument("--t-min", type=float, default=TrainConfig.t_min)
    ap.add_argument("--crop", type=int, default=TrainConfig.crop)
    ap.add_argument("--warmup", type=int, default=TrainConfig.warmup)
    ap.add_argument("--lr-final", type=float, default=TrainConfig.lr_final)
    ap.add_argument("--decay-frac", type=float, default=TrainConfig.decay_frac)
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    d = distributed.setup(args.device)
    if d.device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop size: autotuned convolutions pay
    run = Path(args.run)
    run.mkdir(parents=True, exist_ok=True)
    last = run / "last.safetensors"
    if args.fit_minutes:
        args.minutes = args.fit_minutes * 1.08  # a safety stop only: the fitted steps end first
    tc = TrainConfig(steps=args.steps, batch=args.batch, lr=args.lr or TrainConfig.lr, t_min=args.t_min,
                     crop=args.crop, warmup=args.warmup, lr_final=args.lr_final, decay_frac=args.decay_frac)
    mc = HyperpriorConfig(N=args.N, M=args.M)
    meta = {"step": 0, "seconds": 0.0}
    init = None
    if last.exists():
        meta = json.loads(json.dumps(checkpoint.load_meta(last)))
        mc = HyperpriorConfig(**meta["model_config"])
        tc = dataclasses.replace(TrainConfig(**meta["train_config"]), steps=args.steps)
        if args.lr is not None:
            tc = dataclasses.replace(tc, lr=args.lr)
    elif args.init:
        init = checkpoint.load_meta(args.init)
        cmeta = checkpoint.load_meta(args.init_context) if args.init_context else None
        if "context_config" in init and cmeta and cmeta.get("kind") != "channel":
            raise SystemExit(f"{args.init} is a joint checkpoint (network + context): drop --init-context, "
                             "or give a channel context (it replaces the checkerboard)")
        mc = HyperpriorConfig(**init["model_config"])
        prior = init.get("init", {})  # a run that itself started from another counts those steps too
        meta = {"step": 0, "seconds": init["seconds"], "gpu_seconds": init.get("gpu_seconds", 0.0),
                "init": {"network": args.init, "network_steps": init["step"] + prior.get("network_steps", 0)}}
        if cmeta:
            # A channel context's hours include those of the checkerboard it was fine-tuned from
            # (its pre-training only: joint steps are in the network's hours).
            base = cmeta.get("init_context", {"train_hours": 0.0, "train_steps": 0})
            meta.update(context_config=cmeta["model_config"], context_kind=cmeta.get("kind", contexts.DEFAULT),
                        context_seconds=cmeta["seconds"] + 3600 * base["train_hours"])
            meta["init"].update(context=args.init_context, context_steps=cmeta["step"] + base["train_steps"])
        elif "context_config" in init:  # a joint checkpoint: both modules
            meta.update(context_config=init["context_config"], context_seconds=init["context_seconds"],
                        context_kind=init.get("context_kind", contexts.DEFAULT))
            meta["init"].update(context=args.init, context_steps=prior["context_steps"])
    # t_min is inference-only in the network's config, but the gains clamp at it: training below
    # level 0 needs it lowered.
    mc = dataclasses.replace(mc, t_min=min(mc.t_min, tc.t_min))
    dc = DataConfig(root=args.data, crop=tc.crop)
    torch.manual_seed(tc.seed + meta["step"])  # same on every rank: identical initial weights
    net = MeanScaleHyperprior(mc).to(d.device)
    model = net
    if "context_config" in meta:
        ctx = contexts.build(meta.get("context_kind", contexts.DEFAULT), meta["context_config"]).to(d.device)
        model = Joint(net, ctx)
    if init is not None:
        joint_init = "context_config" in init  # a joint checkpoint holds both modules
        if joint_init and not args.init_context:
            checkpoint.load(args.init, model)
        else:  # its network only: the context comes from --init-context, if any
            checkpoint.load(args.init, net, part="net" if joint_init else "")
        if args.init_context:
            checkpoint.load(args.init_context, ctx)
        say(d, f"initialised from {args.init} (step {init['step']}, {init['seconds'] / 3600:.2f} h)"
            + (f" and context {meta['init']['context']}" if model is not net else ""))
    params = [p for n, p in model.named_parameters() if not n.endswith(".quantiles")]
    gains = [p for n, p in model.named_parameters() if "log_" in n and "gain" in n]  # the network's
    others = [p for p in params if all(p is not g for g in gains)]
    # Gains get a larger step: they are few, and each level sees only 1/L of the batches.
    opt = torch.optim.Adam([{"params": others, "scale": 1.0}, {"params": gains, "scale": GAIN_LR_SCALE}], lr=tc.lr)
    if last.exists():
        checkpoint.load(last, model, opt)
        say(d, f"resumed at step {meta['step']} ({meta['seconds'] / 3600:.2f} h trained)")
    ddp = distributed.wrap(model, d)
    torch.manual_seed(tc.seed + meta["step"] + 7919 * d.rank)  # each rank its own rate levels

    train_imgs, val_imgs = load_split(dc)
    sampler = CropSampler(train_imgs, dc.crop, seed=tc.seed + meta["step"] + 1_000_003 * d.rank)
    val = center_crops(val_imgs)
    say(d, f"{len(train_imgs)} training images, {len(val)} held-out crops, {d.world} process(es)")

    def save() -> None:
        meta.update(model_config=dataclasses.asdict(mc), train_config=dataclasses.asdict(tc), data_config=dataclasses.asdict(dc))
        checkpoint.save(last, model, opt, meta)

    log = open(run / "log.jsonl", "a") if d.main else None  # noqa: SIM115 (open for the whole run)
    t_start = time.time()
    t_ckpt = t_start
    seconds0 = meta["seconds"]
    gpu0 = meta.setdefault("gpu_seconds", 0.0)
    step = step0 = meta["step"]
    data_s = 0.0  # host time spent making batches: on an accelerator, the share that is not the GPU's
    if d.main and init is not None and step == 0:  # the curve starts from the initial network's score
        log.write(json.dumps({"step": 0, "hours": meta["seconds"] / 3600, "init": args.init, **validate(model, val)}) + "\n")
        log.flush()
    while step < tc.steps and not distributed.any_rank(time.time() - t_start >= args.minutes * 60, d):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, tc) * g["scale"]
        if args.profile and step == step0 + 20:
            prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]
                                          + ([torch.profiler.ProfilerActivity.CUDA] if d.device.type == "cuda" else []))
            prof.start()
        if args.profile and step == step0 + 20 + args.profile:
            prof.stop()
            by = "self_cuda_time_total" if d.device.type == "cuda" else "self_cpu_time_total"
            say(d, prof.key_averages().table(sort_by=by, row_limit=25))
            say(d, f"host time making batches: {data_s / (time.time() - t_start):.0%} of the run so far")
            break
        t_fetch = time.time()
        x = sampler.batch(tc.batch).to(d.device)  # channels_last measured 13% slower here
        data_s += time.time() - t_fetch
        t = tc.t_min + torch.rand(tc.batch, device=d.device) * (mc.levels - 1 - tc.t_min)
        r = ddp(x, t)
        l = rate_distortion(x, r.x_hat, r.y_likelihoods, r.z_likelihoods, net.lmbda(t))
        opt.zero_grad(set_to_none=True)
        l.loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, tc.clip)
        # A non-finite step would poison Adam's moments for good (a batch-64 run at 2e-4 on the
        # H100 turned NaN at step ~3,000): skip it, on every rank alike, and count it.
        if distributed.any_rank(not bool(torch.isfinite(norm)), d):
            meta["skipped_steps"] = meta.get("skipped_steps", 0) + 1
        else:
            opt.step()
        step += 1
        meta["step"] = step
        elapsed = time.time() - t_start
        meta["seconds"] = seconds0 + elapsed
        if d.device.type == "cuda":  # hours on an accelerator are recorded apart from CPU hours
            meta["gpu_seconds"] = gpu0 + elapsed
        if args.fit_minutes and step == step0 + FIT_PROBE:
            per = elapsed / FIT_PROBE
            fitted = step + int(0.97 * (args.fit_minutes * 60 - elapsed) / per)
            tc = dataclasses.replace(tc, steps=distributed.agree_min(fitted, d))
            say(d, f"{per:.3f} s/step: schedule laid over {tc.steps} steps")
        if step % 50 == 0 and d.main:
            print(f"step {step} loss {l.loss.item():.3f} bpp {l.bpp.mean().item():.3f} "
                  f"psnr {psnr(l.mse).mean().item():.2f} {(meta['seconds'] - seconds0) / (step - step0):.3f}s/step "
                  f"(data {data_s / max(1e-9, meta['seconds'] - seconds0):.0%})", flush=True)
        if d.main and (step % args.eval_every == 0 or step == tc.steps):
            rec = {"step": step, "hours": meta["seconds"] / 3600, "lr": lr_at(step, tc),
                   "skipped": meta.get("skipped_steps", 0), **validate(model, val)}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(rec, flush=True)
        if d.main and time.time() - t_ckpt > args.ckpt_minutes * 60:
            save()
            t_ckpt = time.time()
    if d.main:
        save()
        print(f"saved {last} at step {step}")
    if args.check_sync:
        digests = distributed.param_digests(model, d)
        if d.main:
            (run / "sync_check.json").write_text(json.dumps({"step": step, "world": d.world, "digests": digests}))
    distributed.teardown(d)


def say(d: distributed.Dist, msg: str) -> None:
    if d.main:
        print(msg, flush=True)


if __name__ == "__main__":
    main()
