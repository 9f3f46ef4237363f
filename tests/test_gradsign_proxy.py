"""The gradsign / gradsign_mean proxies: definition, options, fallback, isolation."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gradsign.errors import ConfigError
from gradsign.proxies import engine as engine_mod
from gradsign.proxies import get_proxy
from gradsign.proxies.api import count_nonfinite, score
from gradsign.proxies.engine import GradSignFallbackWarning, gradsign_sign_sums


@pytest.fixture(autouse=True)
def _one_thread_and_fresh_warnings():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    engine_mod._WARNED.clear()
    yield
    torch.set_num_threads(before)
    engine_mod._WARNED.clear()


def _net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6), nn.ReLU(),
        nn.Conv2d(6, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4),
    )


def _batch(n: int = 6, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 8, 8, generator=g), torch.randint(0, 4, (n,), generator=g)


def _authors_loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """The authors' get_grad_conflict, restated: numpy sign of stacked per-sample grads."""
    net = copy.deepcopy(model).train()
    rows = []
    for i in range(x.shape[0]):
        net.zero_grad()
        F.cross_entropy(net(x[[i]]), y[[i]]).backward()
        rows.append(np.concatenate([
            (m.weight.grad if m.weight.grad is not None else torch.zeros_like(m.weight)).numpy().ravel()
            for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))
        ]))
    code = np.abs(np.sign(np.stack(rows)).sum(axis=0))
    return float(np.nansum(code)), float(np.nanmean(code))


def test_registered_with_metadata():
    for name in ("gradsign", "gradsign_mean"):
        spec = get_proxy(name)
        assert spec.needs_data and spec.needs_labels and spec.higher_is_better
        assert "GradSign" in spec.reference


