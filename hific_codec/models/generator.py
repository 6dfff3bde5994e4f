"""Realism generator: a second synthesis transform for the same ŷ, trained as a conditional GAN.

::

    ŷ_g ──×inv_gain_G(t)──> res: B residual blocks ──> g_s (fidelity g_s's architecture) ──> x̂_realism
                            (latent resolution)                                               │
    ŷ_g ×inv_gain_G(t) ──1x1 conv, ×16 nearest──────────────────────────────────────┐         ▼
                                                                                     └──> D(x, ŷ)  (models/discriminator.py)

HiFiC (Mentzer et al., NeurIPS 2020) puts nine residual blocks of 960 channels at the latent
resolution in front of its upsampling stack.  On two CPU cores we keep the fidelity decoder's
own upsampling stack (g_s, ~1.0 M parameters), initialised from it, and add ``blocks`` (0 in the
first generators) residual blocks of M channels at the latent resolution, where a convolution
costs 1/256 of one at full resolution: capacity for texture at ~4% of the decode time per block.

The realism knob is network interpolation (Wang et al., ESRGAN 2018), one forward pass at any α:
θ(α) = θ_twin + α (θ_realism − θ_twin), where θ_twin is the fidelity decoder written in the
generator's layout (``fidelity_twin``): g_s and its gains, and each residual block with its
output convolution at zero, i.e. the identity.  α = 0 is the fidelity decoder exactly, and a
block's residual branch scales with α.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .hyperprior import MeanScaleHyperprior, synthesis_transform


class ResidualBlock(nn.Module):
    """x + conv_out(LeakyReLU(conv_in(x))); conv_out starts at zero, so a new block is the identity."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv_in = nn.Conv2d(channels, channels, 3, padding=1)
        self.act = nn.LeakyReLU(0.2)
        self.conv_out = nn.Conv2d(channels, channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv_out(self.act(self.conv_in(x)))


class RealismGenerator(nn.Module):
    """Residual blocks + g_s-shaped upsampling, with its own inverse gains (to re-scale each rate level)."""

    def __init__(self, N: int, M: int, levels: int, blocks: int = 0):
        super().__init__()
        self.res = nn.Sequential(*(ResidualBlock(M) for _ in range(blocks)))
        self.g_s = synthesis_transform(N, M)
        self.log_inv_gain = nn.Parameter(torch.zeros(levels, M))

    @classmethod
    def from_fidelity(cls, net: MeanScaleHyperprior, blocks: int = 0) -> RealismGenerator:
        g = cls(net.cfg.N, net.cfg.M, net.cfg.levels, blocks)
        g.g_s.load_state_dict(net.g_s.state_dict())
        g.log_inv_gain.data.copy_(net.log_inv_gain.data)
        return g

    def forward(self, y_hat: Tensor, inv_gain: Tensor) -> Tensor:
        return self.g_s(self.res(y_hat * inv_gain))


def blocks_halo(res: nn.Sequential) -> int:
    """Receptive radius of the residual blocks in latents (two 3x3 convolutions per block): the
    extra halo a tiled decoder gives them."""
    return 2 * len(res)


def blocks_in(state: dict[str, Tensor]) -> int:
    """How many residual blocks a generator state dict holds (0 for the first generators' files)."""
    return sum(1 for k in state if k.startswith("res.") and k.endswith(".conv_in.weight"))


def fidelity_twin(fidelity: dict[str, Tensor], realism: dict[str, Tensor]) -> dict[str, Tensor]:
    """The fidelity decoder in the layout of ``realism``: ``fidelity`` (g_s and gains) plus, per
    residual block, the realism block's input convolution and a zero output convolution (identity)."""
    twin = dict(fidelity)
    for k, v in realism.items():
        if k.startswith("res."):
            twin[k] = torch.zeros_like(v) if ".conv_out." in k else v
    return twin


def blend_state(fidelity: dict[str, Tensor], realism: dict[str, Tensor], alpha: float) -> dict[str, Tensor]:
    """Network interpolation, parameter by parameter, in float32 (deterministic elementwise ops)."""
    if fidelity.keys() != realism.keys():
        raise ValueError("realism weights do not match the fidelity decoder's layout")
    a = torch.tensor(float(alpha), dtype=torch.float32)
    return {k: fidelity[k].float() + a * (realism[k].float() - fidelity[k].float()) for k in fidelity}
