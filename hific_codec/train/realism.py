"""Train the realism generator (HiFiC-style conditional GAN) on a frozen fidelity model.  Resumable.

    python -m hific_codec.train.realism --run-dir runs/realism --steps 6000 --minutes 80
    python -m hific_codec.train.realism --export runs/realism/last.safetensors   # -> weights/ + manifest

The encoder, hyperprior and entropy model are the shipped fidelity model's, frozen: files do
not change, and any file decodes with either decoder.  Generator loss, per HiFiC (Mentzer et
al. 2020) with the rate term dropped (the rate is fixed by the frozen encoder):

    L_G = k_M · MSE(x, x̂) [0..255 pixels] + k_P · d_P(x, x̂) + k_T · T(x, x̂) + β · softplus(-D(x̂, ŷ))
    L_D = softplus(-D(x, ŷ)) + softplus(D(x̂, ŷ))          (non-saturating GAN)

d_P is an LPIPS-style distance on ImageNet EfficientNet-Lite0 features (train/features.py) and
T a texture loss, squared differences of those features' Gram matrices (EnhanceNet, Sajjadi et
al. 2017).  T is our addition to HiFiC's objective: with a few thousand CPU steps instead of
HiFiC's million, the adversarial signal alone barely moved the generator (held-out d_P -4% after
1,500 steps), and texture statistics are a much more direct signal for the same goal.
Rate levels t are drawn from [t_min, L-1], including the extrapolated low-rate levels that the
realism decoder is for.

The knob in the loop (``knob_frac`` > 0; Agustsson et al. 2023 condition their generator on the
knob, we train the path of network interpolation instead, which keeps decoding at one pass):
that share of each batch is decoded by θ(α) = θ_f + α (θ_G − θ_f) at one α ~ U(0, 1) per step,
with the generator loss L_G(α) = k_M · MSE + α (k_P · d_P + k_T · T + β · adv), gradients
reaching θ_G through θ(α).  α = 0 is the fidelity decoder's own loss, α = 1 the plain HiFiC
loss, and each setting in between is trained for its own trade-off rather than left to chance
(before, 0.5 departed further from the fidelity output than 1.0 did).  D only sees α = 1.

Capacity and stability: ``--grow-from CKPT --blocks B`` continues a run with B
residual blocks at the latent resolution in front of g_s, added as the identity so the grown
generator starts where CKPT's was; ``--ema`` keeps a moving average E of G's weights, which is
what validation scores and export ships (single G checkpoints swing by ~10% in FID).

What G reads (``latents``, ``--train-latents``): the bin centres ŷ, or ŷ + α δ with δ the entropy
model's conditional mean of each latent within its coded bin minus the centre (hific_codec/
bin_mean.py; α the knob of the sample, 1 for the plain share).  The shipped generator was trained
on centres for 19,174 steps and measured 5-16 FID points better on Kodak at <= 0.2 bpp when
decoded from bin means; "bin-mean" trains it on what it decodes.  That did not pay: 4,683 more
steps with bin means measured 6-19 FID points worse than the shipped weights
decoded from bin means (benchmarks/results/training/realism_binmean_finetune.jsonl).
D is conditioned on ŷ either way.

D trains alone for ``d_warmup`` steps first, so that the generator, which starts as the fidelity
g_s, meets an informed discriminator.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import time

import torch
from torch import nn
from torch.nn.functional import softplus

from .. import checkpoint, zoo
from ..models.discriminator import ConditionalPatchDiscriminator
from ..models.generator import RealismGenerator, blend_state, fidelity_twin
from .data import CropSampler, DataConfig, center_crops, load_split
from .features import EffNetLite0, tap_distance, texture_distance
from .losses import psnr
from .run import Run


@dataclasses.dataclass(frozen=True)
class RealismConfig:
    base: str = "hyperprior-vr"  # zoo name of the frozen fidelity model
    steps: int = 6000
    batch: int = 8
    lr_g: float = 1e-4
    lr_d: float = 2e-4  # two time-scale rule (Heusel et al. 2017): D a step ahead of the pretrained G
    k_m: float = 0.075 * 2**-5  # HiFiC's MSE weight on 0..255 pixels
    k_p: float = 0.25  # d_P on EfficientNet-Lite0 runs ~4x LPIPS-VGG's scale: this balances it with k_M·MSE
    k_t: float = 0.0  # texture (Gram) loss; measured T(x, g_s(ŷ)) ~ 1000 at t = -2, ~660 at t = 0
    beta: float = 0.15
    d_warmup: int = 300
    t_min: float = -3.0
    seed: int = 0
    knob_frac: float = 0.0  # share of each batch trained at a random realism knob (see the docstring)
    blocks: int = 0  # residual blocks at the latent resolution in front of g_s (models/generator.py)
    ema: float = 0.0  # decay of an exponential moving average of G's weights, validated and exported (0: off)
    latents: str = "centre"  # what G reads: ŷ ("centre") or ŷ + α δ ("bin-mean", hific_codec/bin_mean.py)


class Pair(nn.Module):
    """Generator, discriminator and, with ``ema``, the generator's moving average E, under one
    module, so one checkpoint holds them all.  E is what a GAN run should ship: single G
    checkpoints of one run measured Kodak FID 191.9 and 209.6 (q0) two thousand steps apart."""

    def __init__(self, G: RealismGenerator, D: ConditionalPatchDiscriminator, ema: bool = False):
        super().__init__()
        self.G, self.D = G, D
        self.E = copy.deepcopy(G).requires_grad_(False) if ema else None

    def shipped(self) -> RealismGenerator:
        return self.G if self.E is None else self.E

    def restore(self, ckpt, optimizer=None, keep: tuple[str, ...] = ("E.",)) -> None:
        """checkpoint.load, where parts ``ckpt`` lacks (under ``keep``) keep their initialisation:
        grown residual blocks stay the identity, and a missing E (the average switched on now)
        starts at G."""
        from safetensors import safe_open

        with safe_open(str(ckpt), framework="pt") as f:
            has_e = any(k.startswith("model.E.") for k in f.keys())  # noqa: SIM118 (safe_open is not iterable)
        checkpoint.load(ckpt, self, optimizer, keep)
        if self.E is not None and not has_e:
            self.E.load_state_dict(self.G.state_dict())

    @torch.no_grad()
    def update_ema(self, decay: float) -> None:
        for e, g in zip(self.E.parameters(), self.G.parameters()):
            e.lerp_(g, 1.0 - decay)


def frozen_latents(model, x: torch.Tensor, t: torch.Tensor, offsets: bool = False):
    """(ŷ, δ): ŷ (gained domain) as the coder quantises it, with the float twins of h_s and of the
    context model where the model has one (``model``: a loaded codec.Model; training only), and
    the bin-mean offsets δ when ``offsets`` (from the float scales' table indexes: the coder's
    exact indexes differ at most at a few table boundaries), else zeros, so G reads ŷ + α δ
    either way."""
    net = model.net
    with torch.no_grad():
        y = net.g_a(x) * net.gain(t)
        psi = net.h_s(torch.round(net.h_a(y)))
        scale, mean, y_hat = model.y_params(psi, y)
        if not offsets:
            return y_hat, torch.zeros_like(y_hat)
        from bitstream.entropy import scale_indexes

        from ..bin_mean import offsets as bin_offsets

        sym = torch.round(y_hat - mean).numpy()
        delta = bin_offsets(sym.astype("int64"), scale_indexes(scale.double().numpy()))
        return y_hat, torch.from_numpy(delta).float()


class Knob:
    """θ(α) = θ_f + α (θ_G − θ_f) of a generator G, differentiable in θ_G (torch.func): the
    decoder's own interpolation (models/generator.blend_state), so training sees what it decodes."""

    def __init__(self, net, G: RealismGenerator):
        self.net, self.G = net, G
        self.fid = {k: v.detach().clone() for k, v in RealismGenerator.from_fidelity(net).named_parameters()}

    def __call__(self, y_hat: torch.Tensor, t: torch.Tensor, alpha: float) -> torch.Tensor:
        from torch.func import functional_call

        real = dict(self.G.named_parameters())
        params = blend_state(fidelity_twin(self.fid, real), real, alpha)
        return functional_call(self.G, params, (y_hat, self.net.inv_gain(t, params["log_inv_gain"])))


