"""Execution engines shared by batch coding and the benchmark harness: worker processes or Ray.

Both take a picklable function and a list of argument tuples and yield ``(index, result)`` as
tasks finish.  Ray runs locally (``ray.init(num_cpus=jobs)``) or on the cluster at ``address``;
tasks then read and write paths that every node must see (a shared filesystem).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence

ENGINES = ("local", "ray")


def set_threads(threads: int) -> None:
    """A worker's set-up: its torch thread count, and the allocator tuning (see allocator.py)."""
    import torch

    from . import allocator

    torch.set_num_threads(threads)
    allocator.tune()


def die_with_parent(parent: int) -> None:
    """A worker process ends when the process that started it does, however that one ended
    (SIGKILL included): otherwise it would go on encoding the queue, then idle for ever.

    Linux delivers SIGKILL on the parent's exit (prctl PR_SET_PDEATHSIG); elsewhere, and as a
    fallback, a daemon thread polls the parent id once a second."""
    import ctypes
    import signal
    import threading
    import time

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before the prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(1.0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _worker_init(threads: int, parent: int) -> None:
    die_with_parent(parent)
    set_threads(threads)


def local_map(fn: Callable, args: Sequence[tuple], jobs: int = 1) -> Iterator[tuple[int, object]]:
    threads = max(1, (os.cpu_count() or 1) // max(1, jobs))
    if jobs <= 1:
        set_threads(threads)
        for i, a in enumerate(args):
            yield i, fn(*a)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = mp.get_context("spawn")  # forking a process whose torch threads already run can deadlock
    with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_worker_init, initargs=(threads, os.getpid())) as ex:
        futs = {ex.submit(fn, *a): i for i, a in enumerate(args)}
        for f in as_completed(futs):
            yield futs[f], f.result()


def _ray_call(fn: Callable, a: tuple):
    set_threads(1)
    return fn(*a)


def ray_map(fn: Callable, args: Sequence[tuple], jobs: int = 2, address: str | None = None) -> Iterator[tuple[int, object]]:
    try:
        import ray
    except ImportError:
        raise RuntimeError("the ray engine needs Ray: pip install 'hific-codec[scale]'") from None
    started = not ray.is_initialized()
    if started:
        kw = {"address": address} if address else {"num_cpus": jobs, "include_dashboard": False}
        ray.init(log_to_driver=False, **kw)
    try:
        call = ray.remote(num_cpus=1)(_ray_call)
        refs = {call.remote(fn, a): i for i, a in enumerate(args)}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield refs[done[0]], ray.get(done[0])
    finally:
        if started:
            ray.shutdown()


def imap(fn: Callable, args: Sequence[tuple], engine: str = "local", jobs: int = 1,
         address: str | None = None) -> Iterator[tuple[int, object]]:
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
    return local_map(fn, args, jobs) if engine == "local" else ray_map(fn, args, jobs, address)
