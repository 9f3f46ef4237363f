"""Proxies declare the shared computations they read (register_proxy(uses=...)); the context acts on that.

No proxy is named in the context: what a pass records follows from the declarations
of the requested proxies, and scores are the same whether a pass is shared or not.
"""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

import gradsign
from gradsign.proxies import available_proxies, get_proxy
from gradsign.proxies.registry import SHARED_PASSES, register_proxy


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(6, 4))


@pytest.fixture
def batch():
    torch.manual_seed(1)
    return torch.randn(8, 3, 8, 8), torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])


def test_declarations():
    uses = {p.name: p.uses for p in available_proxies()}
    assert uses["fisher"] == {"batch_pass", "fisher_taps"} and uses["grasp"] == {"batch_pass", "graph_grads"}
    assert uses["jacob_cov"] == uses["epe_nas"] == {"input_jacobian"} and uses["snip"] == {"batch_pass"}
    assert all(u <= set(SHARED_PASSES) for u in uses.values())
    with pytest.raises(RuntimeError, match="unknown shared pass"):
        register_proxy("x_bad", description="", uses=("teleport",))


def test_context_names_no_proxy():
    import gradsign.proxies.context as context

    source = inspect.getsource(context)
    for name in ("\"fisher\"", "\"grasp\"", "\"jacob_cov\"", "\"snip\"", "BATCH_PASS_USERS"):
        assert name not in source


def test_sharing_changes_no_number(batch):
    x, y = batch
    together = gradsign.score(_net(), x, y, ["snip", "fisher", "grasp", "jacob_cov", "epe_nas"], seed=0)
    alone = {p: gradsign.score(_net(), x, y, [p], seed=0)[p] for p in together}
    assert together == alone
    pair = gradsign.score(_net(), x, y, ["jacob_cov", "epe_nas"], seed=0)
    assert pair == {p: alone[p] for p in pair}


def test_jacobian_pass_is_computed_once_for_two_readers(batch, monkeypatch):
    from gradsign.proxies import context

    calls = []
    real = context._label_free_jacobian

    def counting(ctx):
        calls.append(1)
        return real(ctx)

    monkeypatch.setattr(context, "_label_free_jacobian", counting)
    x, y = batch
    gradsign.score(_net(), x, y, ["jacob_cov", "epe_nas"], seed=0)
    assert len(calls) == 1


# --------------------------------------------------------------------------- --option PROXY.KEY=VALUE


def test_proxy_options_parse_json_values_and_validate_names():
    from gradsign.errors import ConfigError
    from gradsign.proxies.api import parse_proxy_options

    got = parse_proxy_options(["fisher.broadcast=false", "gradsign.engine=fast", "zico.splits=2", "gradsign.chunk_size=8"],
                              ["fisher", "gradsign+zico"])
    assert got == {"fisher": {"broadcast": False}, "gradsign": {"engine": "fast", "chunk_size": 8}, "zico": {"splits": 2}}
    with pytest.raises(ConfigError, match="PROXY.KEY=VALUE"):
        parse_proxy_options(["fisher=1"], ["fisher"])
    with pytest.raises(ConfigError, match="not among the proxies scored"):
        parse_proxy_options(["snip.x=1"], ["fisher"])
    # An unknown option is refused before anything runs (it used to make every score of the run NaN).
    with pytest.raises(ConfigError, match="fisher has no option 'braodcast'; its options: broadcast"):
        parse_proxy_options(["fisher.braodcast=false"], ["fisher"])
    with pytest.raises(ConfigError, match="snip has no option 'x'; its options: none"):
        parse_proxy_options(["snip.x=1"], ["snip"])
    # Values take the type of the option's default: "False" is false (it ran as a truthy string), a
    # bool or number option refuses anything else, a str option keeps the text as written.
    got = parse_proxy_options(["fisher.broadcast=False", "gradsign.verify=NO", "swap_reg.mu=400",
                               "swap_reg.sigma=1.5e4", "gradsign.engine=1"], ["fisher", "gradsign", "swap_reg"])
    assert got == {"fisher": {"broadcast": False}, "gradsign": {"verify": False, "engine": "1"},
                   "swap_reg": {"mu": 400, "sigma": 15000.0}}
    with pytest.raises(ConfigError, match=r"fisher.broadcast is true or false \(default true\)"):
        parse_proxy_options(["fisher.broadcast=maybe"], ["fisher"])
    with pytest.raises(ConfigError, match=r"zico.splits is an integer \(default 2\), got '2.5'"):
        parse_proxy_options(["zico.splits=2.5"], ["zico"])
    with pytest.raises(ConfigError, match="swap_reg.mu is a number"):
        parse_proxy_options(["swap_reg.mu=true"], ["swap_reg"])
    # An option whose default is None is typed by its annotation (gradsign's chunk_size: int | None).
    assert parse_proxy_options(["gradsign.chunk_size=null"], ["gradsign"]) == {"gradsign": {"chunk_size": None}}
    with pytest.raises(ConfigError, match=r"gradsign.chunk_size is an integer \(default None\), got 'False'"):
        parse_proxy_options(["gradsign.chunk_size=False"], ["gradsign"])
    from gradsign.workflows.scoring import scoring_setup

    with pytest.raises(ConfigError, match="give each proxy a mapping of its options.*got 'params': 3"):
        scoring_setup("nb201", "cifar10", "params", options={"params": 3})  # was a raw AttributeError


@pytest.mark.slow
def test_option_reaches_the_proxy_and_the_store_key(capsys):
    from gradsign.cli.main import main

    def run(argv):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        out = capsys.readouterr()
        return exc.value.code or 0, out.out, out.err

    base = ["score", "--index", "5", "--proxies", "fisher", "--no-store", "--format", "csv"]
    code, plain, _ = run(base)
    code2, unbroadcast, _ = run([*base, "--option", "fisher.broadcast=false"])
    assert code == code2 == 0 and plain != unbroadcast
    code, _, err = run([*base, "--option", "fisher.nope=1"])
    assert code == 2 and "fisher has no option 'nope'" in err
    from gradsign.workflows.scoring import Scorer, ScoringSetup

    key = Scorer(ScoringSetup(proxies=("fisher",), proxy_options={"fisher": {"broadcast": False}})).keys["fisher"]
    assert key.options == '{"broadcast":false}'
