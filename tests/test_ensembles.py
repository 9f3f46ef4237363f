"""Ensembles ``a+b`` (issue #22 item 2): rank aggregates of proxies over the candidates scored together."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import gradsign
from gradsign.cli.main import main
from gradsign.errors import ConfigError
from gradsign.proxies import get_proxy, parse_proxy_list
from gradsign.proxies.ensemble import normalised_ranks, parse_ensemble, rank_aggregate


def run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code or 0, out.out, out.err


def test_log_rank_product_by_hand():
    # member a: higher better; member b: lower better (ranks computed on -b)
    a = [3.0, 1.0, 2.0, 5.0]
    b = [0.1, 0.4, 0.3, 0.2]
    values, bad = rank_aggregate(np.column_stack([a, b]), [True, False], "logrank")
    ra = np.array([3, 1, 2, 4]) / 4
    rb = np.array([4, 1, 2, 3]) / 4
    assert np.allclose(values, np.log(ra) + np.log(rb)) and bad == 0
    mean, _ = rank_aggregate(np.column_stack([a, b]), [True, False], "meanrank")
    assert np.allclose(mean, (ra + rb) / 2)


def test_equal_rank_products_and_sums_give_the_very_same_value():
    # Ranks among 6 candidates: a = (1, 2, 3, 6, 4, 5), b = (6, 3, 2, 1, 5, 4). Products 6, 6, 6, 6, 20, 20 and
    # sums 7, 5, 5, 7, 9, 9: summed float logs / means ordered such mathematical ties by rounding noise.
    a = np.array([1.0, 2.0, 3.0, 6.0, 4.0, 5.0])
    b = np.array([6.0, 3.0, 2.0, 1.0, 5.0, 4.0])
    values, _ = rank_aggregate(np.column_stack([a, b]), [True, True], "logrank")
    assert len(set(values[:4].tolist())) == 1 and values[4] == values[5]
    assert values[0] == math.log(2 * 1 * 2 * 6) - 2 * math.log(12)  # from the exact product of doubled ranks
    assert np.allclose(values, np.log(a / 6) + np.log(b / 6), rtol=0, atol=1e-12)
    mean, _ = rank_aggregate(np.column_stack([a, b]), [True, True], "meanrank")
    assert mean[0] == mean[3] == 7 / 12 and mean[1] == mean[2] and mean[4] == mean[5]
    # Half ranks (ties within a member) stay exact: twice an average rank is an integer.
    tied = np.array([1.0, 1.0, 2.0, 3.0])
    other = np.array([4.0, 3.0, 2.0, 1.0])
    values, _ = rank_aggregate(np.column_stack([tied, other]), [True, True])
    assert np.allclose(values, np.log(np.array([1.5, 1.5, 3, 4]) / 4) + np.log(np.array([4, 3, 2, 1]) / 4))


def test_rank_products_beyond_int64_use_python_integers():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(1024, 7))  # (2 x 1024)^7 > 2^63
    scores[1] = scores[0][::-1]  # not a tie in general; the values still match the float sum of logs
    values, _ = rank_aggregate(scores, [True] * 7)
    ranks = np.column_stack([normalised_ranks(scores[:, j]) for j in range(7)])
    assert np.allclose(values, np.log(ranks).sum(axis=1), rtol=0, atol=1e-10)
    doubled = np.rint(ranks * 2048).astype(object)
    assert values[0] == math.log(int(np.prod(doubled[0]))) - 7 * math.log(2048)


def test_ties_share_average_ranks_and_nonfinite_rank_last():
    r = normalised_ranks(np.array([1.0, 1.0, np.nan, 3.0, -np.inf, np.inf]))
    # the three non-finite values tie at ranks 1..3 (average 2); finite 1, 1, 3 get 4.5, 4.5, 6
    assert np.allclose(r * 6, [4.5, 4.5, 2.0, 6.0, 2.0, 2.0])
    values, bad = rank_aggregate(np.array([[1.0, 2.0], [np.nan, 1.0], [2.0, 3.0]]), [True, True])
    assert bad == 1 and np.argmin(values) == 1


def test_names_parse_validate_and_canonicalise():
    assert parse_proxy_list("gradsign, jacob_cov+gradsign ,logrank(synflow+params),meanrank(synflow+params)") == [
        "gradsign", "jacob_cov+gradsign", "synflow+params", "meanrank(synflow+params)"]
    spec = get_proxy("meanrank(snip+synflow)")
    assert spec.members == ("snip", "synflow") and spec.needs_labels and spec.higher_is_better
    assert get_proxy("synflow+params").needs_data is False
    for bad, needle in [("gradsign+", "two or more"), ("a+b", "unknown proxy 'a'"), ("snip+snip", "named twice"),
                        ("median(snip+synflow)", "unknown aggregation"),
                        ("meanrank(synflow+params", r"one pair\s+of parentheses"),
                        ("synflw+snip", "unknown proxy 'synflw'; did you mean 'synflow'")]:
        with pytest.raises(ConfigError, match=needle):
            parse_proxy_list(bad)


def _tiny(width):
    torch.manual_seed(width)
    return nn.Sequential(nn.Conv2d(3, width, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 4))


def test_api_refuses_one_model_and_combines_many():
    x, y = torch.randn(6, 3, 8, 8), torch.tensor([0, 1, 2, 3, 0, 1])
    with pytest.raises(ConfigError, match="ensemble_scores"):
        gradsign.score(_tiny(2), x, y, ["snip+synflow"])
    rows = [gradsign.score(_tiny(w), x, y, ["snip", "synflow"]) for w in (2, 4, 8)]
    values, bad = gradsign.ensemble_scores("snip+synflow", {p: [r[p] for r in rows] for p in ("snip", "synflow")})
    assert values.shape == (3,) and bad == 0 and np.isfinite(values).all()


def test_rank_models_ranks_an_ensemble_over_the_models():
    x, y = torch.randn(6, 3, 8, 8), torch.tensor([0, 1, 2, 3, 0, 1])
    result = gradsign.rank_models({f"w{w}": _tiny(w) for w in (2, 4, 8)}, x, y, ["synflow+params", "params"])
    f = result.frame.set_index("model")
    expected, _ = parse_ensemble("synflow+params").aggregate({"synflow": f["synflow"].to_numpy(),
                                                              "params": f["params"].to_numpy()})
    assert np.allclose(f["synflow+params"].to_numpy(), expected)
    assert f.loc["w8", "rank_synflow+params"] == 1  # the widest net is best by both members


def test_scorer_aggregates_members_and_stores_only_members(tmp_path):
    from gradsign.storage import ResultsStore
    from gradsign.workflows.scoring import Scorer, ScoringSetup

    store = ResultsStore(tmp_path / "s.sqlite")
    scorer = Scorer(ScoringSetup(proxies=("synflow+params",)), store)
    archs = scorer.space.sample(6, 1)
    table = scorer.score_archs(archs, progress=False)
    assert set(table.scores) == {"synflow", "params", "synflow+params"}
    expected, _ = parse_ensemble("synflow+params").aggregate(table.scores)
    assert np.array_equal(table.scores["synflow+params"], expected)
    stored = {r[0] for r in store._conn.execute("SELECT DISTINCT proxy FROM scores")}
    assert stored == {"synflow", "params"}
    again = Scorer(ScoringSetup(proxies=("params", "synflow+params")), store).score_archs(archs, progress=False)
    assert again.n_computed == 0 and np.array_equal(again.scores["synflow+params"], expected)


def test_score_cli_prints_ensemble_columns(capsys):
    code, out, err = run(["score", "--index", "1", "--index", "2", "--index", "3", "--proxies", "synflow+params",
                          "--no-store", "--format", "csv"], capsys)
    assert code == 0, err
    header = out.splitlines()[0].split(",")
    assert header[-3:] == ["synflow", "params", "synflow+params"]


@pytest.mark.slow
@pytest.mark.data
def test_evaluate_and_search_accept_ensembles(data_dir, tmp_path, capsys):
    code, out, err = run(["evaluate", "--sample", "40", "--proxies", "synflow,synflow+params", "--no-store",
                          "--bootstrap", "20", "--no-progress", "--data-dir", str(data_dir)], capsys)
    assert code == 0, err
    assert "synflow+params" in out and "ranked last by that member" in out
    code, out, err = run(["search", "--algo", "rs", "--proxy", "synflow+params", "--runs", "2", "--budget", "12evals",
                          "--no-store", "--no-progress", "--data-dir", str(data_dir)], capsys)
    assert code == 0, err
    assert "synflow+params(K=10, charged)" in out and "0 non-finite" in out


def test_search_context_ranks_the_group_together():
    """The K candidates of a step are ranked among themselves; each cell is paid once per run."""
    from gradsign.search.base import Budget, SearchContext
    from search_fakes import toy_oracle

    class Provider:
        name = "a+b"

        def __init__(self):
            self.asked = []

        def member_scores(self, i):
            self.asked.append(i)
            # member a prefers high indices; member b low ones, and cannot score cell 2
            return np.array([float(i), -float(i) if i != 2 else -np.inf])

        def seconds(self, i):
            return 1.0

        def score(self, i):  # pragma: no cover - an ensemble is never asked for one cell alone
            raise AssertionError("score() called on an ensemble provider")

        def aggregate(self, rows):
            return rank_aggregate(rows, [True, True])[0]

    provider = Provider()
    ctx = SearchContext(toy_oracle(), Budget.seconds(1e9), np.random.default_rng(0), proxy=provider, candidates=3)
    scores = ctx.proxy_scores([1, 2, 3])
    # a ranks 1,2,3 -> 1/3, 2/3, 1; b ranks (-1, -inf, -3) -> 1, 1/3, 2/3
    assert np.allclose(scores, np.log([1 / 3 * 1, 2 / 3 * 1 / 3, 1 * 2 / 3]))
    assert ctx.pick([1, 2, 3]) == 3
    ctx.proxy_scores([3, 1])
    assert provider.asked == [1, 2, 3] and ctx.proxy_seconds == 3.0  # cached: paid once per cell


def test_zero_cost_table_gains_ensemble_columns():
    from gradsign.predictors.features import ZeroCostTable

    t = ZeroCostTable(["a", "b", "c"], ("synflow", "params"), np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]]),
                      np.ones((3, 2)), "toy", {"synflow": False, "params": False})
    e = t.with_ensembles(["synflow+params", "params"])
    assert e.names == ("synflow", "params", "synflow+params")
    assert np.allclose(e.values[:, 2], np.log([1 / 3 * 1, 2 / 3 * 2 / 3, 1 * 1 / 3]))
    assert np.allclose(e.seconds[:, 2], 2.0) and e.needs_data["synflow+params"] is False
    with pytest.raises(ConfigError, match="snip not in toy"):
        t.with_ensembles(["snip+params"])


@pytest.mark.data
def test_predictors_take_an_ensemble_as_a_zero_cost_feature(data_dir, capsys):
    code, out, err = run(["predictors", "evaluate", "--zc-source", "nb201-table", "--zc-proxies",
                          "naswot,params,naswot+params", "--predictors", "zc:naswot,zc:naswot+params",
                          "--train-sizes", "0", "--trials", "2", "--test-size", "200", "--bootstrap", "100",
                          "--no-progress", "--data-dir", str(data_dir)], capsys)
    assert code == 0, err
    assert "zc:naswot+params" in out


def test_az_nas_is_the_named_log_rank_product_of_its_four_scores(capsys):
    spec = get_proxy("az_nas")
    assert spec.name == "az_nas" and spec.aggregation == "logrank"
    assert spec.members == ("az_expressivity", "az_progressivity", "az_trainability", "az_complexity")
    assert parse_proxy_list("az_nas,gradsign") == ["az_nas", "gradsign"]
    code, out, _ = run(["proxies"], capsys)
    assert code == 0 and "az_nas" in out and "named ensembles" in out


@pytest.mark.slow
@pytest.mark.data
def test_evaluate_writes_outputs_for_an_ensemble_alone(data_dir, tmp_path, capsys):
    code, out, err = run(["evaluate", "--sample", "20", "--proxies", "synflow+params", "--no-store", "--bootstrap",
                          "20", "--no-progress", "--output", str(tmp_path / "ev"), "--data-dir", str(data_dir)], capsys)
    assert code == 0, err
    assert (tmp_path / "ev" / "scatter_synflow+params.png").is_file()
    assert not (tmp_path / "ev" / "scatter_params.png").exists()  # members are in scores.csv, not plotted
    assert "scores (no store)" in out
