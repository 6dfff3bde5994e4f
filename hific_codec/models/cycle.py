"""CycleGAN (Zhu et al., ICCV 2017): unpaired translation between two image sets, CPU-sized.

::

    G: A -> B and F: B -> A, each   x ─c7s1 ngf─ d 2ngf ─ d 4ngf ─ [res 4ngf] x R ─ u 2ngf ─ u ngf ─ c7s1 3 (tanh)
    D_A, D_B: unconditional PatchGANs (models/pix2pix.py's, on 3 channels)

    L = LSGAN(D_B, G(a)) + LSGAN(D_A, F(b)) + λ (|F(G(a)) − a|_1 + |G(F(b)) − b|_1)

The generator is the paper's ResNet one (Johnson et al. 2016) with instance norm and reflection
padding, at a quarter of its width (ngf 16) and with fewer residual blocks, for two CPU cores.
No pairing is used: each batch draws its A and B images independently.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from .pix2pix import _down


@dataclass(frozen=True)
class CycleConfig:
    ngf: int = 16
    blocks: int = 4
    size: int = 128  # the side the networks work at


def _norm_relu(c: int) -> list[nn.Module]:
    return [nn.InstanceNorm2d(c, affine=True), nn.ReLU(inplace=True)]


class _Res(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3, bias=False), *_norm_relu(c),
                                  nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3, bias=False), nn.InstanceNorm2d(c, affine=True))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """(B, 3, H, W) in -1..1, H and W multiples of 4 -> the same shape, -1..1."""

    def __init__(self, cfg: CycleConfig = CycleConfig()):
        super().__init__()
        n = cfg.ngf
        self.net = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(3, n, 7, bias=False), *_norm_relu(n),
            nn.Conv2d(n, 2 * n, 3, 2, 1, bias=False), *_norm_relu(2 * n),
            nn.Conv2d(2 * n, 4 * n, 3, 2, 1, bias=False), *_norm_relu(4 * n),
            *[_Res(4 * n) for _ in range(cfg.blocks)],
            nn.ConvTranspose2d(4 * n, 2 * n, 3, 2, 1, output_padding=1, bias=False), *_norm_relu(2 * n),
            nn.ConvTranspose2d(2 * n, n, 3, 2, 1, output_padding=1, bias=False), *_norm_relu(n),
            nn.ReflectionPad2d(3), nn.Conv2d(n, 3, 7), nn.Tanh())

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class PatchCritic(nn.Module):
    """Unconditional 70x70-style PatchGAN: (B, 3, H, W) -> patch scores (least-squares GAN)."""

    def __init__(self, ndf: int = 32):
        super().__init__()
        n = ndf
        self.body = nn.Sequential(_down(3, n, norm=False), _down(n, 2 * n), _down(2 * n, 4 * n),
                                  nn.Conv2d(4 * n, 1, 4, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)
