"""NIC: a learned image codec.

    >>> import hific_codec
    >>> data = hific_codec.encode(rgb_uint8_array, quality=50)
    >>> rgb = hific_codec.decode(data)

Importing the package registers the Pillow plugin (``Image.open("x.nic")``); torch is imported
only when an image is actually encoded or decoded.
"""
import os

# Conditional numerical reproducibility: MKL's GEMM (used by the decoder's synthesis transform)
# then takes the same code path on every AVX2-capable CPU.  Read by MKL at its first call.
os.environ.setdefault("MKL_CBWR", "AVX2")

from bitstream import FormatError  # noqa: E402

from . import allocator  # noqa: E402  (opt-in allocator tuning; ctypes only)
from .api import DEFAULT_QUALITY, Info, decode, decode_batch, encode, info  # noqa: E402

__version__ = "0.1.0"
__all__ = ["encode", "decode", "decode_batch", "info", "Info", "FormatError", "DEFAULT_QUALITY", "__version__"]

try:
    from . import pil_plugin  # noqa: F401  (registers .nic with Pillow)
except ImportError:  # Pillow is a dependency, but the codec API works without it
    pass
