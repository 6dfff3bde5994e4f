"""The lossless pixel model in floating point, and its fit to one image.

Per plane: a least-squares linear predictor over the context's pixel values (solved in closed
form), and a small MLP that reads the context relative to that prediction, with the prediction
errors of the neighbours and of the earlier planes (hific_codec.lossless.context), and returns a
correction of the mean and the log-scale of a discretised Laplace distribution for the pixel:

    v (values) --lin--> ref
    ((v - ref) / 8, errors / 8) --l1--relu--l2--relu(+skip)--out--> (Δμ, log b);   μ = ref + 4 Δμ

(the MLP is the overfitted coder's ARM with inputs of its own).

The fit minimises the pixels' code length (bits) by Adam on random pixel batches.  Both parts
are then rounded to integers (hific_codec.lossless.exact), so the decoder is exact.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch

from ..overfit.model import ARM, laplace_bits

INPUT_SCALE = 8.0  # context differences are fed as (x - ref) / 8
MEAN_SCALE = 4.0  # the MLP's mean correction is 4 Δμ grey levels


@dataclass(frozen=True)
class LosslessConfig:
    radius: int = 3  # causal neighbourhood: R rows above (±R columns) and R pixels to the left
    hidden: int | None = None  # MLP width; None: by image size (`width_for`), as the weights' bytes are paid once
    iterations: int | None = None  # Adam steps per plane; None: by image size (`steps_for`)
    batch: int = 16384  # pixels per step
    lr: float = 1.5e-2
    seed: int = 0

    def for_pixels(self, pixels: int) -> LosslessConfig:
        """This config with the width and steps left to the image size filled in."""
        return replace(self, hidden=self.hidden or width_for(pixels), iterations=self.iterations or steps_for(pixels))


def width_for(pixels: int) -> int:
    """The MLP width that pays for its weights: 8 below 64k pixels, 16 below 256k, else 32."""
    return 8 if pixels < 1 << 16 else 16 if pixels < 1 << 18 else 32


def steps_for(pixels: int) -> int:
    """Fitting steps per plane: a small image is seen whole in a few steps, and its small model
    converges sooner."""
    return 200 if pixels < 1 << 16 else 500 if pixels < 1 << 18 else 1200


def linear_predictor(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Least-squares weights (n + 1: then the bias) predicting ``t`` from context ``x``."""
    a = np.concatenate([x.astype(np.float64), np.ones((len(t), 1))], axis=1)
    # normal equations with a tiny ridge: well-posed even for flat images (all contexts equal)
    g = a.T @ a
    g += np.eye(len(g)) * (1e-6 * np.trace(g) / len(g) + 1e-9)
    return np.linalg.solve(g, a.T @ t.astype(np.float64))


def fit_plane(d: np.ndarray, residual: np.ndarray, cfg: LosslessConfig, progress=None) -> ARM:
    """Fit one plane's MLP to the features ``d`` (one row per pixel, already scaled) and the
    pixels' residuals from the linear prediction; ``cfg`` as `LosslessConfig.for_pixels` fills it."""
    g = torch.Generator().manual_seed(cfg.seed)
    d = torch.from_numpy(d.astype(np.float32))
    r = torch.from_numpy(residual.astype(np.float32))
    with torch.random.fork_rng(devices=[]):  # the same image gives the same file, and the caller's RNG is left alone
        torch.manual_seed(cfg.seed)
        m = ARM(cfg.hidden, inputs=d.shape[1])
    with torch.no_grad():
        m.out.bias[1] = math.log(max(float(r.abs().mean()), 0.05))
    opt = torch.optim.Adam(m.parameters(), cfg.lr)
    steps = cfg.iterations
    # one-cycle: a short warm-up (at least 2 steps: the scheduler needs both phases), cosine decay
    sched = (torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=steps, pct_start=max(0.05, 2 / steps))
             if steps >= 4 else None)
    n = len(r)
    for it in range(steps):
        idx = torch.randint(0, n, (min(cfg.batch, n),), generator=g)
        mu, log_b = m(d[idx])
        loss = laplace_bits(r[idx], MEAN_SCALE * mu, log_b).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        if progress is not None:
            progress(it + 1)
    return m.eval()
