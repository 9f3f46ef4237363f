"""The torch.func engine: parity with the per-sample reference loop on the layers real models use.

Each model below is small and hand-built with one family of layers (depthwise and grouped
convolutions, SiLU / GELU / Hardswish, squeeze-excitation, LayerNorm, multi-head attention,
BatchNorm subclasses) or a tiny version of a real architecture (ViT-like, EfficientNet-like).
In float64 the func engine's per-sample gradients must equal the loop's to rounding
(< 1e-10 of each layer's scale) and the scores exactly; in float32 the scores must agree too
on these models (sign flips could only come from entries at rounding level).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gradsign.errors import ConfigError
from gradsign.proxies import engine as engine_mod
from gradsign.proxies.engine import GradSignFallbackWarning, gradsign_sign_sums
from gradsign.proxies.engine._common import (
    SignSumReducer,
    SignSums,
    is_stochastic_regulariser,
    private_copy,
    scored_layers,
)
from gradsign.proxies.engine.func import FuncRunner, default_func_chunk
from gradsign.proxies.engine.reference import run_reference

from benchmark_scripts import load_benchmark_script

_Collect = load_benchmark_script("engine_diagnostics.py")._Collect  # test-only code, kept out of the package


@pytest.fixture(autouse=True)
def _one_thread_and_fresh_warnings():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    engine_mod._WARNED.clear()
    yield
    torch.set_num_threads(before)
    engine_mod._WARNED.clear()


# --------------------------------------------------------------------------- models


class SqueezeExcite(nn.Module):
    """Adaptive average pool -> 1x1 conv -> SiLU -> 1x1 conv -> sigmoid gate, multiplied in."""

    def __init__(self, c: int, r: int = 4) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(c, c // r, 1)
        self.expand = nn.Conv2d(c // r, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.expand(F.silu(self.reduce(s))))


class MBConv(nn.Module):
    """EfficientNet's inverted residual: expand 1x1, depthwise 3x3, SE, project 1x1, skip."""

    def __init__(self, c_in: int, c_out: int, expand: int = 4, stride: int = 1) -> None:
        super().__init__()
        mid = c_in * expand
        self.expand = nn.Sequential(nn.Conv2d(c_in, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.SiLU())
        self.dw = nn.Sequential(nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid), nn.SiLU())
        self.se = SqueezeExcite(mid)
        self.project = nn.Sequential(nn.Conv2d(mid, c_out, 1, bias=False), nn.BatchNorm2d(c_out))
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.project(self.se(self.dw(self.expand(x))))
        return x + h if self.skip else h


def tiny_efficientnet(num_classes: int = 5) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.SiLU(),
        MBConv(8, 8, expand=1), MBConv(8, 12, stride=2), MBConv(12, 12),
        nn.Conv2d(12, 24, 1, bias=False), nn.BatchNorm2d(24), nn.SiLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(24, num_classes),
    )


def conv_acts(num_classes: int = 5) -> nn.Module:
    """Depthwise (groups=C) and grouped convs with SiLU, GELU and Hardswish, BatchNorm between."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.SiLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.BatchNorm2d(8), nn.GELU(),  # depthwise
        nn.Conv2d(8, 12, 3, stride=2, padding=1, groups=4), nn.BatchNorm2d(12), nn.Hardswish(),  # grouped
        nn.Conv2d(12, 12, 5, padding=2, groups=12), nn.GELU(approximate="tanh"),  # depthwise 5x5
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(12, num_classes),
    )


class HandAttention(nn.Module):
    """Multi-head self-attention written out: q/k/v Linear, softmax(q k^T / sqrt(d)) v, projection."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(d // self.heads)
        out = (att.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, t, d)
        return self.proj(out)


class SdpaAttention(HandAttention):
    """The same with F.scaled_dot_product_attention (what timm's Attention uses)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, d)
        return self.proj(out)


class TorchAttention(nn.Module):
    """nn.MultiheadAttention (its in_proj is a bare Parameter, its out_proj a Linear subclass)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn(x, x, x, need_weights=False)[0]


