"""Context models by stable kind name (a zoo entry's ``context["kind"]``; absent means
"checkerboard", the only kind before model 8): the float network and its exact twin."""
from __future__ import annotations

from torch import nn

from .channel_context import ChannelContext, ChannelContextConfig
from .context import CheckerboardContext, ContextConfig
from .int_channel_context import IntChannelContext
from .int_context import IntContext

KINDS = {
    "checkerboard": (lambda config: CheckerboardContext(ContextConfig(**config)), IntContext),
    "channel": (lambda config: ChannelContext(ChannelContextConfig.from_dict(config)), IntChannelContext),
}


def kind_of(module: nn.Module) -> str:
    return "channel" if isinstance(module, ChannelContext) else "checkerboard"


def build(kind: str, config: dict) -> nn.Module:
    """An untrained context model of ``kind`` with ``config`` (load its weights next)."""
    if kind not in KINDS:
        raise ValueError(f"unknown context kind {kind!r}; known: {', '.join(KINDS)}")
    return KINDS[kind][0](config)


def exact(module: nn.Module):
    """The fixed-point twin the coder evaluates (IntContext or IntChannelContext)."""
    return KINDS[kind_of(module)][1](module)
