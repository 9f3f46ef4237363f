"""gradsign.score(): never touches the caller's model, shared passes, NaN handling, errors, registry."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch
from torch import nn

import gradsign
from gradsign.errors import ConfigError, GradsignError
from gradsign.proxies import registry
from gradsign.proxies.api import ProxyError, count_nonfinite, describe_proxies, score

BASELINES = ["fisher", "flops", "grad_norm", "grasp", "jacob_cov", "l2_norm", "params", "plain", "snip", "synflow"]
DATA_FREE = {"synflow", "l2_norm", "params", "flops"}


class Net(nn.Module):
    """Conv + BN + Dropout + Linear: every kind of state score() must leave alone."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        h = torch.relu(self.bn(self.conv(x)))
        return self.fc(self.drop(h.mean(dim=(2, 3))))


@pytest.fixture()
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(6, 3, 5, 5, generator=g), torch.tensor([0, 1, 2, 0, 1, 2])


@pytest.fixture()
def net():
    torch.manual_seed(0)
    return Net()


def _snapshot(model: nn.Module):
    return {
        "state": {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()},
        "requires_grad": {k: p.requires_grad for k, p in model.named_parameters()},
        "training": {k: m.training for k, m in model.named_modules()},
        "grad": {k: (p.grad.clone() if p.grad is not None else None) for k, p in model.named_parameters()},
        "grad_ids": {k: id(p.grad) for k, p in model.named_parameters()},
    }


def _assert_same(before, after):
    assert before["state"].keys() == after["state"].keys()
    for k in before["state"]:
        assert torch.equal(before["state"][k], after["state"][k]), k  # weights and BN buffers (incl. num_batches_tracked)
    assert before["requires_grad"] == after["requires_grad"]
    assert before["training"] == after["training"]
    assert before["grad_ids"] == after["grad_ids"]
    for k, g in before["grad"].items():
        assert (g is None and after["grad"][k] is None) or torch.equal(g, after["grad"][k]), k


@pytest.mark.parametrize("mode", ["train", "eval", "mixed"])
def test_score_leaves_model_untouched(net, batch, mode):
    x, y = batch
    if mode == "eval":
        net.eval()
    elif mode == "mixed":
        net.train()
        net.bn.eval()  # a submodule in eval while its parent trains
    net.conv.bias.requires_grad_(False)  # a frozen parameter
    net.fc.weight.grad = torch.full_like(net.fc.weight, 7.0)  # an existing gradient
    before = _snapshot(net)
    x_before, y_before = x.clone(), y.clone()
    results = score(net, x, y, BASELINES, seed=0)
    assert set(results) == set(BASELINES)
    _assert_same(before, _snapshot(net))
    assert torch.equal(x, x_before) and torch.equal(y, y_before) and not x.requires_grad


def test_inputs_edited_in_place_by_the_model_stay_untouched(batch):
    x, y = batch
    x_before = x.clone()
    model = nn.Sequential(nn.ReLU(inplace=True), nn.Flatten(), nn.Linear(75, 3))
    score(model, x, y, ["snip", "jacob_cov", "fisher"])
    assert torch.equal(x, x_before)


def test_score_works_inside_no_grad(net, batch):
    x, y = batch
    with torch.no_grad():
        inside = score(net, x, y, ["snip", "grasp", "jacob_cov"], seed=1)
    assert inside == score(net, x, y, ["snip", "grasp", "jacob_cov"], seed=1)
    assert all(math.isfinite(v) for v in inside.values())


def _count_forwards(model: nn.Module) -> list[int]:
    # Forward hooks are copied along with the module by deepcopy, so they count
    # the forward passes of every private copy score() makes.
    calls = [0]

    def hook(module, inputs, output):
        calls[0] += 1

    model.register_forward_hook(hook)
    return calls


def test_shared_batch_pass_runs_once(net, batch):
    x, y = batch
    calls = _count_forwards(net)
    score(net, x, y, ["grad_norm", "snip", "plain"])
    assert calls[0] == 1
    calls[0] = 0
    score(net, x, y, ["grad_norm", "snip", "plain", "grasp", "fisher", "jacob_cov"])
    assert calls[0] == 1  # fisher, grasp and jacob_cov ride on the same forward
    calls[0] = 0
    score(net, x, y, ["jacob_cov"])
    assert calls[0] == 1  # alone it takes its own (label-free) pass
    calls[0] = 0
    score(net, x, y, ["snip"])
    score(net, x, y, ["plain"])
    assert calls[0] == 2  # sharing is per call, not a cache across calls


