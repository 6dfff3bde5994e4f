"""Benchmark harness: rate–distortion curves of NIC against classic codecs.

    python -m benchmarks --dataset kodak --codecs nic,jpeg,jpeg420,webp,avif,bpg

JSON first (CompressAI's results format, one file per codec), then CSV, Markdown and plots made
from the JSON.  bpp always comes from real file bytes.

NIC is timed as batch decoding (``nic decode DIR``) runs it: with glibc's allocator tuned
(hific_codec/allocator.py), in the harness process and in its workers.  A one-file ``nic decode``
is not tuned; its time is mostly ``import torch``.
"""
from hific_codec import allocator as _allocator

_allocator.tune()