def test_matches_the_authors_definition_sum_and_mean():
    model = _net().double()
    x, y = _batch()
    x = x.double()
    total, mean = _authors_loop(model, x, y)
    for engine in ("reference", "fast", "auto"):
        res = score(model, x, y, ["gradsign", "gradsign_mean"],
                    options={"gradsign": {"engine": engine}, "gradsign_mean": {"engine": engine}})
        assert res["gradsign"] == total
        assert res["gradsign_mean"] == pytest.approx(mean, rel=1e-12)
    r = gradsign_sign_sums(model, x, y)
    n_weights = sum(m.weight.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    assert r.n_weights == n_weights and r.n_samples == 6
    assert r.mean_score == r.score / n_weights


def test_model_untouched_and_deterministic():
    model = _net()
    model.eval()
    model[0].weight.requires_grad_(False)
    model[3].weight.grad = torch.ones_like(model[3].weight)
    before = copy.deepcopy(model.state_dict())
    x, y = _batch()
    first = gradsign_sign_sums(model, x, y)
    second = gradsign_sign_sums(model, x, y)
    assert first == second  # frozen dataclass equality (sign sums excluded)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k  # weights and BatchNorm running statistics
    assert not model.training and not any(m.training for m in model.modules())
    assert not model[0].weight.requires_grad and model[3].weight.requires_grad
    assert torch.equal(model[3].weight.grad, torch.ones_like(model[3].weight)) and model[0].weight.grad is None
    # frozen weights are scored anyway (all weights, at initialisation)
    assert first.n_weights == sum(m.weight.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


class _Dead(nn.Module):
    """A conv whose output is multiplied by zero (an NB201 'none' edge) plus one never called."""

    def __init__(self) -> None:
        super().__init__()
        self.body = _net()
        self.dead = nn.Conv2d(3, 4, 1)
        self.unused = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.dead(x).mean((2, 3)).mul(0.0)


def test_sign_of_zero_gradient_is_zero():
    model = _Dead().double()
    x, y = _batch()
    x = x.double()
    base = gradsign_sign_sums(model.body, x, y)
    for engine in ("reference", "fast"):
        res = gradsign_sign_sums(model, x, y, engine=engine, keep_sign_sums=True)
        assert res.engine_used == engine
        assert not res.sign_sums["dead"].any() and not res.sign_sums["unused"].any()
        assert res.score == base.score  # dead layers add 0 ...
        assert res.n_weights == base.n_weights + 4 * 3 + 3 * 3  # ... but count as weights for the mean
        assert res.mean_score == res.score / res.n_weights


class _Scaled(nn.Module):
    """A leaf with its own parameter: not provably per-sample to the fast engine."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.full((1, c, 1, 1), 1.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


def test_unsupported_layer_goes_to_func_with_the_same_number():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(3, 5, 3), _Scaled(5), nn.ReLU(), nn.Flatten(), nn.Linear(5 * 6 * 6, 4)).double()
    x, y = _batch()
    x = x.double()
    ref = gradsign_sign_sums(model, x, y, engine="reference")
    with warnings.catch_warnings():
        warnings.simplefilter("error", GradSignFallbackWarning)  # func is a batched engine: no warning
        auto = gradsign_sign_sums(model, x, y)
    assert auto.engine_used == "func" and auto.score == ref.score
    assert auto.fallback_reason.startswith("fast: ") and "_Scaled" in auto.fallback_reason
    with pytest.raises(ConfigError, match="engine 'fast' cannot score this model"):
        gradsign_sign_sums(model, x, y, engine="fast")


def test_model_neither_batched_engine_takes_falls_back_to_the_loop_once():
    model = _net().double()
    model[2].register_forward_hook(lambda mod, args, out: out * 1.0)  # user hooks: both engines refuse
    x, y = _batch()
    x = x.double()
    ref = gradsign_sign_sums(model, x, y, engine="reference")
    with pytest.warns(GradSignFallbackWarning, match="fast: module '2' .*hooks.*; func: module '2'"):
        auto = gradsign_sign_sums(model, x, y)
    assert auto.engine_used == "reference" and auto.score == ref.score
    assert auto.fallback_reason.startswith("fast: ") and "; func: " in auto.fallback_reason
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second call does not warn again
        gradsign_sign_sums(model, x, y)
    for engine in ("fast", "func"):
        with pytest.raises(ConfigError, match=f"engine '{engine}' cannot score this model"):
            gradsign_sign_sums(model, x, y, engine=engine)


class _Mixer(nn.Module):
    """A parameter-free container that mixes samples (centres over the batch)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = _net()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return out - out.mean(0, keepdim=True) if out.shape[0] > 1 else out


def test_runtime_check_catches_a_module_that_mixes_samples():
    model = _Mixer().double()
    x, y = _batch()
    x = x.double()
    ref = gradsign_sign_sums(model, x, y, engine="reference")
    auto = gradsign_sign_sums(model, x, y)  # func runs every sample as a batch of one, as the loop does
    assert auto.engine_used == "func" and auto.score == ref.score
    assert "mixes samples" in auto.fallback_reason
    with pytest.raises(ConfigError, match="mixes samples"):
        gradsign_sign_sums(model, x, y, engine="fast")


def test_unknown_loss_falls_back_and_cross_entropy_options_are_exact():
    model = _net().double()
    x, y = _batch()
    x = x.double()
    ref = gradsign_sign_sums(model, x, y, engine="reference")
    other = gradsign_sign_sums(model, x, y, loss_fn=lambda out, t: F.cross_entropy(out, t) * 2.0)
    assert other.engine_used == "func" and other.score == ref.score and "loss" in other.fallback_reason
    with pytest.raises(ConfigError, match="engine 'fast' cannot score.*loss"):
        gradsign_sign_sums(model, x, y, loss_fn=lambda out, t: F.cross_entropy(out, t) * 2.0, engine="fast")
    weighted = nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 0.5, 3.0], dtype=torch.float64), label_smoothing=0.1)
    a = gradsign_sign_sums(model, x, y, loss_fn=weighted, engine="fast")
    b = gradsign_sign_sums(model, x, y, loss_fn=weighted, engine="reference")
    c = gradsign_sign_sums(model, x, y, loss_fn=weighted, engine="func")
    assert a.score == b.score == c.score