@pytest.mark.parametrize("alone", ["fisher", "grasp", "jacob_cov"])
def test_shared_pass_gives_the_separate_pass_numbers_bit_for_bit(net, batch, alone):
    """Riding on the shared pass changes the cost, never the number (float32, same kernels)."""
    x, y = batch
    together = score(net, x, y, ["grad_norm", "snip", "plain", "fisher", "grasp", "jacob_cov"], seed=0)
    assert score(net, x, y, [alone], seed=0)[alone] == together[alone]
    assert score(net, x, y, ["grad_norm", alone], seed=0) == {k: together[k] for k in ("grad_norm", alone)}


def test_proxies_on_a_context_not_told_about_them_take_their_own_pass(net, batch):
    from gradsign.proxies.context import ProxyContext
    from gradsign.proxies.registry import get_proxy

    x, y = batch
    names = ["grad_norm", "fisher", "grasp", "jacob_cov"]
    expected = score(net, x, y, names, seed=0)
    calls = _count_forwards(net)
    ctx = ProxyContext(net, x, y)  # requested=(): the direct, low-level use
    got = {}
    for name in names:
        torch.manual_seed(0)
        got[name] = float(get_proxy(name)(ctx))
    assert got == expected
    assert calls[0] == 4  # batch pass, fisher's, grasp's second, jacob_cov's


def test_timings_charge_a_shared_pass_to_every_proxy_that_reads_it(batch):
    """A search charges these seconds: snip or jacob_cov must not look free because grad_norm ran first."""
    import time

    class SlowForward(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            time.sleep(0.05)  # a forward that costs at least 50 ms, whatever the machine
            return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))

    x, y = batch
    torch.manual_seed(0)
    model = SlowForward()
    calls = _count_forwards(model)
    seconds: dict[str, float] = {}
    score(model, x, y, ["grad_norm", "snip", "fisher", "jacob_cov", "params"], timings=seconds)
    assert calls[0] == 1  # one forward for all four...
    for name in ("grad_norm", "snip", "fisher", "jacob_cov"):
        assert seconds[name] >= 0.05, (name, seconds)  # ...charged in full to each of them


def test_timings_are_reported_per_proxy(net, batch):
    x, y = batch
    seconds: dict[str, float] = {}
    score(net, x, y, ["snip", "params"], timings=seconds)
    assert set(seconds) == {"snip", "params"} and all(v >= 0 for v in seconds.values())


def test_seed_makes_stochastic_models_reproducible(net, batch):
    x, y = batch
    state = torch.get_rng_state()
    a = score(net, x, y, ["snip", "grasp", "fisher", "jacob_cov"], seed=3)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's RNG stream is not advanced
    b = score(net, x, y, ["snip", "grasp", "fisher", "jacob_cov"], seed=3)
    assert a == b
    c = score(net, x, y, ["snip", "grasp", "fisher", "jacob_cov"], seed=4)
    assert a != c  # Dropout is active (train mode): another seed, other masks
    # A proxy's value does not depend on what was requested with it.
    assert score(net, x, y, ["jacob_cov"], seed=3)["jacob_cov"] == a["jacob_cov"]


def test_deterministic_without_seed_for_deterministic_model(batch):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(36, 3))
    x, y = batch
    assert score(model, x, y, BASELINES) == score(model, x, y, BASELINES)


class NaNModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(75, 3)

    def forward(self, x):
        return self.fc(x.flatten(1)) * float("nan")


def test_nan_results_are_returned_and_counted(batch):
    x, y = batch
    results = score(NaNModel(), x, y, BASELINES)
    nan_expected = {"grad_norm", "snip", "plain", "grasp", "fisher", "jacob_cov", "synflow"}
    for name in nan_expected:
        assert math.isnan(results[name]), name
    for name in set(BASELINES) - nan_expected:  # l2_norm, params, flops never run the loss
        assert math.isfinite(results[name]), name
    counts = count_nonfinite(results)
    assert sum(counts.values()) == len(nan_expected)
    assert counts["snip"] == 1 and counts["params"] == 0


