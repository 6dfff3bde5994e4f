"""NIC: a learned image codec.

    >>> import hific_codec
    >>> data = hific_codec.encode(rgb_uint8_array, quality=50)
    >>> rgb = hific_codec.decode(data)

Importing the package registers the Pillow plugin (``Image.open("x.nic")``); torch is imported
only when an image is actually encoded or decoded.
"""
import os

# Conditional numerical reproducibility for MKL's GEMM (the decoder's synthesis): strict mode,
# results independent of the thread count.  Read by MKL at its first call (see numerics.py).
os.environ.setdefault("MKL_CBWR", "AVX2,STRICT")

from bitstream import FormatError

from . import allocator  # opt-in allocator tuning; ctypes only
from .api import DEFAULT_QUALITY, Info, decode, decode_batch, encode, info

__version__ = "0.1.0"
__all__ = ["DEFAULT_QUALITY", "FormatError", "Info", "__version__", "allocator", "decode", "decode_batch", "encode", "info"]

try:
    from . import pil_plugin  # noqa: F401  (registers .nic with Pillow)
except ImportError:  # Pillow is a dependency, but the codec API works without it
    pass
