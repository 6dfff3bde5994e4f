"""torchrun support: the training scripts run unchanged on 1 process or N (DDP).

    torchrun --nproc_per_node 2 -m hific_codec.train.fidelity --run-dir runs/fidelity
    torchrun --nnodes 2 --node_rank R --master_addr HOST --master_port 29500 \\
             --nproc_per_node 8 -m hific_codec.train.fidelity --run-dir /shared/runs/fidelity

gloo on CPU, nccl on GPU.  Each rank draws its own crops (seeded by rank), so the global batch is
``--batch`` x world size.  Only rank 0 writes checkpoints and logs; every rank resumes from the
same checkpoint, which stores no world-size-dependent state, so a run may resume on another
world size.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup(device: str = "cpu") -> Dist:
    """Join the process group torchrun describes in the environment (no-op without torchrun).
    ``device``: where a single process trains ("cpu", or "cuda" on a GPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise SystemExit("--device cuda: no CUDA device here")
        return Dist(device=torch.device(device))
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", local) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if cuda else "gloo")
    return Dist(rank, world, device)


def wrap(model: torch.nn.Module, d: Dist) -> torch.nn.Module:
    if d.world == 1:
        return model
    # the entropy bottleneck's quantiles get no gradient from the RD loss: tell DDP to expect that
    return torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)


def any_rank(flag: bool, d: Dist) -> bool:
    """True on every rank if it is true on one (all ranks must stop at the same step)."""
    if d.world == 1:
        return flag
    t = torch.tensor([int(flag)], device=d.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def agree_min(n: int, d: Dist) -> int:
    """The smallest of every rank's ``n`` (e.g. a step count each measured for itself)."""
    if d.world == 1:
        return n
    t = torch.tensor([n], device=d.device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return int(t.item())


def param_digests(model: torch.nn.Module, d: Dist) -> list[str]:
    """SHA-256 of this rank's parameters, gathered from every rank (all equal when in sync)."""
    h = hashlib.sha256()
    for _, p in sorted(model.state_dict().items()):
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    if d.world == 1:
        return [h.hexdigest()]
    out: list[str | None] = [None] * d.world
    dist.all_gather_object(out, h.hexdigest())
    return out


def teardown(d: Dist) -> None:
    """Leave the process group once every rank is done with it.  Without the barrier a rank could
    tear gloo down while its peer still had work in flight (the two-process test aborted so,
    "terminate called without an active exception", in a few full test runs); with it the abort
    still came, rarely, at interpreter exit, so a rank of a multi-process run ends here."""
    if d.world > 1:
        dist.barrier()
        dist.destroy_process_group()
        # The abort comes from a C++ destructor at interpreter exit (a background thread still
        # joinable), after every result is written: a rank that is done leaves without running
        # them.  Output is flushed first; checkpoints and logs are closed by then.
        import os
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
