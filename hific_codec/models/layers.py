"""Small convolution helpers shared by the transforms (padding chosen so stride-2 layers halve/double exactly)."""
from __future__ import annotations

from torch import Tensor, nn


def conv(cin: int, cout: int, k: int = 5, stride: int = 2) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)


def deconv(cin: int, cout: int, k: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, k, stride=stride, padding=k // 2, output_padding=stride - 1)


def subpixel(dc: nn.ConvTranspose2d) -> nn.Sequential:
    """The same function as a stride-2 5x5 transposed convolution, as a 3x3 convolution to 4x the
    channels followed by a 2x pixel shuffle (sub-pixel convolution, Shi et al. 2016).

    Output pixel (2i+a, 2j+b) of the transposed convolution sums input (i+d, j+e), d, e in {-1, 0, 1},
    through kernel tap (a+2-2d, b+2-2e); taps outside 0..4 are zero.  Used only at inference: on
    CPU with oneDNN off (see codec.synthesise) it runs ~1.5x faster than PyTorch's transposed
    convolution.  The float summation order differs, so pixels may differ by one level in ~1e-5
    of values: a model's entry fixes which form its decoder uses.
    """
    if dc.kernel_size != (5, 5) or dc.stride != (2, 2) or dc.padding != (2, 2) or dc.output_padding != (1, 1):
        raise ValueError("subpixel() converts the codec's 5x5 stride-2 transposed convolutions only")
    k, bias = subpixel_weights(dc.weight.detach(), dc.bias.detach())
    c = nn.Conv2d(k.shape[1], k.shape[0], 3, padding=1)
    c.weight.data, c.bias.data = k, bias
    return nn.Sequential(c, nn.PixelShuffle(2)).requires_grad_(False)


def subpixel_weights(w: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """(3x3 kernel (4 cout, cin, 3, 3), bias (4 cout,)) equivalent to a 5x5 stride-2 transposed
    convolution's (w (cin, cout, 5, 5), b (cout,)); see `subpixel`.  Taps are moved, never summed."""
    cin, cout = w.shape[:2]
    k = w.new_zeros(cout, 2, 2, cin, 3, 3)
    for a in range(2):
        for c in range(2):
            for d in range(3):
                for e in range(3):
                    kh, kw = a + 4 - 2 * d, c + 4 - 2 * e  # a + 2 - 2(d - 1)
                    if kh <= 4 and kw <= 4:
                        k[:, a, c, :, d, e] = w[:, :, kh, kw].t()
    return k.reshape(4 * cout, cin, 3, 3), b.repeat_interleave(4)


def subpixel_synthesis(g_s: nn.Sequential) -> nn.Sequential:
    """g_s with every transposed convolution but the last (3 output channels: 12-wide GEMMs are
    slower there, measured) in its sub-pixel form.  The converted layers hold new tensors; the
    other layers are g_s's own modules, shared."""
    layers = list(g_s)
    deconvs = [i for i, m in enumerate(layers) if isinstance(m, nn.ConvTranspose2d)]
    for i in deconvs[:-1]:
        layers[i] = subpixel(layers[i])
    return nn.Sequential(*layers).eval()
