"""models/layers: the sub-pixel form of g_s's transposed convolutions computes the same function."""
import pytest
import torch
from torch import nn

from hific_codec.models.hyperprior import synthesis_transform
from hific_codec.models.layers import deconv, subpixel, subpixel_synthesis


@pytest.mark.parametrize("cin,cout", [(5, 7), (16, 3)])
def test_subpixel_equals_transposed_convolution(cin, cout):
    torch.manual_seed(cin)
    dc = deconv(cin, cout)
    x = torch.randn(2, cin, 9, 6)  # odd sizes: the edge taps (zero padding) are exercised too
    want = dc(x)
    got = subpixel(dc)(x)
    assert got.shape == want.shape == (2, cout, 18, 12)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


def test_subpixel_synthesis_keeps_g_s_and_refuses_other_layers():
    torch.manual_seed(0)
    g_s = synthesis_transform(8, 12).eval()
    fast = subpixel_synthesis(g_s)
    y = torch.randn(1, 12, 4, 5)
    with torch.no_grad():
        torch.testing.assert_close(fast(y), g_s(y), rtol=0, atol=1e-5)
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in fast) == 1  # only the 3-channel output layer
    assert isinstance(g_s[0], nn.ConvTranspose2d)  # the original is left as it was
    with pytest.raises(ValueError, match="5x5 stride-2"):
        subpixel(nn.ConvTranspose2d(4, 4, 3, stride=2, padding=1, output_padding=1))


@pytest.mark.parametrize("inverse", [False, True])
def test_gdn_in_place_inference_is_bit_identical_to_the_training_path(inverse):
    from hific_codec.models.gdn import GDN

    torch.manual_seed(0)
    g = GDN(24, inverse=inverse)
    with torch.no_grad():  # non-trivial gamma/beta, as after training
        g.gamma.add_(0.2 * torch.rand_like(g.gamma))
        g.beta.add_(torch.rand_like(g.beta))
    x = torch.randn(2, 24, 40, 56)
    with torch.no_grad():
        fast = g(x)
    slow = g(x.clone().requires_grad_(True))
    assert torch.equal(fast, slow.detach())
    slow.sum().backward()  # the training path still differentiates (nothing in place there)
    assert g.gamma.grad is not None and torch.isfinite(g.gamma.grad).all()