class _InfLoss(nn.Module):
    """Finite weights and gradients, but class 0's logit is -inf: a sample labelled 0 has loss inf."""

    def __init__(self) -> None:
        super().__init__()
        self.body = _net()
        self.register_buffer("mask", torch.tensor([float("-inf"), 0.0, 0.0, 0.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.mask.to(x.dtype)


def _broken_models() -> dict[str, tuple[nn.Module, torch.Tensor, torch.Tensor]]:
    """Three ways a network is broken: inf weights, NaN inputs, an infinite loss."""
    x, y = _batch()
    x, y = x.double(), y.clone()
    inf_w = _net().double()
    with torch.no_grad():
        inf_w[3].weight.fill_(float("inf"))
    nan_x = x.clone()
    nan_x[2, :, 0, 0] = float("nan")
    y_inf = y.clone()
    y_inf[1] = 0
    return {
        "inf_weights": (inf_w, x, y),
        "nan_inputs": (_net().double(), nan_x, y),
        "inf_loss": (_InfLoss().double(), x, y_inf),
    }


@pytest.mark.parametrize("case", ["inf_weights", "nan_inputs", "inf_loss"])
def test_a_non_finite_loss_or_gradient_makes_gradsign_nan(case):
    model, x, y = _broken_models()[case]
    for engine in ("reference", "fast", "func", "auto"):
        res = gradsign_sign_sums(model, x, y, engine=engine, keep_sign_sums=True)
        assert res.engine_used == ("fast" if engine == "auto" else engine)
        assert np.isnan(res.score) and np.isnan(res.mean_score), engine
        if case == "inf_loss":
            assert res.n_nan_weights == 0  # finite gradients; the loss alone makes it NaN
        else:
            assert 0 < res.n_nan_weights <= res.n_weights
    out = score(model, x, y, ["gradsign", "gradsign_mean"])
    assert np.isnan(out["gradsign"]) and np.isnan(out["gradsign_mean"])
    assert count_nonfinite(out) == {"gradsign": 1, "gradsign_mean": 1}


def test_engines_agree_on_which_weights_are_non_finite():
    model, x, y = _broken_models()["nan_inputs"]
    counts = {e: gradsign_sign_sums(model, x, y, engine=e).n_nan_weights for e in ("reference", "fast", "func")}
    assert len(set(counts.values())) == 1, counts


def test_finite_models_keep_their_numbers():
    # The NaN rule only adds NaN: a finite network's score is the authors' nansum, unchanged.
    model = _net().double()
    x, y = _batch()
    x = x.double()
    total, mean = _authors_loop(model, x, y)
    for engine in ("reference", "fast", "func"):
        res = gradsign_sign_sums(model, x, y, engine=engine)
        assert res.n_nan_weights == 0 and res.score == total
        assert res.mean_score == pytest.approx(mean, rel=1e-12)


def test_rank_never_ranks_a_nan_model():
    rank = pytest.importorskip("gradsign.workflows.rank")
    model, x, y = _broken_models()["inf_weights"]
    x, model = x.float(), model.float()
    models = {"good_a": _net(1), "broken": model, "good_b": _net(2)}
    res = rank.rank_models(models, x, y, ["gradsign", "gradsign_mean"], num_classes=4, seed=0)
    frame = res.frame.set_index("model")
    assert np.isnan(frame.loc["broken", "gradsign"]) and np.isnan(frame.loc["broken", "gradsign_mean"])
    assert frame["rank_gradsign"].isna().tolist() == [False, True, False]  # NaN: no rank
    assert sorted(frame["rank_gradsign"].dropna().tolist()) == [1, 2]
    assert res.sorted("gradsign")["model"].iloc[-1] == "broken"  # listed last
    assert count_nonfinite(frame[["gradsign", "gradsign_mean"]].to_dict(orient="records")) == {
        "gradsign": 1, "gradsign_mean": 1}
    assert "gradsign engine: fast" in res.notes["good_a"] and "gradsign engine: fast" in res.notes["broken"]


def test_which_engine_ran_is_reported():
    from gradsign.proxies.gradsign import engine_notes, recording_engines

    torch.manual_seed(1)
    scaled = nn.Sequential(nn.Conv2d(3, 5, 3), _Scaled(5), nn.ReLU(), nn.Flatten(), nn.Linear(5 * 6 * 6, 4))
    x, y = _batch()
    with recording_engines() as seen:
        score(scaled, x, y, ["gradsign", "gradsign_mean"])  # one shared computation
        score(_net(), x, y, ["gradsign"])
    assert [r.engine_used for r in seen] == ["func", "fast"]
    notes = engine_notes(seen)
    assert notes[0].startswith("gradsign engine: func (fast: layer '1' of unknown type _Scaled")
    assert notes[1] == "gradsign engine: fast"
    rank = pytest.importorskip("gradsign.workflows.rank")
    res = rank.rank_models({"scaled": scaled}, x, y, ["gradsign"], seed=0)
    assert any(n.startswith("gradsign engine: func") for n in res.notes["scaled"])


def test_bad_options_are_config_errors():
    model = _net()
    x, y = _batch()
    with pytest.raises(ConfigError, match="engine must be one of"):
        score(model, x, y, ["gradsign"], options={"gradsign": {"engine": "turbo"}})
    with pytest.raises(ConfigError, match="chunk_size"):
        gradsign_sign_sums(model, x, y, chunk_size=0)
    with pytest.raises(ConfigError, match="one target per input"):
        gradsign_sign_sums(model, x, y[:3])


def test_both_proxies_share_one_pass(monkeypatch):
    calls = []
    real = engine_mod.gradsign_sign_sums

    def counting(*args, **kwargs):
        calls.append(kwargs.get("engine"))
        return real(*args, **kwargs)

    import gradsign.proxies.gradsign as proxy_mod

    monkeypatch.setattr(proxy_mod, "gradsign_sign_sums", counting)
    x, y = _batch()
    res = score(_net(), x, y, ["gradsign", "gradsign_mean"])
    assert len(calls) == 1 and res["gradsign_mean"] > 0


def test_nb201_network_scores_with_the_fast_engine():
    nb = pytest.importorskip("gradsign.spaces.nb201_network")
    torch.manual_seed(0)
    net = nb.build_nb201_network(
        "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|", C=4, N=1
    )
    x = torch.randn(4, 3, 16, 16)
    y = torch.randint(0, 10, (4,))
    with warnings.catch_warnings():
        warnings.simplefilter("error", GradSignFallbackWarning)
        res = gradsign_sign_sums(net, x, y)
    assert res.engine_used == "fast" and res.score > 0


def test_nb201_gradsign_mean_is_the_sum_over_the_analytic_weight_count():
    # scripts/search_proxy_assisted.py derives gradsign_mean from stored gradsign scores
    # this way; it is exact when no per-sample gradient is NaN.
    nb = pytest.importorskip("gradsign.spaces.nb201_network")
    for arch in ("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|",
                 "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"):
        torch.manual_seed(0)
        net = nb.build_nb201_network(arch, C=4, N=1)
        x = torch.randn(4, 3, 16, 16)
        y = torch.randint(0, 10, (4,))
        res = score(net, x, y, ["gradsign", "gradsign_mean"])
        assert res["gradsign_mean"] == res["gradsign"] / nb.count_nb201_prunable_weights(arch, C=4, N=1)


class _InPlace(nn.Module):
    """Modifies its input in place and uses an in-place ReLU right after a conv."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.act = nn.ReLU(inplace=True)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.mul_(2.0).relu_()  # not idempotent: a second pass over the same tensor would differ
        return self.head(self.act(self.conv(x)).mean((2, 3)))


def test_in_place_ops_and_the_callers_batch_is_untouched():
    torch.manual_seed(3)
    model = _InPlace().double()
    x = torch.randn(5, 3, 6, 6, dtype=torch.float64)
    y = torch.randint(0, 2, (5,))
    x0 = x.clone()
    fast = gradsign_sign_sums(model, x, y)
    ref = gradsign_sign_sums(model, x, y, engine="reference")
    assert fast.engine_used == "fast" and fast.score == ref.score
    assert torch.equal(x, x0)


class _BatchOnlyFails(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = _net()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > 1:
            raise RuntimeError("boom: batched call")
        return self.body(x)


def test_an_error_in_the_batched_pass_falls_back_to_the_next_engine():
    model = _BatchOnlyFails().double()
    x, y = _batch()
    x = x.double()
    res = gradsign_sign_sums(model, x, y)  # func runs batches of one: no error there
    assert res.engine_used == "func" and "RuntimeError in the batched pass: boom" in res.fallback_reason
    assert res.score == gradsign_sign_sums(model.body, x, y, engine="reference").score
    with pytest.raises(RuntimeError, match="boom"):
        gradsign_sign_sums(model, x, y, engine="fast")


class _Noisy(nn.Module):
    """Draws random numbers in forward (not a Dropout module): vmap refuses it, the loop runs."""

    def __init__(self) -> None:
        super().__init__()
        self.body = _net()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x + torch.randn_like(x))  # large: the fast engine's logits check must see it


def test_random_forward_falls_back_to_the_loop():
    torch.manual_seed(0)
    model = _Noisy()
    x, y = _batch()
    with pytest.warns(GradSignFallbackWarning, match="func: RuntimeError in the vmapped pass"):
        res = gradsign_sign_sums(model, x, y, verify=True)
    assert res.engine_used == "reference"
