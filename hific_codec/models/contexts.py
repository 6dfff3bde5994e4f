"""Context models by stable kind name (a zoo entry's ``context["kind"]``; absent means
"checkerboard", the only kind before model 8): the float network, its exact twin, and the
lowest container version whose decoders know its coding passes."""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from torch import nn

from .channel_context import ChannelContext, ChannelContextConfig
from .context import CheckerboardContext, ContextConfig
from .context_config import VERSIONS
from .int_channel_context import IntChannelContext
from .int_context import IntContext
from .int_hyper_synthesis import numpy_state


class Kind(NamedTuple):
    network: type[nn.Module]  # the float network, built from its config
    config: Callable[[dict], object]  # a checkpoint's or zoo entry's config dict -> the network's config
    exact: Callable[[nn.Module], object]  # trained network -> fixed-point twin the coder runs
    version: tuple[int, int]  # container version of files coded with it


KINDS = {
    "checkerboard": Kind(CheckerboardContext, lambda d: ContextConfig(**d), lambda m: IntContext(numpy_state(m)),
                         VERSIONS["checkerboard"]),
    "channel": Kind(ChannelContext, ChannelContextConfig.from_dict, lambda m: IntChannelContext(numpy_state(m), m.cfg),
                    VERSIONS["channel"]),
}
DEFAULT = "checkerboard"  # the kind of entries and checkpoints that name none (before model 8)


def kind_of(module: nn.Module) -> str:
    return next(name for name, k in KINDS.items() if type(module) is k.network)


def build(kind: str, config: dict) -> nn.Module:
    """An untrained context model of ``kind`` with ``config`` (load its weights next)."""
    if kind not in KINDS:
        raise ValueError(f"unknown context kind {kind!r}; known: {', '.join(KINDS)}")
    return KINDS[kind].network(KINDS[kind].config(config))


def exact(module: nn.Module):
    """The fixed-point twin the coder evaluates (IntContext or IntChannelContext)."""
    return KINDS[kind_of(module)].exact(module)
