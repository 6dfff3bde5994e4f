"""Decoder-side post-processing plugins: ``nic decode x.nic --post sr4 --post style:candy``.

A plugin takes the decoded image (HxWx3 uint8) and, if it wants them, the decoded latents, and
returns a new image.  Built-in plugins live in this package; third-party ones register through
the ``nic.plugins`` entry-point group (see docs/plugins.md).  Plugins are created by a
spec string, ``name`` or ``name:argument``, and load their weights lazily, on first use.
"""
from .base import Latents, Plugin, PluginError
from .registry import apply_chain, available, create

__all__ = ["Latents", "Plugin", "PluginError", "apply_chain", "available", "create"]