def test_infinite_weights_give_inf_or_nan_not_a_number(batch):
    x, y = batch
    model = nn.Sequential(nn.Flatten(), nn.Linear(75, 3))
    with torch.no_grad():
        model[1].weight[0, 0] = float("inf")
    results = score(model, x, y, ["l2_norm", "snip"])
    assert results["l2_norm"] == float("inf")
    assert not math.isfinite(results["snip"])


def test_count_nonfinite_over_many_results():
    rows = [{"a": 1.0, "b": float("nan")}, {"a": float("inf"), "b": 2.0}, {"a": -float("inf"), "b": 0.0}]
    assert count_nonfinite(rows) == {"a": 2, "b": 1}
    assert count_nonfinite({"a": 0.0}) == {"a": 0}


def test_unknown_proxy_and_bad_arguments(net, batch):
    x, y = batch
    with pytest.raises(ConfigError, match="unknown proxy 'snap'.*snip"):
        score(net, x, y, ["snap"])
    with pytest.raises(ConfigError, match="need targets"):
        score(net, x, None, ["snip"])
    with pytest.raises(ConfigError, match="need inputs"):
        score(net, None, None, ["jacob_cov"], input_shape=(3, 5, 5))
    with pytest.raises(ConfigError, match="input_shape"):
        score(net, None, None, ["synflow"])
    with pytest.raises(ConfigError, match="batch size"):
        score(net, x, y[:3], ["snip"])
    with pytest.raises(ConfigError, match="not requested"):
        score(net, x, y, ["snip"], options={"fisher": {"broadcast": False}})
    with pytest.raises(ConfigError, match="fisher"):
        score(net, x, y, ["fisher"], options={"fisher": {"no_such_option": 1}})
    assert math.isfinite(score(net, x, None, ["jacob_cov"])["jacob_cov"])  # needs no labels


