"""Each baseline proxy against an independent, straightforward computation.

The models are tiny and built here; the reference values are computed with
plain functional code (F.conv2d, F.batch_norm, autograd), never through
ProxyContext or the proxy modules, and in float64 so that agreement can be
checked tightly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gradsign
from gradsign.proxies.jacob_cov import jacob_cov_score

torch.set_default_dtype(torch.float32)
RTOL = 1e-9


class TinyCNN(nn.Module):
    """conv3x3(+bias) -> BN -> ReLU -> conv1x1 -> BN -> ReLU -> GAP -> Linear."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1, bias=True)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 5, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(5)
        self.fc = nn.Linear(5, 3)
        self.inplace = inplace

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)), inplace=self.inplace)
        x = F.relu(self.bn2(self.conv2(x)), inplace=self.inplace)
        return self.fc(x.mean(dim=(2, 3)))


class NoBNConvNet(nn.Module):
    """conv -> ReLU(inplace) -> conv -> GAP -> Linear: an in-place op right after a prunable layer."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.act = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(4, 5, 3, padding=1)
        self.fc = nn.Linear(5, 3)

    def forward(self, x):
        return self.fc(self.conv2(self.act(self.conv1(x))).mean(dim=(2, 3)))


def tiny_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))


def _params(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def cnn_forward(p, x, *, masks=None, bn=True, taps=None):
    """TinyCNN, functionally, in train mode (batch-statistics BN); optional weight masks and output taps."""
    w1, w2, w3 = p["conv1.weight"], p["conv2.weight"], p["fc.weight"]
    if masks is not None:
        w1, w2, w3 = w1 * masks[0], w2 * masks[1], w3 * masks[2]
    a1 = F.conv2d(x, w1, p["conv1.bias"], padding=1)
    h = F.batch_norm(a1, None, None, p["bn1.weight"], p["bn1.bias"], training=True) if bn else a1
    h = F.relu(h)
    a2 = F.conv2d(h, w2)
    h = F.batch_norm(a2, None, None, p["bn2.weight"], p["bn2.bias"], training=True) if bn else a2
    h = F.relu(h)
    a3 = F.linear(h.mean(dim=(2, 3)), w3, p["fc.bias"])
    if taps is not None:
        taps.extend([a1, a2, a3])
    return a3


WEIGHTS = ("conv1.weight", "conv2.weight", "fc.weight")


@pytest.fixture()
def cnn_case():
    torch.manual_seed(0)
    model = TinyCNN().double()
    x = torch.randn(6, 3, 5, 5, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    return model, x, y


def _weight_grads(p, x, y):
    leaves = {k: v.clone().requires_grad_(True) for k, v in p.items()}
    loss = F.cross_entropy(cnn_forward(leaves, x), y)
    grads = torch.autograd.grad(loss, [leaves[k] for k in WEIGHTS])
    return dict(zip(WEIGHTS, grads))


def test_grad_norm_snip_plain(cnn_case):
    model, x, y = cnn_case
    p = _params(model)
    g = _weight_grads(p, x, y)
    got = gradsign.score(model, x, y, ["grad_norm", "snip", "plain"])
    assert got["grad_norm"] == pytest.approx(sum(float(g[k].pow(2).sum().sqrt()) for k in WEIGHTS), rel=RTOL)
    assert got["plain"] == pytest.approx(sum(float((p[k] * g[k]).sum()) for k in WEIGHTS), rel=RTOL)

    # snip the way the reference defines it: |dL/dmask| of all-ones masks on the weights.
    masks = [torch.ones_like(p[k], requires_grad=True) for k in WEIGHTS]
    loss = F.cross_entropy(cnn_forward(p, x, masks=masks), y)
    mask_grads = torch.autograd.grad(loss, masks)
    assert got["snip"] == pytest.approx(sum(float(m.abs().sum()) for m in mask_grads), rel=RTOL)


def test_grasp_matches_explicit_hessian(cnn_case):
    model, x, y = cnn_case
    p = _params(model)
    shapes = [p[k].shape for k in WEIGHTS]
    sizes = [p[k].numel() for k in WEIGHTS]
    flat = torch.cat([p[k].reshape(-1) for k in WEIGHTS])

    def loss_of(theta):
        q = dict(p)
        for k, chunk, shape in zip(WEIGHTS, theta.split(sizes), shapes):
            q[k] = chunk.reshape(shape)
        return F.cross_entropy(cnn_forward(q, x), y)

    H = torch.autograd.functional.hessian(loss_of, flat, vectorize=True)  # (143, 143), explicit
    g = torch.autograd.functional.jacobian(loss_of, flat)
    expected = float((-flat * (H @ g)).sum())
    got = gradsign.score(model, x, y, ["grasp"])["grasp"]
    assert got == pytest.approx(expected, rel=1e-8)


def _fisher_expected(p, x, y, broadcast=True, forward=cnn_forward, weights=WEIGHTS):
    taps: list[torch.Tensor] = []
    leaves = {k: v.clone().requires_grad_(True) for k, v in p.items()}
    loss = F.cross_entropy(forward(leaves, x, taps=taps), y)
    grads = torch.autograd.grad(loss, taps)
    total = 0.0
    for a, g, k in zip(taps, grads, weights):
        prod = a * g
        per_sample = prod.sum(dim=(2, 3)) if prod.dim() == 4 else prod  # (N, C)
        per_channel = 0.5 * (per_sample**2).mean(0)
        fan_in = math.prod(p[k].shape[1:]) if broadcast else 1
        total += float(per_channel.detach().sum()) * fan_in
    return total


def test_fisher_per_channel(cnn_case):
    model, x, y = cnn_case
    p = _params(model)
    got = gradsign.score(model, x, y, ["fisher"])["fisher"]
    assert got == pytest.approx(_fisher_expected(p, x, y, broadcast=True), rel=RTOL)
    plain = gradsign.score(model, x, y, ["fisher"], options={"fisher": {"broadcast": False}})["fisher"]
    assert plain == pytest.approx(_fisher_expected(p, x, y, broadcast=False), rel=RTOL)


def test_fisher_uses_layer_output_even_with_inplace_op_after_it():
    torch.manual_seed(1)
    model = NoBNConvNet().double()
    x = torch.randn(5, 3, 4, 4, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 1, 0])
    p = _params(model)

    def forward(q, x, taps):
        a1 = F.conv2d(x, q["conv1.weight"], q["conv1.bias"], padding=1)
        a2 = F.conv2d(F.relu(a1), q["conv2.weight"], q["conv2.bias"], padding=1)
        a3 = F.linear(a2.mean(dim=(2, 3)), q["fc.weight"], q["fc.bias"])
        taps.extend([a1, a2, a3])
        return a3

    got = gradsign.score(model, x, y, ["fisher"])["fisher"]
    expected = _fisher_expected(p, x, y, forward=forward)
    assert got == pytest.approx(expected, rel=RTOL)


def test_synflow_closed_form_on_mlp():
    torch.manual_seed(2)
    model = tiny_mlp()
    W1, b1 = model[0].weight.detach().double().abs(), model[0].bias.detach().double().abs()
    W2 = model[2].weight.detach().double().abs()
    # With |weights| and an all-ones input every ReLU passes: R = 1'(|W2| (|W1| 1 + |b1|) + |b2|).
    h = W1.sum(1) + b1
    s = W2.sum(0)  # dR/dh
    expected = float((W1 * s[:, None]).sum() + (W2 * h[None, :]).sum())
    got = gradsign.score(model, None, None, ["synflow"], input_shape=(4,))["synflow"]
    assert got == pytest.approx(expected, rel=1e-12)


def test_synflow_ignores_batchnorm(cnn_case):
    model, x, y = cnn_case
    with torch.no_grad():  # BN with non-trivial affine parameters and statistics: must not matter
        model.bn1.weight.uniform_(0.5, 2.0)
        model.bn2.bias.uniform_(-1.0, 1.0)
        model.bn1.running_var.fill_(3.0)
    p = {k: v.abs() for k, v in _params(model).items()}
    leaves = [p[k].requires_grad_(True) for k in WEIGHTS]
    out = cnn_forward(p, torch.ones(1, 3, 5, 5, dtype=torch.float64), bn=False)
    grads = torch.autograd.grad(out.sum(), leaves)
    expected = sum(float((w.detach() * g).abs().sum()) for w, g in zip(leaves, grads))
    got = gradsign.score(model, x, y, ["synflow"])["synflow"]
    assert got == pytest.approx(expected, rel=1e-12)


def test_jacob_cov_matches_reference_formula(cnn_case):
    model, x, y = cnn_case
    p = _params(model)
    jac = torch.autograd.functional.jacobian(lambda inp: cnn_forward(p, inp).sum(), x)
    corrs = np.corrcoef(jac.reshape(x.shape[0], -1).numpy())
    v, _ = np.linalg.eig(corrs)  # the reference's general eigen-solver
    expected = float(np.real(-np.sum(np.log(v + 1e-5) + 1.0 / (v + 1e-5))))
    got = gradsign.score(model, x, None, ["jacob_cov"])["jacob_cov"]
    assert got == pytest.approx(expected, rel=1e-8)


def test_jacob_cov_score_eigvalsh_vs_eig_and_nan():
    rng = np.random.default_rng(0)
    jac = rng.normal(size=(8, 30))
    v, _ = np.linalg.eig(np.corrcoef(jac))
    expected = float(np.real(-np.sum(np.log(v + 1e-5) + 1.0 / (v + 1e-5))))
    assert jacob_cov_score(jac) == pytest.approx(expected, rel=1e-10)
    jac[3] = 0.0  # a sample with a constant Jacobian: zero variance, NaN correlations
    assert math.isnan(jacob_cov_score(jac))
    assert jacob_cov_score(jac[:1]) == pytest.approx(-(math.log(1 + 1e-5) + 1 / (1 + 1e-5)))


def test_l2_norm_params_flops(cnn_case):
    model, x, y = cnn_case
    got = gradsign.score(model, x, y, ["l2_norm", "params", "flops"])
    p = _params(model)
    assert got["l2_norm"] == pytest.approx(sum(math.sqrt(float((p[k] ** 2).sum())) for k in WEIGHTS), rel=RTOL)
    n_params = (3 * 4 * 9 + 4) + 2 * 4 + (4 * 5) + 2 * 5 + (5 * 3 + 3)
    assert got["params"] == n_params
    H = W = 5
    macs = 4 * H * W * 3 * 9 + 5 * H * W * 4 + 5 * 3  # conv1, conv2, fc; biases are not counted
    assert got["flops"] == 2 * macs


def test_params_counts_trainable_only(cnn_case):
    model, x, y = cnn_case
    model.conv1.weight.requires_grad_(False)
    assert gradsign.score(model, x, y, ["params"])["params"] == (4 + 2 * 4 + 20 + 2 * 5 + 18)


@pytest.mark.parametrize("name", ["synflow", "l2_norm", "params", "flops"])
def test_data_free_proxies_ignore_the_data(cnn_case, name):
    model, x, y = cnn_case
    other = torch.randn_like(x) * 10
    a = gradsign.score(model, x, y, [name])[name]
    b = gradsign.score(model, other, y.flip(0), [name])[name]
    c = gradsign.score(model, None, None, [name], input_shape=(3, 5, 5))[name]
    assert a == b == c
