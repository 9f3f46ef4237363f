"""The modern proxies (AZ-NAS's four scores, MeCo, SWAP, EPE-NAS) and the block rule they share.

Expected values come from hand-computed answers or from the authors' recipes
written out here with plain torch / numpy (never through the proxy modules).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gradsign
from gradsign.cli.main import main
from gradsign.errors import ConfigError
from gradsign.proxies._az_nas import covariance_entropy, pair_trainability
from gradsign.proxies._blocks import block_outputs, feature_blocks
from gradsign.proxies.api import ProxyError, describe_proxies
from gradsign.proxies.epe_nas import epe_nas_score
from gradsign.proxies.swap import count_distinct_patterns, pack_patterns, pack_patterns_in_words
from gradsign.proxies.swap_reg import DEFAULT_MU, DEFAULT_SIGMA
from gradsign.spaces.darts import parse_darts
from gradsign.spaces.darts_network import build_darts_network
from gradsign.spaces.nb101 import NB101Arch
from gradsign.spaces.nb101_network import build_nb101_network
from gradsign.spaces.nb201_network import build_nb201_network

AZ = ["az_expressivity", "az_progressivity", "az_trainability"]
MODERN = AZ + ["az_complexity", "meco", "meco_opt", "swap", "swap_reg", "epe_nas"]
ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
IDENTITY_ARCH = "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"  # node3 = x (+ zeros)
FAST_SWAP = {"swap": {"repeats": 2}, "swap_reg": {"repeats": 2}}


def small_nb201(arch: str = ARCH, seed: int = 0, num_classes: int = 10):
    torch.manual_seed(seed)
    return build_nb201_network(arch, num_classes, C=4, N=1)


def batch(n: int = 8, classes: int = 10, size: int = 16, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=g), torch.randint(0, classes, (n,), generator=g)


# ----------------------------------------------------------------------------- models built here


class BasicBlock(nn.Module):
    """torchvision-style residual block (conv-BN-ReLU-conv-BN + shortcut, ReLU in place)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class TinyResNet(nn.Module):
    """A torchvision-like ResNet: conv1/bn1/relu stem, layer1..layer2 of BasicBlocks, avgpool, fc."""

    calls = 0

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = nn.Sequential(BasicBlock(8, 8), BasicBlock(8, 8))
        self.layer2 = nn.Sequential(BasicBlock(8, 16, stride=2), BasicBlock(16, 16))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x):
        type(self).calls += 1
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer2(self.layer1(x))
        return self.fc(self.avgpool(x).flatten(1))


class PlainCNN(nn.Sequential):
    """Only torch layers: no block class, so the ReLUs are the blocks."""

    def __init__(self) -> None:
        super().__init__(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                         nn.Conv2d(6, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 10))


class SaysItsBlocks(TinyResNet):
    def feature_blocks(self):
        return [self.layer1, self.layer2]


# ----------------------------------------------------------------------------- blocks


def test_blocks_of_nb201_are_stem_and_cells_as_az_nas_takes_them():
    net = small_nb201()
    blocks = feature_blocks(net)
    assert blocks == [net.stem, *net.cells] and len(blocks) == 1 + 3 + 2  # N=1: 3 cells + 2 reductions
    default = build_nb201_network(ARCH)
    assert len(feature_blocks(default)) == 18
    # AZ-NAS's TinyNetwork.extract_cell_features: the stem output, then every cell's.
    x, _ = batch()
    feats = block_outputs(net, x)
    expected = [net.stem(x)]
    for cell in net.cells:
        expected.append(cell(expected[-1]))
    assert len(feats) == len(expected)
    for a, b in zip(feats, expected):
        torch.testing.assert_close(a, b)


