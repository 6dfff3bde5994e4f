"""Encoder effort: per-image refinement of the latents before coding (decoder and format unchanged).

The analysis transform ``g_a`` is amortised: it gives good latents for images in general, not
the best ones for this image.  With the decoder fixed, the encoder may search for latents with a
lower rate-distortion cost ``lambda(t) * 255^2 * MSE + bpp`` for this image (Campos et al. 2019,
"Content adaptive optimization for neural image compression"; Yang et al. 2020, "Improving
inference for neural image compression").  Here: Adam on ``y``, rounding with straight-through
gradients exactly where the coder rounds (``ẑ = round(h_a(y))``, ``ŷ = round(y - μ) + μ``), the
Gaussian rate of ``ŷ`` (the rate of ``ẑ``, a few percent of the file, is left out of the
objective), and the best iterate kept.  Cost: one ``g_s`` forward and backward per iteration.
"""
from __future__ import annotations

import numpy as np
import torch

from .codec import Analysis, Model
from .entropy_models import bits, gaussian_likelihood, ste_round

EFFORT_ITERS = {0: 0, 1: 25, 2: 100}  # effort level -> iterations
MAX_PIXELS = 1 << 22  # refinement back-propagates through g_s on the whole image: 4 Mpx at most
LR = 0.03


def refine(model: Model, a: Analysis, rgb: np.ndarray, quality: float, iters: int, lr: float = LR) -> Analysis:
    """Return an Analysis whose latents have a lower RD cost at ``quality`` for the HxWx3 uint8
    image ``rgb`` than ``a``'s (or ``a``'s own latents if no iterate beat them)."""
    if iters <= 0:
        return a
    h, w = a.height, a.width
    if h * w > MAX_PIXELS:
        raise ValueError(f"encoder effort above 0 supports images up to {MAX_PIXELS} pixels, got {w}x{h}")
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float().div_(255.0)
    net = model.net
    t = model.t(quality)
    gain, inv, lam = net.gain(t), net.inv_gain(t), net.lmbda(t)
    y = (a.y0 * gain).detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([y], lr=lr)
    best_loss, best_y = float("inf"), None
    with torch.enable_grad():
        for it in range(iters + 1):
            z_hat = ste_round(net.h_a(y))
            scale, mean, y_hat = model.y_params(net.h_s(z_hat), y)
            x_hat = net.g_s(y_hat * inv)[:, :, :h, :w]
            bpp = bits(gaussian_likelihood(y_hat, scale, mean)) / (h * w)
            loss = (lam * 255.0**2 * (x_hat - x).pow(2).mean() + bpp).sum()
            if loss.item() < best_loss:
                best_loss, best_y = loss.item(), y.detach().clone()
            if it == iters:
                break  # the last pass only scores the last step
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return Analysis((best_y / gain).detach(), h, w)
