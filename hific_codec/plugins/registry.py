"""Plugins by stable name: the built-ins here, plus the ``nic.plugins`` entry-point group."""
from __future__ import annotations

import importlib
from functools import lru_cache

import numpy as np

from .base import Latents, Plugin, PluginError

ENTRY_POINT_GROUP = "nic.plugins"
# name -> "module:Class", imported only when used (plugins may pull in torch and weights)
BUILTIN = {
    "bicubic2": "hific_codec.plugins.resize:Bicubic2",
    "bicubic4": "hific_codec.plugins.resize:Bicubic4",
    "colorize": "hific_codec.plugins.colorize:Colorize",
    "cycle": "hific_codec.plugins.translate:Cycle",
    "enhance": "hific_codec.plugins.enhance:Enhance",
    "style": "hific_codec.plugins.style:Style",
    "sr2": "hific_codec.plugins.sr:SR2",
    "sr4": "hific_codec.plugins.sr:SR4",
    "translate": "hific_codec.plugins.translate:Translate",
}


@lru_cache(maxsize=1)
def _table() -> dict[str, str]:
    from importlib.metadata import entry_points

    table = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        table.setdefault(ep.name, ep.value)  # a third party cannot shadow a built-in
    return table


def _load_class(name: str) -> type[Plugin]:
    target = _table()[name]
    module, _, attr = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise PluginError(f"plugin {name!r} cannot be loaded from {target}: {e}") from None
    if not (isinstance(cls, type) and issubclass(cls, Plugin)):
        raise PluginError(f"plugin {name!r} ({target}) is not a hific_codec.plugins.Plugin")
    return cls


def available() -> dict[str, str]:
    """name -> one-line description, for every installed plugin."""
    from .. import zoo

    out = {}
    for name in sorted(_table()):
        try:
            cls = _load_class(name)
        except PluginError as e:
            out[name] = f"(broken: {e})"
            continue
        missing = [w for w in cls.weights if w not in zoo.entries()]
        out[name] = cls.description + (f" [weights not installed: {', '.join(missing)}]" if missing else "")
    return out


def create(spec: str) -> Plugin:
    """``name`` or ``name:argument`` -> a plugin instance (weights not loaded yet)."""
    name, _, arg = spec.partition(":")
    if name not in _table():
        raise PluginError(f"unknown plugin {name!r}; installed: {', '.join(sorted(_table()))}")
    return _load_class(name)(arg or None)


def apply_chain(image: np.ndarray, chain: list[str | Plugin], latents: Latents | None = None) -> np.ndarray:
    """Apply plugins (instances, or specs created here) in order; only the first sees the latents
    (later ones see a changed image)."""
    plugins = [p if isinstance(p, Plugin) else create(p) for p in chain]  # every spec checked before any work
    for k, p in enumerate(plugins):
        image = p(image, latents if k == 0 else None)
    return image