def generator_terms(feats, D, x, x_hat, cond, texture: bool):
    """Per-sample (MSE on 0..255, d_P, T (zeros unless ``texture``), non-saturating adversarial)."""
    with torch.no_grad():
        fx = feats.taps(x)
    fo = feats.taps(x_hat)
    d_p = tap_distance(fx, fo)
    return ((x_hat - x).pow(2).mean((1, 2, 3)) * 255.0**2, d_p,
            texture_distance(fx, fo) if texture else torch.zeros_like(d_p), softplus(-D(x_hat, cond)).mean((1, 2, 3)))


@torch.no_grad()
def validate(model, G, feats, crops, t_values=(-2.0, 0.0, 3.0), bin_mean: bool = False) -> dict[str, float]:
    """Held-out PSNR, d_P and texture distance of the fidelity decoder (fid), the generator
    (real) and the knob at 0.5 (half; it should land between the two)."""
    net = model.net
    knob = Knob(net, G)
    out = {}
    for t in t_values:
        acc: dict[str, list[float]] = {}
        for x in crops:
            x = x[None]
            tt = torch.full((1,), t)
            y_hat, delta = frozen_latents(model, x, tt, offsets=bin_mean)
            outs = {"fid": net.g_s(y_hat * net.inv_gain(tt)),
                    "real": G(y_hat + delta, net.inv_gain(tt, G.log_inv_gain)), "half": knob(y_hat + 0.5 * delta, tt, 0.5)}
            fx = feats.taps(x)
            for name, xo in outs.items():
                xo = xo.clamp(0, 1)
                fo = feats.taps(xo)
                for metric, v in (("psnr", psnr((xo - x).pow(2).mean())), ("dp", tap_distance(fx, fo)),
                                  ("tex", texture_distance(fx, fo))):
                    acc.setdefault(f"t{t:g}_{metric}_{name}", []).append(v.item())
        out.update({k: sum(v) / len(v) for k, v in acc.items()})
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dir", "--run", dest="run", default="runs/realism")
    ap.add_argument("--data", default=DataConfig.root)
    ap.add_argument("--steps", type=int, default=RealismConfig.steps)
    ap.add_argument("--minutes", type=float, default=1e9)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--ckpt-minutes", type=float, default=5.0)
    # loss weights and G's learning rate: given on a resumed run, they replace the checkpoint's
    ap.add_argument("--k-m", type=float)
    ap.add_argument("--k-p", type=float)
    ap.add_argument("--k-t", type=float)
    ap.add_argument("--beta", type=float)
    ap.add_argument("--lr-g", type=float)
    ap.add_argument("--knob-frac", type=float, help="share of each batch trained at a random knob (0: off)")
    ap.add_argument("--ema", type=float, help="decay of the moving average of G's weights that is validated and exported")
    ap.add_argument("--d-warmup", type=int, default=RealismConfig.d_warmup)
    ap.add_argument("--train-latents", choices=zoo.LATENTS,
                    help="what G reads in training (given on a resumed run, replaces the checkpoint's)")
    ap.add_argument("--blocks", type=int, help="residual blocks at the latent resolution (new run, or with --grow-from)")
    ap.add_argument("--grow-from", metavar="CKPT", help="start a new run from CKPT's generator and discriminator "
                    "with --blocks in all (the added ones start as the identity); fresh optimizer, hours counted on")
    ap.add_argument("--export", metavar="CKPT", help="write the generator of CKPT to the zoo and stop")
    ap.add_argument("--name", default="realism-vr", help="zoo name for --export")
    ap.add_argument("--retire-as", default="", help="with --export: the name the generator now under --name keeps")
    ap.add_argument("--latents", choices=zoo.LATENTS, default="bin-mean",
                    help="with --export: what the decoder feeds the generator, ŷ + α δ (bin means, hific_codec/bin_mean.py) "
                    "or ŷ (bin centres), whatever it was trained on (--train-latents).  Measure both with "
                    "benchmarks.realism before shipping")
    args = ap.parse_args(argv)
    if args.export:
        return export(args.export, args.name, args.retire_as, args.latents)

    from .. import codec

    torch.set_num_threads(args.threads)
    run = Run(args.run, args.ckpt_minutes)
    last = run.last
    rc = RealismConfig(steps=args.steps, d_warmup=args.d_warmup, blocks=args.blocks or 0)
    meta = {"step": 0, "seconds": 0.0}
    grow = args.grow_from if args.grow_from and not last.exists() else None
    if last.exists() or grow:
        meta = checkpoint.load_meta(last if last.exists() else grow)
        rc = dataclasses.replace(RealismConfig(**meta["realism_config"]), steps=args.steps)
    if grow:
        if args.blocks is None or args.blocks < rc.blocks:
            raise SystemExit(f"--grow-from {grow} needs --blocks, at least the {rc.blocks} it has")
        rc = dataclasses.replace(rc, blocks=args.blocks, d_warmup=0)
    given = {"k_m": args.k_m, "k_p": args.k_p, "k_t": args.k_t, "beta": args.beta, "lr_g": args.lr_g,
             "knob_frac": args.knob_frac, "ema": args.ema, "latents": args.train_latents}
    rc = dataclasses.replace(rc, **{k: v for k, v in given.items() if v is not None})
    model = codec.load(rc.base)
    net = model.net  # frozen, eval (a private copy in this process: the config change stays here)
    net.cfg = dataclasses.replace(net.cfg, t_min=rc.t_min)  # let the gains extrapolate below level 0
    torch.manual_seed(rc.seed + meta["step"])
    pair = Pair(RealismGenerator.from_fidelity(net, rc.blocks), ConditionalPatchDiscriminator(net.cfg.M), rc.ema > 0)
    G, D = pair.G, pair.D
    opt = torch.optim.Adam([{"params": G.parameters(), "lr": rc.lr_g}, {"params": D.parameters(), "lr": rc.lr_d}],
                           betas=(0.5, 0.999))
    if grow:
        try:
            pair.restore(grow, keep=("G.res.", "E."))  # fresh optimizer: the parameters changed
        except RuntimeError as e:
            raise SystemExit(f"{grow} does not fit this generator: {str(e).splitlines()[0]}") from None
        print(f"grown from {grow} at step {meta['step']} ({meta['seconds'] / 3600:.2f} h trained) to "
              f"{rc.blocks} blocks; {rc}", flush=True)
        meta.setdefault("history", []).append({"step": meta["step"], "config": dataclasses.asdict(rc), "grown_from": grow})
    elif last.exists():
        pair.restore(last, opt)
        opt.param_groups[0]["lr"] = rc.lr_g
        print(f"resumed at step {meta['step']} ({meta['seconds'] / 3600:.2f} h trained); {rc}", flush=True)
        meta.setdefault("history", []).append({"step": meta["step"], "config": dataclasses.asdict(rc)})
    feats = EffNetLite0()
    knob = Knob(net, G)
    dc = DataConfig(root=args.data)
    train_imgs, val_imgs = load_split(dc)
    sampler = CropSampler(train_imgs, dc.crop, seed=rc.seed + meta["step"] + 1)
    val = center_crops(val_imgs)[:12]
    print(f"{len(train_imgs)} training images, {len(val)} held-out crops; base {rc.base} "
          f"({model.entry.sha256[:8]})", flush=True)

    def save() -> None:
        meta.update(realism_config=dataclasses.asdict(rc), data_config=dataclasses.asdict(dc),
                    base_sha256=model.entry.sha256)
        checkpoint.save(last, pair, opt, meta)

    t_start = time.time()
    seconds0, step = meta["seconds"], meta["step"]
    while step < rc.steps and time.time() - t_start < args.minutes * 60:
        x = sampler.batch(rc.batch)
        t = rc.t_min + torch.rand(rc.batch) * (net.cfg.levels - 1 - rc.t_min)
        y_hat, delta = frozen_latents(model, x, t, offsets=rc.latents == "bin-mean")
        cond = (y_hat * net.inv_gain(t)).detach()  # D sees the fidelity-normalised latents (bin centres)
        warm = step < rc.d_warmup
        n = rc.batch - (0 if warm else round(rc.batch * rc.knob_frac))  # the rest: knob samples
        with torch.set_grad_enabled(not warm):
            x_hat = G(y_hat[:n] + delta[:n], net.inv_gain(t[:n], G.log_inv_gain))  # what the decoder feeds G at knob 1
        # -- discriminator
        opt.zero_grad(set_to_none=True)
        l_d = (softplus(-D(x[:n], cond[:n])) + softplus(D(x_hat.detach(), cond[:n]))).mean()
        l_d.backward()
        opt.step()
        rec = {"l_d": l_d.item()}
        # -- generator
        if not warm:
            opt.zero_grad(set_to_none=True)
            mse, d_p, tex, adv = generator_terms(feats, D, x[:n], x_hat, cond[:n], bool(rc.k_t))
            per_sample = rc.k_m * mse + rc.k_p * d_p + rc.k_t * tex + rc.beta * adv
            if n < rc.batch:
                alpha = torch.rand(()).item()
                x_a = knob(y_hat[n:] + alpha * delta[n:], t[n:], alpha)
                m_a, p_a, t_a, a_a = generator_terms(feats, D, x[n:], x_a, cond[n:], bool(rc.k_t))
                per_sample = torch.cat([per_sample, rc.k_m * m_a + alpha * (rc.k_p * p_a + rc.k_t * t_a + rc.beta * a_a)])
                rec["alpha"] = alpha
            l_g = per_sample.mean()
            l_g.backward()
            for p in D.parameters():
                p.grad = None  # the G step must not move D
            opt.step()
            if pair.E is not None:
                pair.update_ema(rc.ema)
            rec.update(l_g=l_g.item(), mse=mse.mean().item(), d_p=d_p.mean().item(), tex=tex.mean().item(),
                       adv=adv.mean().item())
        step += 1
        meta["step"], meta["seconds"] = step, seconds0 + time.time() - t_start
        if step % 25 == 0:
            print(f"step {step} " + " ".join(f"{k} {v:.4f}" for k, v in rec.items())
                  + f" {meta['seconds'] / max(1, step):.2f}s/step", flush=True)
        if step % args.eval_every == 0 or step == rc.steps:
            run.log({"step": step, "hours": meta["seconds"] / 3600, "validated": "G" if pair.E is None else f"ema {rc.ema}",
                     **validate(model, pair.shipped(), feats, val, bin_mean=rc.latents == "bin-mean")})
        run.tick(save)
    run.finish(save, step)