def test_blocks_of_nb101_and_darts():
    arch = NB101Arch([[0, 1, 1, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 1, 0],
                      [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
                     ["input", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3", "conv3x3-bn-relu",
                      "conv3x3-bn-relu", "output"])
    net = build_nb101_network(arch, stem_channels=4, num_stacks=2, cells_per_stack=2)
    blocks = feature_blocks(net)
    assert blocks[0] is net.stem and len(blocks) == 1 + 4
    assert all(type(b).__name__ == "NB101Cell" for b in blocks[1:])  # the max-pools are not blocks
    assert len(block_outputs(net, torch.randn(2, 3, 8, 8))) == 5

    darts = build_darts_network(parse_darts(
        "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
        "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
        "normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
        "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
        "('max_pool_3x3', 1)], reduce_concat=range(2, 6))"), C=4, layers=3)
    assert feature_blocks(darts) == [darts.stem, *darts.cells]


def test_blocks_of_an_arbitrary_model():
    res = TinyResNet()
    assert feature_blocks(res) == [*res.layer1, *res.layer2]  # the torch-module stem is not a block
    plain = PlainCNN()
    assert feature_blocks(plain) == [plain[2], plain[5]]
    says = SaysItsBlocks()
    assert feature_blocks(says) == [says.layer1, says.layer2]

    class NoBlocks(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(x)

    with pytest.raises(ValueError, match="feature_blocks"):
        feature_blocks(NoBlocks())


def test_recorded_outputs_survive_in_place_ops_downstream():
    res = TinyResNet()
    x, _ = batch(4)
    feats = block_outputs(res, x)
    # The next block's `out += identity` / ReLU(inplace) never touch a recorded output.
    h = res.relu(res.bn1(res.conv1(x)))
    for block, f in zip([*res.layer1, *res.layer2], feats):
        h = block(h.clone())
        torch.testing.assert_close(f, h)


# ----------------------------------------------------------------------------- AZ-NAS


def test_covariance_entropy_known_answer():
    # Centred, orthogonal channels with variances 1, 1, 2: eigenvalues 1, 1, 2 -> p = 1/4, 1/4, 1/2.
    a = torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=torch.float64)
    b = torch.tensor([1.0, 1.0, -1.0, -1.0], dtype=torch.float64)
    c = math.sqrt(2) * torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=torch.float64)
    feature = torch.stack([a, b, c], dim=1)  # (B=4, C=3)
    p = np.array([0.25, 0.25, 0.5])
    assert covariance_entropy(feature) == pytest.approx(float(-(p * np.log(p + 1e-8)).sum()), abs=1e-12)
    # The same channels as a (B, C, H, W) map: rows are samples x positions.
    fmap = feature.reshape(1, 2, 2, 3).permute(0, 3, 1, 2)
    assert covariance_entropy(fmap) == pytest.approx(covariance_entropy(feature), abs=1e-12)
    assert math.isnan(covariance_entropy(torch.zeros(4, 3)))


def test_pair_trainability_known_answers():
    torch.manual_seed(0)
    g_out = (torch.bernoulli(torch.full((4, 3, 4, 4), 0.5)) - 0.5) * 2
    assert pair_trainability(g_out, g_out.clone()) == -math.inf  # identity block
    w = torch.randn(3, 5)
    g_in = torch.einsum("bchw,cd->bdhw", g_out, w)  # what a 1x1 conv d<-c with weight w back-propagates
    rows_out = g_out.permute(0, 2, 3, 1).reshape(-1, 3).double()
    rows_in = g_in.permute(0, 2, 3, 1).reshape(-1, 5).double()
    s = np.linalg.svd((rows_in.T @ rows_out / rows_out.shape[0]).numpy(), compute_uv=False).max()
    assert pair_trainability(g_out, g_in) == pytest.approx(-s - 1 / (s + 1e-6) + 2, rel=1e-9)
    # Resolution halved: g_in is pixel-unshuffled to the later resolution.
    g_big = torch.randn(4, 2, 8, 8)
    un = F.pixel_unshuffle(g_big, 2).permute(0, 2, 3, 1).reshape(-1, 8).double()
    s = np.linalg.svd((un.T @ rows_out / rows_out.shape[0]).numpy(), compute_uv=False).max()
    assert pair_trainability(g_out, g_big) == pytest.approx(-s - 1 / (s + 1e-6) + 2, rel=1e-9)


def _az_reference(net: nn.Module, batch_size: int, shape: tuple[int, ...]) -> dict[str, float]:
    """AZ-NAS's compute_nas_score on an NB201 network, written out (float32, as the authors compute it)."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    net.train()
    x = torch.randn(batch_size, *shape)
    feats = [net.stem(x)]
    for cell in net.cells:
        feats.append(cell(feats[-1]))
    ent = []
    for f in feats:
        b, c, h, w = f.shape
        rows = f.detach().permute(0, 2, 3, 1).reshape(b * h * w, c)
        rows = rows - rows.mean(0, keepdim=True)
        s = torch.linalg.eigvalsh(rows.T @ rows / rows.shape[0])
        p = s / s.sum()
        ent.append(float((-p * torch.log(p + 1e-8)).sum()))
    ent = np.array(ent)
    scores = []
    for i in reversed(range(1, len(feats))):
        g_out = (torch.bernoulli(torch.ones_like(feats[i]) * 0.5) - 0.5) * 2
        g_in = torch.autograd.grad(feats[i], feats[i - 1], g_out, retain_graph=True)[0]
        if g_out.shape == g_in.shape and torch.all(g_in == g_out):
            scores.append(-np.inf)
            continue
        if g_out.shape[2] != g_in.shape[2]:
            g_in = F.pixel_unshuffle(g_in, g_in.shape[2] // g_out.shape[2])
        go = g_out.permute(0, 2, 3, 1).reshape(-1, g_out.shape[1])
        gi = g_in.permute(0, 2, 3, 1).reshape(-1, g_in.shape[1])
        smax = torch.linalg.svdvals(gi.T @ go / go.shape[0]).max().item()
        scores.append(-smax - 1 / (smax + 1e-6) + 2)
    return {"az_expressivity": float(ent.sum()), "az_progressivity": float(np.min(ent[1:] - ent[:-1])),
            "az_trainability": float(np.mean(scores))}


@pytest.mark.parametrize(
    "arch", [ARCH, "|nor_conv_1x1~0|+|avg_pool_3x3~0|none~1|+|nor_conv_1x1~0|skip_connect~1|avg_pool_3x3~2|"])
def test_az_nas_matches_the_authors_recipe_on_nb201(arch):
    net = small_nb201(arch)
    ours = gradsign.score(net, None, None, AZ, seed=3, input_shape=(3, 16, 16),
                          options={a: {"batch_size": 16} for a in AZ})
    ref_net = small_nb201(arch)
    torch.manual_seed(3)
    ref = _az_reference(ref_net, 16, (3, 16, 16))
    for name in AZ:
        assert ours[name] == pytest.approx(ref[name], rel=1e-4, abs=1e-5), name


def test_az_nas_identity_cell_and_data_free_default_batch():
    net = small_nb201(IDENTITY_ARCH)
    r = gradsign.score(net, None, None, AZ, seed=0, input_shape=(3, 16, 16))
    assert r["az_trainability"] == -math.inf  # a cell that passes its input through unchanged
    assert math.isfinite(r["az_expressivity"]) and math.isfinite(r["az_progressivity"])
    # Data-free: a random batch of 64 whatever the minibatch (its size included).
    x, _ = batch(8)
    assert gradsign.score(net, x, None, AZ, seed=0) == r
    r16 = gradsign.score(net, None, None, AZ, seed=0, input_shape=(3, 16, 16),
                         options={a: {"batch_size": 16} for a in AZ})
    assert r16["az_expressivity"] != r["az_expressivity"]


def test_az_nas_three_scores_share_one_forward_and_are_deterministic():
    x, y = batch(8)
    model = TinyResNet()
    before = TinyResNet.calls
    r1 = gradsign.score(model, x, y, AZ + ["az_complexity"], seed=5)
    # One forward for the three AZ scores, one (one sample) for the FLOP count.
    assert TinyResNet.calls - before == 2
    r2 = gradsign.score(model, x, y, list(reversed(AZ)), seed=5)
    assert all(r1[k] == r2[k] for k in AZ)  # same seed, same numbers, whatever the order
    assert gradsign.score(model, x, y, AZ, seed=6) != {k: r1[k] for k in AZ}
    assert all(math.isfinite(v) for v in r1.values())
    assert r1["az_complexity"] == gradsign.score(model, x, y, ["flops"])["flops"]


def test_az_expressivity_without_trainability_skips_the_backward_and_keeps_its_value(monkeypatch):
    # The recommended ensemble asks for az_expressivity without az_trainability: the pass then
    # runs no backward (cost), and the two scores it gives are the same to the last bit.
    import gradsign.proxies._az_nas as az

    grads = []
    real_grad = torch.autograd.grad
    monkeypatch.setattr(az.torch.autograd, "grad", lambda *a, **k: grads.append(1) or real_grad(*a, **k))
    net = build_nb201_network("|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|",
                              C=8, N=1)
    x, y = torch.randn(4, 3, 16, 16), torch.randint(0, 10, (4,))
    full = gradsign.score(net, x, y, AZ, seed=3)
    n_full = len(grads)
    alone = gradsign.score(net, x, y, ["az_expressivity", "az_progressivity", "meco_opt"], seed=3)
    assert n_full > 0 and len(grads) == n_full  # no backward without az_trainability
    assert alone["az_expressivity"] == full["az_expressivity"]
    assert alone["az_progressivity"] == full["az_progressivity"]
    assert gradsign.score(net, x, y, ["az_trainability"], seed=3)["az_trainability"] == full["az_trainability"]


def test_az_nas_on_plain_and_declared_blocks():
    x, y = batch(8)
    for model in (PlainCNN(), SaysItsBlocks()):
        r = gradsign.score(model, x, y, AZ, seed=0)
        assert all(math.isfinite(v) for v in r.values())
    with pytest.raises(ConfigError, match="batch_size"):
        gradsign.score(PlainCNN(), x, y, ["az_expressivity"], options={"az_expressivity": {"batch_size": 1}})


# ----------------------------------------------------------------------------- MeCo


def _channels_with_correlation(rho: float) -> torch.Tensor:
    a = torch.tensor([1.0, -1.0, 1.0, -1.0])
    b = torch.tensor([1.0, 1.0, -1.0, -1.0])  # centred, orthogonal to a, same norm
    return torch.stack([a, rho * a + math.sqrt(1 - rho ** 2) * b])  # corr(c1, c2) = rho exactly


def test_meco_known_answer():
    rho = 0.6
    x = _channels_with_correlation(rho).reshape(1, 2, 2, 2)
    model = nn.Sequential(nn.Identity())  # two hooked modules (the Sequential and the Identity), both output x
    # corr = [[1, rho], [rho, 1]]: eigenvalues 1 - rho and 1 + rho.
    assert gradsign.score(model, x, None, ["meco"])["meco"] == pytest.approx(2 * (1 - rho), abs=1e-6)
    # <= 8 channels: meco_opt uses them all, factor 1.
    assert gradsign.score(model, x, None, ["meco_opt"], seed=0)["meco_opt"] == pytest.approx(2 * (1 - rho), abs=1e-6)
    # Only the first sample counts.
    x2 = torch.cat([x, torch.randn(3, 2, 2, 2)])
    assert gradsign.score(model, x2, None, ["meco"])["meco"] == pytest.approx(2 * (1 - rho), abs=1e-6)


def test_meco_refuses_a_model_without_feature_maps_instead_of_scoring_it_0():
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3))
    x = torch.randn(4, 3, 2, 2)
    for name in ("meco", "meco_opt"):  # was 0.0 for every MLP; the input (4, 3, 2, 2) is never a module's output
        with pytest.raises(ProxyError, match="meco needs feature maps.*e.g. an MLP"):
            gradsign.score(mlp, x, None, [name], seed=0)
    # One module with a map is enough: its Linear outputs still add 0 each, as the reference's do.
    conv_then_mlp = nn.Sequential(nn.Conv2d(3, 4, 1), nn.Flatten(), nn.Linear(16, 3))
    assert math.isfinite(gradsign.score(conv_then_mlp, x, None, ["meco"])["meco"])


def test_meco_opt_rescales_the_sampled_eigenvalue():
    # 16 uncorrelated centred channels (rows 1..16 of a 32 x 32 Hadamard matrix): every 8-channel
    # correlation matrix is the identity, min eigenvalue 1, times 16 / 8.
    h = torch.ones(1, 1)
    for _ in range(5):
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    x = h[1:17].reshape(1, 16, 4, 8)
    model = nn.Sequential(nn.Identity())
    assert gradsign.score(model, x, None, ["meco"])["meco"] == pytest.approx(2.0, abs=1e-9)
    assert gradsign.score(model, x, None, ["meco_opt"], seed=0)["meco_opt"] == pytest.approx(2 * 2.0, abs=1e-9)


def _meco_reference(net: nn.Module, x: torch.Tensor) -> float:
    """The authors' get_score (measure 'meco'), written out: every module's first-sample output."""
    values = []

    def hook(module, args, out):
        fea = out[0].detach().reshape(out[0].shape[0], -1)
        corr = torch.corrcoef(fea)
        corr[torch.isnan(corr)] = 0
        corr[torch.isinf(corr)] = 0
        values.append(torch.min(torch.real(torch.linalg.eig(corr)[0])))

    handles = [m.register_forward_hook(hook) for _, m in net.named_modules()]
    net(x)
    for h in handles:
        h.remove()
    v = torch.tensor(values)
    return float(v[torch.isfinite(v)].sum())


def test_meco_matches_the_authors_recipe_on_nb201():
    net = small_nb201()
    x, _ = batch(4)
    ours = gradsign.score(net, x, None, ["meco"])["meco"]
    ref_net = small_nb201()
    with pytest.warns(UserWarning):  # torch's cov() warning on the one-column classifier output
        ref = _meco_reference(ref_net, x[:1])
    assert ours == pytest.approx(ref, rel=1e-5, abs=1e-5)
    a = gradsign.score(net, x, None, ["meco_opt"], seed=1)["meco_opt"]
    assert a == gradsign.score(net, x, None, ["meco_opt"], seed=1)["meco_opt"]
    assert math.isfinite(a)


# ----------------------------------------------------------------------------- SWAP


class SignNet(nn.Module):
    """ReLU on the input, on its negation, and the first ReLU again: patterns do not depend on any weight."""

    def __init__(self) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        self.neg = nn.ReLU()
        self.fc = nn.Linear(6, 2)

    def forward(self, x):
        a = self.relu(x)
        b = self.neg(-x)
        self.relu(x)  # the same units again: no new pattern
        return self.fc((a - b).flatten(1))


def test_swap_counts_distinct_patterns_known_answer():
    # 4 samples x 6 units (1 x 2 x 3 maps); the units' on/off patterns over the samples:
    signs = torch.tensor([[1, 1, -1, -1, 1, 1],
                          [1, -1, 1, -1, 1, 1],
                          [1, 1, 1, -1, 1, 1],
                          [1, -1, -1, -1, 1, 1]], dtype=torch.float32)
    x = signs.reshape(4, 1, 2, 3)
    # relu(x): columns 1111, 1010, 0110, 0000, 1111, 1111 -> 4 distinct; relu(-x) adds their
    # complements 0000 (already seen), 0101, 1001, 1111 (seen) -> 2 new. Total 6.
    r = gradsign.score(SignNet(), x, None, ["swap"], seed=0, options={"swap": {"repeats": 3}})
    assert r["swap"] == 6.0


def test_pattern_packing_beyond_one_word():
    g = torch.Generator().manual_seed(0)
    active = torch.rand(70, 500, generator=g) > 0.5
    active[:, 250:] = active[:, :250]  # every pattern twice
    expected = len({tuple(col) for col in active.T.int().tolist()})
    assert count_distinct_patterns([pack_patterns(active)]) == expected == 250
    # Split over several calls: still counted once each.
    assert count_distinct_patterns([pack_patterns(active[:, :300]), pack_patterns(active[:, 300:])]) == 250


def test_pattern_codes_of_a_few_samples_are_the_bit_sums():
    # Up to 24 samples the codes come from a float64 product; they must be the exact integers
    # sum_i active[i] << i (the presence table indexes by them), for every sample count.
    g = torch.Generator().manual_seed(1)
    for n in (1, 2, 15, 16, 20, 23, 24, 25):
        active = torch.rand(n, 3000, generator=g) > 0.5
        active[:, 0] = True  # the largest code, 2^n - 1
        codes = pack_patterns(active)
        exact = (active.to(torch.int64) << torch.arange(n)[:, None]).sum(dim=0)
        assert codes.dtype == torch.int64 and codes.shape == (3000, 1)
        assert torch.equal(codes[:, 0], exact), n
        assert int(codes[0, 0]) == (1 << n) - 1
        assert torch.equal(pack_patterns(active.T.contiguous().T), codes)  # a non-contiguous view
        assert torch.equal(pack_patterns_in_words(active), codes)  # the path taken on mps (no float64)
    with pytest.raises(ValueError, match="boolean .* got dtype torch.float32"):
        pack_patterns(torch.ones(4, 10))


def test_swap_presence_table_counts_what_sorting_counts(monkeypatch):
    # Up to 20 samples swap_count marks codes in a table; beyond, it sorts (unique). Same counts.
    import gradsign.proxies.swap as swap_module
    from gradsign.proxies.zen import gaussian_init_

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
    x = torch.randn(16, 3, 8, 8)
    counts = {}
    for bits in (20, 0):
        monkeypatch.setattr(swap_module, "_TABLE_BITS", bits)
        torch.manual_seed(1)
        gaussian_init_(net)
        counts[bits] = swap_module.swap_count(net, x)
    assert counts[20] == counts[0] > 100


def _swap_reference(net: nn.Module, x: torch.Tensor, repeats: int) -> float:
    """pym1024/SWAP: hooks on nn.ReLU with 4-D inputs, Gaussian re-init, unique rows of sign(activations).T."""
    feats = []
    handles = [m.register_forward_hook(lambda m, i, o: feats.append(o.detach()) if i[0].dim() == 4 else None)
               for m in net.modules() if isinstance(m, nn.ReLU)]
    net.train()
    scores = []
    for _ in range(repeats):
        with torch.no_grad():
            for m in net.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.init.normal_(m.weight)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
                elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)
            feats.clear()
            net(x)
        act = torch.sign(torch.cat([f.reshape(x.shape[0], -1) for f in feats], 1)).T
        scores.append(torch.unique(act, dim=0).shape[0])
    for h in handles:
        h.remove()
    return float(np.mean(scores))


def test_swap_matches_the_authors_recipe_on_nb201_and_swap_reg_applies_the_prior():
    net = small_nb201()
    x, _ = batch(20)
    r = gradsign.score(net, x, None, ["swap", "swap_reg"], seed=4, options=FAST_SWAP)
    ref_net = small_nb201()
    torch.manual_seed(4)
    assert r["swap"] == _swap_reference(ref_net, x[:16], 2)
    p = sum(p.numel() for p in net.parameters()) / 1e3
    assert r["swap_reg"] == pytest.approx(r["swap"] * math.exp(-(p - DEFAULT_MU) ** 2 / DEFAULT_SIGMA), rel=1e-12)
    centred = gradsign.score(net, x, None, ["swap_reg"], seed=4,
                             options={"swap_reg": {"repeats": 2, "mu": p, "sigma": 1.0}})
    assert centred["swap_reg"] == r["swap"]
    with pytest.raises(ConfigError, match="sigma"):
        gradsign.score(net, x, None, ["swap_reg"], options={"swap_reg": {"sigma": 0.0}})


def test_swap_refuses_models_without_relu_modules():
    class NoReLU(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 1)

        def forward(self, x):
            return F.relu(self.conv(x)).mean((2, 3))

    x, _ = batch(4)
    with pytest.raises(ProxyError, match="nn.ReLU"):
        gradsign.score(NoReLU(), x, None, ["swap"])


# ----------------------------------------------------------------------------- EPE-NAS


def test_epe_nas_score_known_answers():
    k = 1e-5
    a = np.array([1.0, 2.0, 3.0, 4.0])
    jac = np.stack([a, 2 * a + 1, -a, a ** 2, np.array([0.0, 1.0, 0.0, 1.0])])
    labels = np.array([0, 0, 1, 1, 2])
    c0 = np.corrcoef(jac[[0, 1]])  # all ones
    c1 = np.corrcoef(jac[[2, 3]])
    s0 = np.log(np.abs(c0) + k).sum()
    s1 = np.log(np.abs(c1) + k).sum()
    s2 = np.log(1 + k)  # a one-sample class
    assert epe_nas_score(jac, labels, 10) == pytest.approx(abs(s0) + abs(s1) + abs(s2), rel=1e-12)
    # Above 100 classes: per-class sums divided by the class size, one-sample classes left out
    # (as NASLib's len() on a 0-d array raises there), sum of pairwise |differences| / classes kept.
    t0, t1 = s0 / 2, s1 / 2
    assert epe_nas_score(jac, labels, 120) == pytest.approx(2 * abs(t0 - t1) / 2, rel=1e-12)
    # A constant Jacobian row makes corrcoef NaN, and the score NaN.
    jac_nan = jac.copy()
    jac_nan[0] = 3.0
    assert math.isnan(epe_nas_score(jac_nan, labels, 10))


def test_epe_nas_on_nb201_matches_its_definition_and_shares_jacob_cov_jacobian():
    net = small_nb201()
    x, y = batch(12, classes=3)
    own = gradsign.score(net, x, y, ["epe_nas"], seed=0)["epe_nas"]
    shared = gradsign.score(net, x, y, ["grad_norm", "jacob_cov", "epe_nas"], seed=0)["epe_nas"]
    assert shared == pytest.approx(own, rel=1e-9)
    # Written out: the gradient of the summed logits w.r.t. the input, train mode.
    ref = small_nb201()
    ref.train()
    xr = x.clone().requires_grad_(True)
    ref(xr).sum().backward()
    jac = xr.grad.reshape(12, -1).double().numpy()
    expected = 0.0
    for c in range(3):
        rows = jac[y.numpy() == c]
        corr = np.corrcoef(rows) if len(rows) > 1 else np.array(1.0)
        expected += abs(np.log(np.abs(corr) + 1e-5).sum())
    assert own == pytest.approx(expected, rel=1e-6)


# ----------------------------------------------------------------------------- registry, CLI, all on models


def test_registry_rows_and_cli_listing(capsys, monkeypatch):
    rows = {r["name"]: r for r in describe_proxies()}
    for name in MODERN:
        assert name in rows and rows[name]["direction"] == "higher" and rows[name]["reference"]
    for name in AZ + ["az_complexity"]:
        assert rows[name]["needs_data"] is False and rows[name]["needs_labels"] is False
    for name in ("meco", "meco_opt", "swap", "swap_reg"):
        assert rows[name]["needs_data"] is True and rows[name]["needs_labels"] is False
    assert rows["epe_nas"]["needs_labels"] is True
    monkeypatch.setenv("COLUMNS", "250")
    with pytest.raises(SystemExit) as exc:
        main(["proxies"])
    out = capsys.readouterr().out
    assert (exc.value.code or 0) == 0
    for name in MODERN:
        assert name in out


@pytest.mark.parametrize("factory", [TinyResNet, PlainCNN, small_nb201])
def test_every_modern_proxy_on_small_models_is_finite_and_reproducible(factory):
    model = factory()
    x, y = batch(16)
    a = gradsign.score(model, x, y, MODERN, seed=0, options=FAST_SWAP)
    b = gradsign.score(model, x, y, MODERN, seed=0, options=FAST_SWAP)
    assert a == b
    assert all(math.isfinite(v) for v in a.values()), a
