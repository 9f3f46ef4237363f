"""Parity of the fast gradsign engine with the per-sample reference loop.

In float64 the two engines must agree to rounding on every per-sample gradient
entry (so no sign flips and equal scores); in float32 the score may differ only
through rounding: tiny entries, or a ReLU input at rounding level (see
scripts/engine_diagnostics.py).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gradsign.errors import ConfigError
from gradsign.proxies.engine import gradsign_sign_sums
from gradsign.proxies.engine._common import SignSumReducer, SignSums, private_copy, scored_layers
from gradsign.proxies.engine.fast import FastRunner
from gradsign.proxies.engine.reference import run_reference

from benchmark_scripts import load_benchmark_script

_diagnostics = load_benchmark_script("engine_diagnostics.py")  # test-only code, kept out of the package
_Collect, compare_engines = _diagnostics._Collect, _diagnostics.compare_engines


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny networks: one intra-op thread is fastest, and immune to a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _conv_zoo(num_classes: int = 5) -> nn.Module:
    """Every Conv2d flavour the fast engine handles, with BatchNorm after most."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 12, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(12), nn.ReLU(),  # stride 2
        nn.Conv2d(12, 12, 3, padding=2, dilation=2, groups=4), nn.BatchNorm2d(12), nn.ReLU(),  # dilation, groups
        nn.Conv2d(12, 12, 3, padding=1, groups=12, padding_mode="reflect"), nn.ReLU(),  # depthwise, reflect
        nn.Conv2d(12, 16, (3, 2), stride=(2, 1), padding=(1, 2), dilation=(1, 2)), nn.ReLU(),  # asymmetric
        nn.Conv2d(16, 16, 1, stride=2), nn.BatchNorm2d(16), nn.ReLU(),  # pointwise, strided
        nn.Conv2d(16, 16, 2, padding="same", bias=False), nn.ReLU(),  # string padding, even kernel
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, num_classes),
    )


class _Seq(nn.Module):
    """Conv features -> a sequence; BatchNorm1d over (N, C, L) and a Linear on (N, L, C)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.bn = nn.BatchNorm1d(6)
        self.norm = nn.LayerNorm(6)
        self.proj = nn.Linear(6, 4)
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x).flatten(2)  # (N, 6, L)
        h = torch.relu(self.bn(h)).transpose(1, 2)  # (N, L, 6)
        return self.head(torch.tanh(self.proj(self.norm(h))).mean(1))


class _Reused(nn.Module):
    """One conv applied twice (weight reuse inside a forward)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, padding=1)
        self.block = nn.Sequential(nn.ReLU(), nn.Conv2d(6, 6, 3, padding=1), nn.BatchNorm2d(6))
        self.unused = nn.Conv2d(6, 6, 1)  # never called: contributes zeros
        self.head = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        h = self.block(self.block(h)) + h
        return self.head(h.mean((2, 3)))


