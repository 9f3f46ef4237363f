"""naswot, zen and zico against independent computations on tiny models built here.

The expected values come from plain functional code (F.linear, F.conv2d,
F.batch_norm, autograd) and numpy, never through the proxy modules.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gradsign
from gradsign.proxies.api import ProxyError
from gradsign.errors import ConfigError


class ReLUMLP(nn.Module):
    """Linear -> ReLU -> Linear -> ReLU(inplace) -> Linear, activations as modules."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 6)
        self.act1 = nn.ReLU()
        self.fc2 = nn.Linear(6, 5)
        self.act2 = nn.ReLU(inplace=True)
        self.fc3 = nn.Linear(5, 3)

    def forward(self, x):
        return self.fc3(self.act2(self.fc2(self.act1(self.fc1(x)))))


class ConvGAP(nn.Module):
    """conv -> BN -> ReLU -> conv -> BN -> ReLU (one module called twice) -> GAP module -> Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1, bias=True)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 5, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(5)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(5, 3)

    def forward(self, x):
        h = self.relu(self.bn1(self.conv1(x)))
        h = self.relu(self.bn2(self.conv2(h)))
        return self.fc(self.pool(h).flatten(1))


def _p(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone().double() for k, v in model.named_parameters()}


def _kernel(codes: np.ndarray) -> np.ndarray:
    c = codes.astype(np.float64)
    return c @ c.T + (1 - c) @ (1 - c).T


def _bn(x, p, name):
    return F.batch_norm(x, None, None, p[f"{name}.weight"], p[f"{name}.bias"], training=True)


# ---------------------------------------------------------------- naswot


def test_naswot_mlp_matches_hamming_kernel_logdet():
    torch.manual_seed(0)
    model = ReLUMLP()
    x = torch.randn(7, 4)
    p = _p(model)
    a1 = F.linear(x.double(), p["fc1.weight"], p["fc1.bias"])
    a2 = F.linear(F.relu(a1), p["fc2.weight"], p["fc2.bias"])
    kernel = _kernel((a1 > 0).numpy()) + _kernel((a2 > 0).numpy())
    expected = np.linalg.slogdet(kernel)[1]
    got = gradsign.score(model, x, None, proxies=["naswot"])["naswot"]
    assert got == pytest.approx(expected, rel=1e-12)


def test_naswot_conv_bn_train_mode_and_module_called_twice():
    torch.manual_seed(1)
    model = ConvGAP()
    x = torch.randn(6, 3, 5, 5)
    p = _p(model)
    a1 = _bn(F.conv2d(x.double(), p["conv1.weight"], p["conv1.bias"], padding=1), p, "bn1")
    a2 = _bn(F.conv2d(F.relu(a1), p["conv2.weight"], padding=1), p, "bn2")
    kernel = sum(_kernel((a > 0).reshape(6, -1).numpy()) for a in (a1, a2))
    expected = np.linalg.slogdet(kernel)[1]
    got = gradsign.score(model, x, None, proxies=["naswot"])["naswot"]
    assert got == pytest.approx(expected, rel=1e-6)


def test_naswot_does_not_count_composite_blocks_named_relu():
    class ReLUConvBN(nn.Module):  # the NB201 block's name; its input is not an activation's pre-activation
        def __init__(self):
            super().__init__()
            self.op = nn.Sequential(nn.ReLU(), nn.Linear(4, 4))

        def forward(self, x):
            return self.op(x)

    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(4, 4), ReLUConvBN(), nn.Linear(4, 2))
    x = torch.randn(5, 4)
    with torch.no_grad():
        pre = model[0](x).double()
    expected = np.linalg.slogdet(_kernel((pre > 0).numpy()))[1]
    got = gradsign.score(model, x, None, proxies=["naswot"])["naswot"]
    assert got == pytest.approx(expected, rel=1e-12)


def test_naswot_identical_samples_give_minus_inf():
    torch.manual_seed(3)
    x = torch.randn(4, 4)
    x[1] = x[0]
    got = gradsign.score(ReLUMLP(), x, None, proxies=["naswot"])["naswot"]
    assert got == -math.inf


def test_naswot_refuses_models_without_relu_modules():
    model = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 2))
    with pytest.raises(ProxyError, match="naswot.*ReLU"):
        gradsign.score(model, torch.randn(5, 4), None, proxies=["naswot"])


# ---------------------------------------------------------------- zen


def _zen_reference(model: ConvGAP, seed: int, batch: int, shape, gamma: float = 1e-2) -> float:
    """Zen-NAS's recipe written out: Gaussian weights, two Gaussian batches, BN running variances."""
    torch.manual_seed(seed)
    w1 = torch.empty_like(model.conv1.weight).normal_()
    w2 = torch.empty_like(model.conv2.weight).normal_()
    torch.empty_like(model.fc.weight).normal_()  # the classifier is re-drawn too (RNG order)
    x = torch.randn((batch, *shape))
    e = torch.randn((batch, *shape))
    ones4, zeros4, ones5, zeros5 = torch.ones(4), torch.zeros(4), torch.ones(5), torch.zeros(5)
    rv1, rv2 = torch.ones(4), torch.ones(5)

    def features(inp):
        a1 = F.conv2d(inp, w1, torch.zeros(4), padding=1)
        h = F.relu(F.batch_norm(a1, torch.zeros(4), rv1, ones4, zeros4, training=True, momentum=0.1))
        a2 = F.conv2d(h, w2, padding=1)
        return F.relu(F.batch_norm(a2, torch.zeros(5), rv2, ones5, zeros5, training=True, momentum=0.1))

    diff = (features(x) - features(x + gamma * e)).abs().sum(dim=(1, 2, 3)).double().mean()
    log_bn = sum(0.5 * math.log(float(rv.double().mean())) for rv in (rv1, rv2))
    return math.log(float(diff)) + log_bn


