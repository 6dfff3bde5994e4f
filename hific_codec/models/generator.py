"""Realism generator: a second synthesis transform for the same ŷ, trained as a conditional GAN.

::

    ŷ_g ──×inv_gain_G(t)──> G (g_s architecture) ──> x̂_realism
                                                        │
    ŷ_g ×inv_gain_G(t) ──1x1 conv, ×16 nearest──┐       ▼
                                                 └─> D(x, ŷ)  (models/discriminator.py)

HiFiC (Mentzer et al., NeurIPS 2020) trains a large generator with residual blocks.  On two CPU
cores we keep the fidelity decoder's own architecture (g_s, ~1.0 M parameters) and initialise
the generator from it: the GAN fine-tunes an already good decoder, decode time is the fidelity
decoder's, and the realism knob becomes network interpolation (Wang et al., ESRGAN 2018):
θ(α) = θ_fidelity + α (θ_realism − θ_fidelity), one forward pass at any α in [0, 1].
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .hyperprior import MeanScaleHyperprior, synthesis_transform


class RealismGenerator(nn.Module):
    """g_s-shaped generator with its own inverse gains (so it can re-scale each rate level)."""

    def __init__(self, N: int, M: int, levels: int):
        super().__init__()
        self.g_s = synthesis_transform(N, M)
        self.log_inv_gain = nn.Parameter(torch.zeros(levels, M))

    @classmethod
    def from_fidelity(cls, net: MeanScaleHyperprior) -> "RealismGenerator":
        g = cls(net.cfg.N, net.cfg.M, net.cfg.levels)
        g.g_s.load_state_dict(net.g_s.state_dict())
        g.log_inv_gain.data.copy_(net.log_inv_gain.data)
        return g

    def forward(self, y_hat: Tensor, inv_gain: Tensor) -> Tensor:
        return self.g_s(y_hat * inv_gain)


def blend_state(fidelity: dict[str, Tensor], realism: dict[str, Tensor], alpha: float) -> dict[str, Tensor]:
    """Network interpolation, parameter by parameter, in float32 (deterministic elementwise ops)."""
    if fidelity.keys() != realism.keys():
        raise ValueError("realism weights do not match the fidelity decoder's layout")
    a = torch.tensor(float(alpha), dtype=torch.float32)
    return {k: fidelity[k].float() + a * (realism[k].float() - fidelity[k].float()) for k in fidelity}