def export(ckpt: str, name: str, retire_as: str = "", latents: str = "bin-mean") -> None:
    """The generator (fp16) to the zoo, tied to the SHA-256 of the fidelity weights it decodes for.
    A generator already under ``name`` that serves other shipped weights moves to ``retire_as``.
    ``latents``: the entry's decode-time input (`zoo.ZooEntry.latents`)."""
    from ..models.hyperprior import HyperpriorConfig
    from .export import publish, retire

    meta = checkpoint.load_meta(ckpt)
    rc = RealismConfig(**meta["realism_config"])
    base = zoo.get(rc.base)
    if meta["base_sha256"] != base.sha256:
        raise SystemExit(f"{ckpt} was trained on weights {meta['base_sha256'][:8]}, {rc.base} is {base.sha256[:8]}")
    old = zoo.entries().get(name)
    if old and old.base != base.sha256 and any(e.sha256 == old.base for e in zoo.entries().values()):
        manifest = json.loads(zoo.MANIFEST.read_text())
        retire(manifest, name, retire_as)  # it decodes for other shipped weights
        zoo.MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
        zoo.entries.cache_clear()
    cfg = HyperpriorConfig(**base.config)
    pair = Pair(RealismGenerator(cfg.N, cfg.M, cfg.levels, rc.blocks), ConditionalPatchDiscriminator(cfg.M), rc.ema > 0)
    pair.restore(ckpt)
    publish(name, pair.shipped().state_dict(), "realism", dataclasses.asdict(rc), meta,
            f"HiFiC-style generator ({rc.blocks} latent-resolution residual blocks + the g_s architecture, "
            "initialised from the fidelity g_s), fine-tuned with "
            "k_M*MSE + k_P*LPIPS-style and k_T*Gram texture distances on EfficientNet-Lite0 + beta*non-saturating "
            "GAN loss against a latent-conditioned patch discriminator; encoder and entropy model frozen; "
            f"loss-weight history {json.dumps(meta.get('history', []))}", base=base.sha256, latents=latents)


if __name__ == "__main__":
    main()