def _batch(n: int, shape=(3, 10, 10), classes: int = 5, seed: int = 0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn((n, *shape), generator=g, dtype=dtype), torch.randint(0, classes, (n,), generator=g)


def _grads(model: nn.Module, x, y, fast: bool, **kw) -> dict[str, torch.Tensor]:
    net = private_copy(model)
    layers = scored_layers(net)
    col = _Collect(layers, x.shape[0], SignSumReducer(SignSums.empty(layers)))
    if fast:
        FastRunner(net, None, col, **kw).run(x, y)
    else:
        run_reference(net, x, y, None, col)
    return col.grads


def _max_rel(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    out = 0.0
    for k in a:
        scale = a[k].abs().max()
        if scale > 0:
            out = max(out, float((a[k] - b[k]).abs().max() / scale))
        else:
            assert float(b[k].abs().max()) == 0.0, k
    return out


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize(
    "make,shape,classes",
    [(_conv_zoo, (3, 10, 10), 5), (_Seq, (3, 5, 4), 3), (_Reused, (3, 6, 6), 4)],
    ids=["conv_zoo", "bn1d_sequence", "weight_reuse"],
)
def test_per_sample_gradients_match_reference_float64(make, shape, classes):
    torch.manual_seed(1)
    model = make().double()
    x, y = _batch(7, shape, classes)
    ref = _grads(model, x, y, fast=False)
    for kw in ({}, {"conv_method": "grouped"}, {"conv_method": "im2col"}, {"chunk_size": 3}):
        assert _max_rel(ref, _grads(model, x, y, fast=True, **kw)) < 1e-10, kw
    r = gradsign_sign_sums(model, x, y, engine="reference")
    f = gradsign_sign_sums(model, x, y, engine="fast")
    assert f.engine_used == "fast" and r.engine_used == "reference"
    assert f.score == r.score and f.n_weights == r.n_weights and f.mean_score == r.mean_score


def test_float32_parity_and_diagnostic():
    torch.manual_seed(2)
    model = _conv_zoo()
    x, y = _batch(16, dtype=torch.float32)
    cmp = compare_engines(model, x, y)
    assert cmp.rel_score_diff <= 1e-4
    assert cmp.explained  # every non-tiny flip sits in a sample with a ReLU input at rounding level
    assert cmp.max_rel_grad_diff_clean < 1e-4
    assert cmp.n_entries == 16 * sum(m.weight.numel() for _, m in scored_layers(model))


def test_nb201_cells_parity():
    nb = pytest.importorskip("gradsign.spaces.nb201_network")
    x, y = _batch(6, (3, 16, 16), 10, seed=3)
    for arch in (
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|",
        "|none~0|+|nor_conv_1x1~0|none~1|+|avg_pool_3x3~0|skip_connect~1|nor_conv_3x3~2|",
    ):
        torch.manual_seed(4)
        net = nb.build_nb201_network(arch, C=4, N=1).double()
        assert _max_rel(_grads(net, x, y, fast=False), _grads(net, x, y, fast=True)) < 1e-10
        r = gradsign_sign_sums(net, x, y, engine="reference")
        f = gradsign_sign_sums(net, x, y, engine="auto")
        assert f.engine_used == "fast" and f.score == r.score


def test_per_sample_batchnorm_is_batch_of_one_batchnorm_bit_for_bit():
    from gradsign.proxies.engine.fast import _per_sample_bn_forward

    torch.manual_seed(8)
    bn = nn.BatchNorm2d(5)
    nn.init.uniform_(bn.weight, 0.5, 1.5)
    nn.init.normal_(bn.bias)
    x = torch.randn(6, 5, 7, 7) * 3 + 1
    gy = torch.randn_like(x)
    xs = x.clone().requires_grad_(True)
    out = _per_sample_bn_forward("bn")(bn, xs)
    (gx,) = torch.autograd.grad(out, xs, gy)
    ref_out, ref_gx = [], []
    for i in range(6):
        xi = x[i : i + 1].clone().requires_grad_(True)
        oi = bn(xi)  # train mode, statistics of this one sample
        ref_out.append(oi.detach())
        ref_gx.append(torch.autograd.grad(oi, xi, gy[i : i + 1])[0])
    assert torch.equal(out.detach(), torch.cat(ref_out))
    assert torch.equal(gx, torch.cat(ref_gx))


def test_chunking_does_not_change_the_score():
    torch.manual_seed(5)
    model = _conv_zoo().double()
    x, y = _batch(9)
    whole = gradsign_sign_sums(model, x, y, engine="fast", keep_sign_sums=True)
    for chunk in (1, 4, 9, 100):
        part = gradsign_sign_sums(model, x, y, engine="fast", chunk_size=chunk, keep_sign_sums=True)
        assert part.score == whole.score
        for k in whole.sign_sums:
            assert torch.equal(part.sign_sums[k], whole.sign_sums[k])


def test_sign_sums_are_integers_bounded_by_batch():
    torch.manual_seed(6)
    model = _conv_zoo()
    x, y = _batch(5, dtype=torch.float32)
    res = gradsign_sign_sums(model, x, y, keep_sign_sums=True, near_zero_rtol=1e-6)
    assert res.n_near_zero is not None and res.n_near_zero >= 0
    for s in res.sign_sums.values():
        assert torch.equal(s, s.round()) and float(s.abs().max()) <= 5


def test_batchnorm_with_one_value_per_channel_is_refused_by_both_engines():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3))
    x, y = torch.randn(4, 3, 2, 2), torch.randint(0, 3, (4,))
    for engine in ("reference", "fast", "auto"):
        with pytest.raises(ConfigError, match="BatchNorm1d layer '2'.*one value per channel"):
            gradsign_sign_sums(model, x, y, engine=engine)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():  # pragma: no cover - needs a GPU
    torch.manual_seed(7)
    model = _conv_zoo().double()
    x, y = _batch(8)
    cpu = gradsign_sign_sums(model, x, y, engine="fast")
    gpu = gradsign_sign_sums(model.cuda(), x.cuda(), y.cuda(), engine="fast")
    ref = gradsign_sign_sums(model.cuda(), x.cuda(), y.cuda(), engine="reference")
    assert gpu.engine_used == "fast"
    assert gpu.score == cpu.score == ref.score


def test_linear_sign_sum_equals_the_sum_of_per_sample_signs():
    from gradsign.proxies.engine.fast import _linear_sample_grads, linear_sign_sum

    g = torch.Generator().manual_seed(9)
    m = nn.Linear(7, 5)
    for dtype in (torch.float32, torch.float64):
        x = torch.randn(11, 7, generator=g, dtype=dtype)
        gy = torch.randn(11, 5, generator=g, dtype=dtype)
        x[3, 2] = 0.0  # zero inputs and output gradients give sign 0
        gy[4, 1] = 0.0
        explicit = torch.sign(_linear_sample_grads(m, x, gy)).sum(0).view(5, 7).float()
        assert torch.equal(linear_sign_sum(x, gy), explicit)
    x = torch.randn(4, 7, generator=g)
    gy = torch.randn(4, 5, generator=g)
    tiny, huge = x.clone(), x.clone()
    tiny[0, 0] = 1e-30  # a product could underflow to 0: the gradients must be formed
    huge[0, 0] = 1e30  # ... or overflow to inf
    gy_small = gy * 1e-15
    assert linear_sign_sum(tiny, gy_small) is None and linear_sign_sum(huge, gy * 1e15) is None
    nan = x.clone()
    nan[1, 1] = float("nan")
    assert linear_sign_sum(nan, gy) is None


def test_huge_linear_head_uses_the_sign_matmul_with_the_same_score():
    torch.manual_seed(10)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 8 * 8, 64), nn.ReLU(), nn.Linear(64, 5))
    x, y = _batch(9, dtype=torch.float32)
    r = gradsign_sign_sums(model, x, y, engine="reference", keep_sign_sums=True)
    f = gradsign_sign_sums(model, x, y, engine="fast", keep_sign_sums=True)
    n = gradsign_sign_sums(model, x, y, engine="fast", keep_sign_sums=True, near_zero_rtol=1e-6)  # explicit path
    assert f.score == r.score == n.score
    for k in r.sign_sums:
        assert torch.equal(f.sign_sums[k], r.sign_sums[k]) and torch.equal(n.sign_sums[k], r.sign_sums[k]), k