class Block(nn.Module):
    """Pre-norm transformer block: LayerNorm -> attention -> residual, LayerNorm -> MLP (GELU) -> residual."""

    def __init__(self, dim: int, heads: int, attention: type[nn.Module]) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TinyViT(nn.Module):
    """Patch embedding (strided Conv2d), class token, position embedding, blocks, head on the class token."""

    def __init__(self, attention: type[nn.Module] = HandAttention, dim: int = 16, heads: int = 2,
                 depth: int = 2, patch: int = 4, image: int = 8, num_classes: int = 5) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, dim, patch, patch)
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, 1 + (image // patch) ** 2, dim) * 0.02)
        self.blocks = nn.Sequential(*[Block(dim, heads, attention) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.patch(x).flatten(2).transpose(1, 2)
        h = torch.cat([self.cls.expand(h.shape[0], -1, -1), h], dim=1) + self.pos
        return self.head(self.norm(self.blocks(h))[:, 0])


class BatchNormAct2d(nn.BatchNorm2d):
    """A BatchNorm subclass with its own forward (as timm's BatchNormAct2d): BN then SiLU."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                         self.training or self.running_mean is None, self.momentum, self.eps)
        return F.silu(x)


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over channels of an NCHW map (as timm's / ConvNeXt's LayerNorm2d)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias,
                            self.eps).permute(0, 3, 1, 2)


class LayerScale(nn.Module):
    """A leaf with its own parameter (timm's LayerScale / ConvNeXt's gamma)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((c, 1, 1), 0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


def timm_like_convnet(num_classes: int = 5) -> nn.Module:
    """BatchNormAct2d, LayerNorm2d and LayerScale: what sent timm models to the loop."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), BatchNormAct2d(8),
        nn.Conv2d(8, 8, 3, padding=1, groups=8), LayerNorm2d(8), nn.Conv2d(8, 16, 1), nn.GELU(),
        nn.Conv2d(16, 8, 1), LayerScale(8),
        nn.Conv2d(8, 12, 3, stride=2, padding=1), BatchNormAct2d(12),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(12, num_classes),
    )


class Tied(nn.Module):
    """One weight Parameter in two Linear modules: the loop counts it once per module."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(12, 12)
        self.b = nn.Linear(12, 12)
        self.b.weight = self.a.weight
        self.head = nn.Linear(12, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)[:, :12]
        return self.head(torch.tanh(self.b(torch.tanh(self.a(x)))))


# name: (factory, per-sample input shape, engine auto picks)
MODELS = {
    "conv_acts": (conv_acts, (3, 8, 8), "fast"),
    "squeeze_excite_efficientnet": (tiny_efficientnet, (3, 16, 16), "fast"),
    "vit_hand_attention": (lambda: TinyViT(HandAttention), (3, 8, 8), "fast"),
    "vit_sdpa": (lambda: TinyViT(SdpaAttention), (3, 8, 8), "fast"),
    "vit_nn_multihead_attention": (lambda: TinyViT(TorchAttention), (3, 8, 8), "func"),
    "timm_like_bn_act_layernorm2d": (timm_like_convnet, (3, 8, 8), "func"),
    "tied_weights": (Tied, (3, 2, 2), "func"),
}


def _batch(n: int, shape, classes: int = 5, seed: int = 0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn((n, *shape), generator=g, dtype=dtype), torch.randint(0, classes, (n,), generator=g)


def _grads(model: nn.Module, x, y, engine: str, **kw) -> dict[str, torch.Tensor]:
    net = private_copy(model)
    layers = scored_layers(net)
    col = _Collect(layers, x.shape[0], SignSumReducer(SignSums.empty(layers)))
    if engine == "func":
        FuncRunner(net, None, col, **kw).run(x, y)
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


# --------------------------------------------------------------------------- parity


@pytest.mark.parametrize("name", list(MODELS))
def test_func_per_sample_gradients_match_the_loop_float64(name):
    make, shape, auto_engine = MODELS[name]
    torch.manual_seed(1)
    model = make().double()
    x, y = _batch(6, shape)
    ref = _grads(model, x, y, "reference")
    for kw in ({}, {"chunk_size": 1}, {"chunk_size": 4}):
        assert _max_rel(ref, _grads(model, x, y, "func", **kw)) < 1e-10, kw
    r = gradsign_sign_sums(model, x, y, engine="reference", keep_sign_sums=True)
    f = gradsign_sign_sums(model, x, y, engine="func", keep_sign_sums=True)
    a = gradsign_sign_sums(model, x, y, engine="auto")
    assert f.engine_used == "func" and a.engine_used == auto_engine
    assert f.score == r.score == a.score and f.mean_score == r.mean_score and f.n_weights == r.n_weights
    for k in r.sign_sums:
        assert torch.equal(f.sign_sums[k], r.sign_sums[k]), k


@pytest.mark.parametrize("name", list(MODELS))
def test_func_scores_equal_the_loop_float32(name):
    make, shape, _ = MODELS[name]
    torch.manual_seed(2)
    model = make()
    x, y = _batch(8, shape, dtype=torch.float32)
    r = gradsign_sign_sums(model, x, y, engine="reference", keep_sign_sums=True, near_zero_rtol=1e-5)
    f = gradsign_sign_sums(model, x, y, engine="func", keep_sign_sums=True)
    assert f.score == r.score
    flipped = sum(int((f.sign_sums[k] != r.sign_sums[k]).sum()) for k in r.sign_sums)
    assert flipped == 0


def test_func_chunking_does_not_change_the_sign_sums():
    torch.manual_seed(5)
    model = tiny_efficientnet().double()
    x, y = _batch(9, (3, 16, 16))
    whole = gradsign_sign_sums(model, x, y, engine="func", keep_sign_sums=True)
    for chunk in (1, 2, 4, 9, 100):
        part = gradsign_sign_sums(model, x, y, engine="func", chunk_size=chunk, keep_sign_sums=True)
        assert part.score == whole.score
        for k in whole.sign_sums:
            assert torch.equal(part.sign_sums[k], whole.sign_sums[k])


def test_default_chunk_bounds_the_per_sample_gradients():
    assert default_func_chunk(64, 1_000, 4) == 64
    assert default_func_chunk(64, 4_000_000, 4) == 33  # 16 MB per sample: 512 MiB budget
    assert default_func_chunk(64, 10**9, 4) == 1
    assert default_func_chunk(3, 10, 4) == 3


def test_other_losses_run_batched_on_func():
    torch.manual_seed(3)
    model = conv_acts().double()
    x, y = _batch(5, (3, 8, 8))
    loss = lambda out, t: F.nll_loss(F.log_softmax(out, dim=1), t) + 0.1 * out.pow(2).mean()  # noqa: E731
    r = gradsign_sign_sums(model, x, y, loss_fn=loss, engine="reference")
    a = gradsign_sign_sums(model, x, y, loss_fn=loss)
    assert a.engine_used == "func" and a.score == r.score


def test_func_leaves_the_model_untouched():
    torch.manual_seed(4)
    model = timm_like_convnet()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = _batch(4, (3, 8, 8), dtype=torch.float32)
    gradsign_sign_sums(model, x, y, engine="func")
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k  # BatchNorm running statistics included
    assert model[1].running_mean is not None and model[1].track_running_stats


def test_func_refuses_undefined_batchnorm_like_the_loop():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3))
    x, y = torch.randn(4, 3, 2, 2), torch.randint(0, 3, (4,))
    with pytest.raises(ConfigError, match="BatchNorm1d layer '2'.*one value per channel"):
        gradsign_sign_sums(model, x, y, engine="func")


def test_parametrized_weight_goes_to_the_loop():
    from torch.nn.utils import parametrizations

    torch.manual_seed(6)
    model = conv_acts()
    parametrizations.weight_norm(model[0])
    x, y = _batch(3, (3, 8, 8), dtype=torch.float32)
    with pytest.warns(GradSignFallbackWarning, match="func: layer '0' has no plain weight Parameter"), \
            pytest.warns(UserWarning, match="no weight Parameter .* contributes zeros"):
        res = gradsign_sign_sums(model, x, y)
    assert res.engine_used == "reference"


def test_stochastic_depth_modules_are_switched_off_like_dropout():
    class StochasticDepth(nn.Module):  # stands in for torchvision.ops.StochasticDepth
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if not self.training:
                return x
            return x * torch.empty(x.shape[0], 1, 1, 1).bernoulli_(0.5) / 0.5

    StochasticDepth.__module__ = "torchvision.ops.stochastic_depth"

    class Residual(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.SiLU())
            self.drop = StochasticDepth()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.drop(self.body(x))

    assert is_stochastic_regulariser(StochasticDepth()) and is_stochastic_regulariser(nn.Dropout())
    assert not is_stochastic_regulariser(nn.ReLU())
    torch.manual_seed(7)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), Residual(), Residual(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5)).double()
    x, y = _batch(6, (3, 8, 8))
    r = gradsign_sign_sums(model, x, y, engine="reference")
    a = gradsign_sign_sums(model, x, y)
    assert a.engine_used == "fast" and a.score == r.score
    assert gradsign_sign_sums(model, x, y, engine="func").score == r.score
