"""FastAvgPool2d gives torch's avg_pool2d bit for bit, and leaves every autograd-recorded forward to torch."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gradsign.spaces.nb201 import NB201_OPS, nb201_arch_at
from gradsign.spaces.nb201_network import NB201Network
from gradsign.spaces import pooling
from gradsign.spaces.pooling import FastAvgPool2d


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    return (a.shape == b.shape and a.dtype == b.dtype and torch.equal(a.isnan(), b.isnan())
            and torch.equal(a.nan_to_num(0.0), b.nan_to_num(0.0)) and torch.equal(a.signbit(), b.signbit()))


def awkward_input(shape, dtype, scale, generator) -> torch.Tensor:
    """Gaussian values at ``scale`` with +0 and -0 sprinkled in (subnormal at 1e-40 in float32, overflowing at 1e37)."""
    x = torch.randn(shape, generator=generator, dtype=dtype) * scale
    x[torch.rand(shape, generator=generator) < 0.2] = 0.0
    x[torch.rand(shape, generator=generator) < 0.05] *= -0.0
    return x


@pytest.mark.parametrize("kernel,stride,padding,include_pad", [
    (k, s, p, inc) for k, s, p, inc in itertools.product((1, 2, 3, 5), (1, 2, 3), (0, 1, 2), (False, True))
    if p <= k // 2
])
def test_no_grad_forward_equals_torch_bit_for_bit(kernel, stride, padding, include_pad, monkeypatch):
    monkeypatch.setattr(pooling, "SLICE_MIN_PIXELS", 0)  # the slices on small maps too
    generator = torch.Generator().manual_seed(kernel * 100 + stride * 10 + padding)
    pool = FastAvgPool2d(kernel, stride=stride, padding=padding, count_include_pad=include_pad)
    for shape in ((4, 16, 32, 32), (3, 8, 8, 8), (2, 3, 2, 7), (1, 1, 3, 3), (3, 2, 9, 5), (2, 2, 1, 1)):
        if shape[2] + 2 * padding < kernel or shape[3] + 2 * padding < kernel:
            continue
        for dtype in (torch.float32, torch.float64):
            for scale in (1e-40, 1.0, 1e37):
                x = awkward_input(shape, dtype, scale, generator)
                with torch.no_grad():
                    got = pool(x)
                want = F.avg_pool2d(x, kernel, stride, padding, count_include_pad=include_pad)
                assert same_bits(got, want), (shape, dtype, scale)


def test_nan_infinities_and_negative_zero_match_torch(monkeypatch):
    monkeypatch.setattr(pooling, "SLICE_MIN_PIXELS", 0)
    x = torch.randn(4, 4, 6, 6, generator=torch.Generator().manual_seed(0))
    x[0, 0, 2, 2], x[1, 1, 0, 0], x[2, 2, 3, 3], x[3, 3, 1, 1] = float("nan"), float("inf"), -float("inf"), -0.0
    x[3, 0] = -0.0  # a whole plane of -0: torch's sums start at +0
    x[2, 1] = -1e-45  # negative subnormal sums that underflow to zero when divided: torch gives +0
    pool = FastAvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    with torch.no_grad():
        got = pool(x)
    want = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    assert same_bits(got, want)
    assert got.isnan().any() and got.isinf().any()


def test_the_slices_run_under_no_grad_on_large_maps_only(monkeypatch):
    calls = []
    monkeypatch.setattr(FastAvgPool2d, "_sliced", lambda self, x: calls.append(x.shape) or F.avg_pool2d(
        x, 3, 1, 1, count_include_pad=False))
    pool = FastAvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    with torch.no_grad():
        pool(torch.zeros(1, 2, 16, 16))
        pool(torch.zeros(1, 2, 8, 8))  # below SLICE_MIN_PIXELS: torch's kernel
    pool(torch.zeros(1, 2, 16, 16))  # gradient mode on: torch's kernel
    assert calls == [torch.Size([1, 2, 16, 16])]


def test_recorded_forwards_use_torchs_kernel_so_gradients_are_unchanged():
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1), requires_grad=True)
    fast, native = FastAvgPool2d(3, 1, 1, count_include_pad=False), nn.AvgPool2d(3, 1, 1, count_include_pad=False)
    out = fast(x)
    assert "AvgPool2D" in type(out.grad_fn).__name__
    (grad_fast,) = torch.autograd.grad(out.square().sum(), x)
    (grad_native,) = torch.autograd.grad(native(x).square().sum(), x)
    assert torch.equal(grad_fast, grad_native)


def test_other_inputs_fall_back_to_torch():
    pool = FastAvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        channels_last = x.to(memory_format=torch.channels_last)
        assert same_bits(pool(channels_last), F.avg_pool2d(channels_last, 3, 1, 1, count_include_pad=False))
        unbatched = x[0]
        assert same_bits(pool(unbatched), F.avg_pool2d(unbatched, 3, 1, 1, count_include_pad=False))
        ceil = FastAvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
        assert same_bits(ceil(x), F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False))
        override = FastAvgPool2d(3, stride=1, padding=1, divisor_override=2)
        assert same_bits(override(x), F.avg_pool2d(x, 3, 1, 1, divisor_override=2))
        with pytest.raises(RuntimeError):
            FastAvgPool2d(3, stride=1, padding=2)(x)  # torch's own error: padding above half the kernel
        for bad in (dict(stride=0, padding=1), dict(stride=(0, 0)), dict(stride=1, padding=-1)):
            with pytest.raises(RuntimeError):  # torch's errors under no_grad too (the slices took them)
                FastAvgPool2d(3, **bad)(torch.randn(2, 3, 16, 16))
        with pytest.raises(RuntimeError):
            FastAvgPool2d(0)(torch.randn(2, 3, 16, 16))


def test_torchs_default_device_does_not_leak_into_the_divisor():
    x = torch.randn(2, 3, 17, 19, generator=torch.Generator().manual_seed(4))
    pool = FastAvgPool2d(3, stride=2, padding=1, count_include_pad=False)
    with torch.device("meta"), torch.no_grad():
        got = pool(x)  # x is on the CPU: the divisor must be too
    assert same_bits(got, F.avg_pool2d(x, 3, 2, 1, count_include_pad=False))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch 2.13 deprecates jit.trace; users still trace
def test_tracing_records_torchs_kernel():
    net = nn.Sequential(FastAvgPool2d(3, stride=1, padding=1, count_include_pad=False), nn.ReLU())
    x = torch.randn(1, 2, 16, 16, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        traced = torch.jit.trace(net, x)  # its check runs the module again: one graph either way
        assert same_bits(traced(x), net(x))


def test_nb201_network_gives_the_same_bits_as_with_torchs_pool():
    pool_op = NB201_OPS.index("avg_pool_3x3")
    arch = next(a for a in map(nb201_arch_at, range(0, 15625, 7)) if a.ops.count(pool_op) >= 3)
    torch.manual_seed(0)
    net = NB201Network(arch)
    assert any(isinstance(m, FastAvgPool2d) for m in net.modules())
    x = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        fast = net(x)
        for m in net.modules():
            if isinstance(m, FastAvgPool2d):
                m.forward = nn.AvgPool2d.forward.__get__(m)
        native = net(x)
    assert same_bits(fast, native)
