"""The plugin contract."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class PluginError(ValueError):
    """A plugin spec is unknown or malformed, or a plugin cannot run on this input."""


@dataclass(frozen=True)
class Latents:
    """What the decoder knew besides the pixels: the quantized latents of the image."""

    y_hat: np.ndarray  # (M, H/16, W/16) float32, in the gained domain of the coded rate level
    quality: float  # the quality the latents were coded at
    model: str  # zoo name of the model that coded them


class Plugin:
    """Subclass and set ``name`` and ``description``; override `run` (and `output_size` when the
    size changes).  ``arg`` is the part of the spec after ``:`` (``style:candy`` -> ``candy``)."""

    name: str = ""
    description: str = ""
    uses_latents: bool = False
    colour: bool = False  # its output is colour even for a grey input (colorize)
    weights: tuple[str, ...] = ()  # zoo names of the weights it loads (built-ins), for `nic plugins`

    def __init__(self, arg: str | None = None):
        self.arg = arg
        self._loaded = False

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """The output's (height, width) for an input of this size (override when it changes)."""
        return height, width

    def load(self) -> None:
        """Load weights (called once, before the first `run`)."""

    def ensure_loaded(self) -> None:
        """Run `load` once; callers that want missing weights reported early call this first."""
        if not self._loaded:
            self.load()
            self._loaded = True

    def zoo_weights(self, name: str):
        """(zoo entry, float32 state dict) of shipped weights ``name``, or a PluginError naming them."""
        from .. import zoo

        try:
            entry = zoo.get(name)
        except ValueError:
            raise PluginError(f"{self.name}: weights {name!r} are not installed") from None
        return entry, zoo.float_tensors(entry)

    def frozen(self, net, state: dict):
        """``net`` with ``state`` loaded, in eval mode without gradients: what `load` keeps as
        ``self.net`` (``self.torch`` is set too, for `run`)."""
        import torch

        net.load_state_dict(state)
        self.torch = torch
        return net.eval().requires_grad_(False)

    def tiled(self, image: np.ndarray, tile: int, halo: int, scale: int = 1, multiple: int = 1) -> np.ndarray:
        """``self.net`` over ``tile``-pixel tiles of the edge-padded image, each with ``halo`` pixels
        of context (more than the network's receptive field, so the tiles' cores are what one pass
        over the whole image gives); the output is ``scale`` times the input.  ``multiple``: every
        tile is cut with sides a multiple of it (from the extra edge padding at the bottom and
        right), for networks that work at a lower resolution; what it adds is dropped."""
        torch = self.torch
        h, w = image.shape[:2]
        extra = multiple - 1
        x = np.pad(image, ((halo, halo + extra), (halo, halo + extra), (0, 0)), mode="edge")
        x = torch.from_numpy(x).permute(2, 0, 1)[None].float().div_(255)
        out = np.empty((h * scale, w * scale, 3), np.uint8)
        with torch.no_grad():
            for i in range(0, h, tile):
                for j in range(0, w, tile):
                    th, tw = min(tile, h - i), min(tile, w - j)
                    ch, cw = -(-th // multiple) * multiple, -(-tw // multiple) * multiple  # rounded up
                    y = self.net(x[:, :, i : i + ch + 2 * halo, j : j + cw + 2 * halo])
                    y = y[0, :, halo * scale : (halo + th) * scale, halo * scale : (halo + tw) * scale]
                    out[i * scale : (i + th) * scale, j * scale : (j + tw) * scale] = (
                        y.mul(255).round_().clamp_(0, 255).permute(1, 2, 0).to(torch.uint8).numpy())
        return out

    def run(self, image: np.ndarray, latents: Latents | None) -> np.ndarray:
        """HxWx3 uint8 -> HxWx3 uint8 (override); ``latents`` only for the first plugin of a
        chain on a hyperprior file, else None."""
        raise NotImplementedError

    def __call__(self, image: np.ndarray, latents: Latents | None = None) -> np.ndarray:
        """Apply to an HxWx3 uint8 image (grey HxW and RGBA are handled: alpha is resized along)."""
        img = np.asarray(image)
        if img.dtype != np.uint8 or img.ndim not in (2, 3):
            raise PluginError(f"{self.name}: expected a uint8 HxW or HxWxC image, got {img.dtype} {img.shape}")
        self.ensure_loaded()
        grey = img.ndim == 2
        rgb = np.repeat(img[:, :, None], 3, axis=2) if grey else img[:, :, :3]
        out = self.run(np.ascontiguousarray(rgb), latents)
        want = self.output_size(*img.shape[:2])
        if out.shape != (*want, 3) or out.dtype != np.uint8:
            raise PluginError(f"{self.name}: returned {out.dtype} {out.shape}, promised {(*want, 3)} uint8")
        if grey and not self.colour:
            return ((out.astype(np.uint16).sum(axis=2) + 1) // 3).astype(np.uint8)
        if img.ndim == 3 and img.shape[2] == 4:
            from PIL import Image

            alpha = np.asarray(Image.fromarray(img[:, :, 3]).resize(want[::-1], Image.BICUBIC))
            return np.dstack([out, alpha])
        return out