def test_zen_matches_written_out_recipe():
    torch.manual_seed(4)
    model = ConvGAP()
    got = gradsign.score(model, None, None, proxies=["zen"], input_shape=(3, 6, 6), seed=11,
                         options={"zen": {"batch_size": 8}})["zen"]
    assert got == pytest.approx(_zen_reference(model, 11, 8, (3, 6, 6)), rel=1e-6)


def test_zen_ignores_the_batch_values_and_uses_its_size():
    torch.manual_seed(5)
    model = ConvGAP()
    a = gradsign.score(model, torch.randn(8, 3, 6, 6), None, proxies=["zen"], seed=3)["zen"]
    b = gradsign.score(model, torch.rand(8, 3, 6, 6) * 100, None, proxies=["zen"], seed=3)["zen"]
    c = gradsign.score(model, None, None, proxies=["zen"], input_shape=(3, 6, 6), seed=3,
                       options={"zen": {"batch_size": 8}})["zen"]
    assert a == b == c
    assert a == pytest.approx(_zen_reference(model, 3, 8, (3, 6, 6)), rel=1e-6)


def test_zen_model_method_and_pooling_hook_agree():
    from gradsign.spaces.nb201_network import build_nb201_network

    class NoMethod(nn.Module):  # same modules in the same order, but no forward_before_global_avg_pool
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x)

    torch.manual_seed(6)
    net = build_nb201_network("|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|nor_conv_1x1~0|none~1|skip_connect~2|",
                              C=4, N=1)
    kw = dict(input_shape=(3, 8, 8), seed=0, options={"zen": {"batch_size": 4}})
    direct = gradsign.score(net, None, None, proxies=["zen"], **kw)["zen"]
    hooked = gradsign.score(NoMethod(net), None, None, proxies=["zen"], **kw)["zen"]
    assert math.isfinite(direct)
    assert direct == hooked


def test_zen_refuses_models_without_a_pre_pooling_feature_map():
    with pytest.raises(ProxyError, match="forward_before_global_avg_pool"):
        gradsign.score(ReLUMLP(), None, None, proxies=["zen"], input_shape=(4,), seed=0)


@pytest.mark.parametrize("opts", [{"repeat": 0}, {"batch_size": 1}, {"repeat": True}, {"mixup_gamma": 0.0},
                                  {"mixup_gamma": "0.01"}])
def test_zen_rejects_bad_options(opts):
    with pytest.raises(ConfigError):
        gradsign.score(ConvGAP(), None, None, proxies=["zen"], input_shape=(3, 6, 6), options={"zen": opts})


def test_zen_rejects_a_one_sample_batch():
    with pytest.raises(ConfigError, match="at least 2 samples"):
        gradsign.score(ConvGAP(), torch.randn(1, 3, 6, 6), None, proxies=["zen"])


def test_zen_repeats_average_fresh_draws():
    torch.manual_seed(7)
    model = ConvGAP()
    kw = dict(input_shape=(3, 6, 6), seed=2)
    one = gradsign.score(model, None, None, proxies=["zen"], options={"zen": {"batch_size": 8}}, **kw)["zen"]
    two = gradsign.score(model, None, None, proxies=["zen"], options={"zen": {"batch_size": 8, "repeat": 2}},
                         **kw)["zen"]
    # The first repeat is the single draw; the mean of two differs from it unless the second draw equals it.
    assert two != one
    assert one == pytest.approx(_zen_reference(model, 2, 8, (3, 6, 6)), rel=1e-6)


# ---------------------------------------------------------------- zico


def _zico_reference(model: ReLUMLP, x: torch.Tensor, y: torch.Tensor, splits: int) -> float:
    p = {k: v.detach().clone().double().requires_grad_(True) for k, v in model.named_parameters()}
    weights = ["fc1.weight", "fc2.weight", "fc3.weight"]
    per_layer = {w: [] for w in weights}
    for xs in (np.arange(k, len(x), splits) for k in range(splits)):
        ys = xs
        h = F.relu(F.linear(x[xs].double(), p["fc1.weight"], p["fc1.bias"]))
        h = F.relu(F.linear(h, p["fc2.weight"], p["fc2.bias"]))
        loss = F.cross_entropy(F.linear(h, p["fc3.weight"], p["fc3.bias"]), y[ys])
        grads = torch.autograd.grad(loss, [p[w] for w in weights])
        for w, g in zip(weights, grads):
            per_layer[w].append(g.reshape(-1).numpy())
    total = 0.0
    for w in weights:
        g = np.array(per_layer[w])
        std = np.std(g, axis=0)
        nz = np.nonzero(std)[0]
        s = np.sum(np.mean(np.abs(g), axis=0)[nz] / std[nz])
        if s != 0:
            total += np.log(s)
    return float(total)


