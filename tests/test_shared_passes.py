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
