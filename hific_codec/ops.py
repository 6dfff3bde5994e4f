"""Small autograd helpers shared by the layers and the entropy models."""
from __future__ import annotations

import torch
from torch import Tensor


class _LowerBound(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, bound: float) -> Tensor:
        ctx.save_for_backward(x)
        ctx.bound = bound
        return x.clamp_min(bound)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (x,) = ctx.saved_tensors
        return grad * ((x >= ctx.bound) | (grad < 0)), None


def lower_bound(x: Tensor, bound: float) -> Tensor:
    """max(x, bound), whose gradient still flows where it would push x back above the bound
    (a plain clamp would freeze parameters that fall below it)."""
    return _LowerBound.apply(x, bound)