def test_failing_model_names_the_proxy(batch):
    x, y = batch

    class Broken(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(10, 3)  # wrong input size for these images

        def forward(self, x):
            return self.fc(x.flatten(1))

    with pytest.raises(ProxyError, match=r"proxy 'snip' failed: RuntimeError") as info:
        score(Broken(), x, y, ["snip"])
    assert isinstance(info.value.__cause__, RuntimeError)
    assert "\n" not in str(info.value)

    class Pair(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(75, 3)

        def forward(self, x):
            out = self.fc(x.flatten(1))
            return out, out

    with pytest.raises(ProxyError, match="proxy 'grad_norm'.*logits tensor"):
        score(Pair(), x, y, ["grad_norm"])


def test_model_that_cannot_be_copied(batch):
    x, y = batch

    class Uncopyable(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(75, 3)

        def __deepcopy__(self, memo):
            raise RuntimeError("no copies")

        def forward(self, x):
            return self.fc(x.flatten(1))

    with pytest.raises(ConfigError, match="private copy.*no copies"):
        score(Uncopyable(), x, y, ["snip"])


@pytest.fixture()
def temporary_proxy():
    names = []

    def add(name, fn, **meta):
        registry.register_proxy(name, description="test only", **meta)(fn)
        names.append(name)

    yield add
    for name in names:
        registry._REGISTRY.pop(name, None)


def test_gradsign_error_inside_proxy_propagates_unchanged(net, batch, temporary_proxy):
    x, y = batch
    err = ConfigError("custom message")

    def bad(ctx):
        raise err

    temporary_proxy("_test_bad", bad)
    with pytest.raises(ConfigError) as info:
        score(net, x, y, ["_test_bad"])
    assert info.value is err


def test_a_proxy_must_return_a_number(net, batch, temporary_proxy):
    x, y = batch
    for name, value in (("_test_true", True), ("_test_text", "3.5"), ("_test_vector", torch.ones(3))):
        temporary_proxy(name, lambda ctx, v=value: v)
        with pytest.raises(ProxyError, match="not a number|not a scalar"):  # True / "3.5" were taken as 1.0 / 3.5
            score(net, x, y, [name])
    temporary_proxy("_test_scalar", lambda ctx: torch.tensor(2.5))
    assert score(net, x, y, ["_test_scalar"]) == {"_test_scalar": 2.5}


@pytest.mark.parametrize("name", ["all", "my,proxy", "my+proxy", "meanrank(x)", "3d", ""])
def test_proxy_names_that_lists_or_ensembles_would_split_are_refused(name):
    with pytest.raises(RuntimeError, match="use letters, digits"):
        registry.register_proxy(name, description="test only")


def test_registry_listing():
    rows = describe_proxies()
    names = [r["name"] for r in rows]
    assert names == sorted(names)
    assert set(BASELINES) <= set(names)
    for r in rows:
        assert set(r) == {"name", "description", "needs_data", "needs_labels", "direction", "version", "reference"}
        assert r["description"] and "\n" not in r["description"]
        assert r["direction"] in {"higher", "lower"}
    by_name = {r["name"]: r for r in rows}
    for name in BASELINES:
        assert by_name[name]["needs_data"] == (name not in DATA_FREE)
        assert by_name[name]["direction"] == "higher"
        assert by_name[name]["reference"]
    assert by_name["jacob_cov"]["needs_labels"] is False
    assert set(BASELINES) <= set(registry.parse_proxy_list("all"))


def test_proxy_list_forms(net, batch):
    x, y = batch
    a = score(net, x, y, "snip,l2_norm,snip", seed=0)
    assert list(a) == ["snip", "l2_norm"]
    assert score(net, x, y, ["snip", "l2_norm"], seed=0) == a


def test_import_gradsign_is_light_and_score_is_lazy():
    code = (
        "import sys, gradsign; assert 'torch' not in sys.modules, 'torch imported eagerly';"
        "from gradsign.proxies.api import score; assert gradsign.score is score;"
        "assert 'score' in dir(gradsign)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    with pytest.raises(AttributeError):
        gradsign.no_such_name  # noqa: B018


def test_contradicting_input_shape_and_malformed_options_are_refused(net, batch):
    x, y = batch
    with pytest.raises(ConfigError, match=r"input_shape \(3, 8, 8\) contradicts the inputs' per-sample shape"):
        score(net, x, y, ["synflow"], input_shape=(3, 8, 8))  # synflow's scores changed silently
    assert score(net, x, y, ["params"], input_shape=tuple(x.shape[1:]))  # agreeing: fine
    for bad in ({"fisher": False}, "fisher.broadcast=false"):
        with pytest.raises(ConfigError, match="map proxy names to their options|give each proxy a mapping"):
            score(net, x, y, ["fisher"], options=bad)  # was a TypeError quoting the ProxySpec


def test_class_targets_are_checked_before_any_proxy_runs(net, batch):
    import numpy as np

    x, y = batch
    for bad in (y.float(), y[:, None], y.bool()):
        with pytest.raises(ConfigError, match="targets must be class indices of shape \\(N,\\) and an integer dtype"):
            score(net, x, bad, ["snip"])  # was the first proxy's ProxyError with torch's message
    probs = torch.nn.functional.one_hot(y, 3).float()
    assert score(net, x, probs, ["snip"], seed=np.int64(0)) == score(net, x, y, ["snip"], seed=0)  # probabilities
    assert score(net, x, y.float(), ["snip"], loss_fn=lambda out, t: out.sum() * 0 + t.sum())  # own loss: its call


def test_failures_keeps_the_other_proxies_scores_and_says_why_the_failing_one_is_nan():
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3))
    x, y = torch.randn(4, 3, 2, 2), torch.tensor([0, 1, 2, 0])
    with pytest.raises(ProxyError, match=r"AZ-NAS needs at least 2 blocks.*\(pass failures=\{\} to score the other \d+ "):
        gradsign.score(mlp, x, y, seed=0)  # the default "all"
    with pytest.raises(ProxyError) as named:  # proxies named: the error is the failing one's, no hint
        gradsign.score(mlp, x, y, ["params", "az_expressivity", "snip"], seed=0)
    assert "failures=" not in str(named.value) and "AZ-NAS needs at least 2 blocks" in str(named.value)
    failures: dict[str, str] = {}
    got = gradsign.score(mlp, x, y, ["params", "az_expressivity", "snip"], seed=0, failures=failures)
    assert list(got) == ["params", "az_expressivity", "snip"] and math.isnan(got["az_expressivity"])
    assert got["params"] == 131 and got["snip"] == gradsign.score(mlp, x, y, ["snip"], seed=0)["snip"]
    assert list(failures) == ["az_expressivity"] and "AZ-NAS needs at least 2 blocks" in failures["az_expressivity"]
    with pytest.raises(ConfigError, match="nosuch"):  # a bad request still raises
        gradsign.score(mlp, x, y, ["params", "nosuch"], failures=failures)