@pytest.mark.parametrize("splits,n", [(2, 8), (4, 16), (3, 10)])
def test_zico_matches_numpy_formula(splits, n):
    torch.manual_seed(8)
    model = ReLUMLP()
    x, y = torch.randn(n, 4), torch.randint(0, 3, (n,))
    got = gradsign.score(model, x, y, proxies=["zico"], options={"zico": {"splits": splits}})["zico"]
    assert got == pytest.approx(_zico_reference(model, x, y, splits), rel=1e-5)


def test_zico_parts_of_a_class_ordered_batch_hold_every_class():
    """grasp sampling orders the batch class by class: interleaved parts still see all classes."""
    torch.manual_seed(13)
    model = ReLUMLP()
    y = torch.arange(3).repeat_interleave(4)  # 0,0,0,0,1,1,1,1,2,2,2,2
    x = torch.randn(12, 4)
    got = gradsign.score(model, x, y, proxies=["zico"])["zico"]
    assert got == pytest.approx(_zico_reference(model, x, y, 2), rel=1e-5)
    assert sorted(y[0::2].tolist()) == sorted(y[1::2].tolist())  # the parts the reference above used


def test_zico_layer_without_gradient_adds_nothing():
    class WithUnused(ReLUMLP):
        def __init__(self):
            super().__init__()
            self.unused = nn.Linear(4, 4)  # never called: no gradient, zero std everywhere

    torch.manual_seed(9)
    model = WithUnused()
    base = ReLUMLP()
    base.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("unused")})
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    a = gradsign.score(model, x, y, proxies=["zico"])["zico"]
    b = gradsign.score(base, x, y, proxies=["zico"])["zico"]
    assert a == b


@pytest.mark.parametrize("opts,n", [({"splits": 1}, 8), ({"splits": True}, 8), ({"splits": 4}, 6)])
def test_zico_rejects_bad_splits(opts, n):
    with pytest.raises(ConfigError):
        gradsign.score(ReLUMLP(), torch.randn(n, 4), torch.randint(0, 3, (n,)), proxies=["zico"],
                       options={"zico": opts})


def test_new_proxies_leave_the_callers_model_untouched():
    torch.manual_seed(10)
    model = ConvGAP()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = torch.randn(8, 3, 6, 6), torch.randint(0, 3, (8,))
    gradsign.score(model, x, y, proxies=["naswot", "zen", "zico"], seed=0)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def _small_networks():
    from gradsign.spaces.darts import sample_darts
    from gradsign.spaces.darts_network import build_darts_network
    from gradsign.spaces.nb101 import sample_nb101
    from gradsign.spaces.nb101_network import build_nb101_network
    from gradsign.spaces.nb201_network import build_nb201_network

    torch.manual_seed(11)
    return {
        "nb201": build_nb201_network("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|"
                                     "nor_conv_3x3~2|", C=4, N=1),
        "nb101": build_nb101_network(sample_nb101(1, seed=0)[0], stem_channels=4, num_stacks=2, cells_per_stack=1),
        "darts": build_darts_network(sample_darts(1, seed=0)[0], C=4, layers=3),
    }


@pytest.mark.parametrize("space", ["nb201", "nb101", "darts"])
def test_space_networks_pool_the_map_they_expose_and_score_with_the_new_proxies(space):
    net = _small_networks()[space].eval()
    x, y = torch.randn(8, 3, 16, 16), torch.randint(0, 10, (8,))
    with torch.no_grad():
        pooled = net.forward_before_global_avg_pool(x).mean(dim=(2, 3))
        assert torch.allclose(pooled, net.forward_features(x), atol=1e-6)
    scores = gradsign.score(net, x, y, proxies=["naswot", "zen", "zico"], seed=0)
    assert all(math.isfinite(v) for v in scores.values()), scores


def test_hamming_kernel_is_exact_on_every_route(monkeypatch):
    from gradsign.proxies import naswot as mod

    torch.manual_seed(12)
    codes = torch.rand(9, 1000) > 0.4
    c = codes.numpy().astype(np.float64)
    expected = c @ c.T + (1 - c) @ (1 - c).T
    assert torch.equal(mod.hamming_kernel(codes), torch.from_numpy(expected))
    monkeypatch.setattr(mod, "_CHUNK", 7)  # many column chunks
    assert torch.equal(mod.hamming_kernel(codes), torch.from_numpy(expected))
    monkeypatch.setattr(mod, "_exact_float32_matmul", lambda device: False)  # the float64 route
    assert torch.equal(mod.hamming_kernel(codes), torch.from_numpy(expected))
