"""Choosing the recommended ensemble without leakage, and the few-shot rule (issue #22 item 3)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import gradsign
from gradsign.errors import ConfigError, DataError
from gradsign.evaluation.ensemble_selection import (
    MIN_LABELS,
    Benchmark,
    Combination,
    apply_fewshot,
    candidate_combinations,
    choose_combination,
    fewshot_ensemble,
    fewshot_prior,
    fewshot_splits,
    fewshot_study,
    final_choice,
    leave_one_benchmark_out,
    make_part,
    prepare_study,
    read_labels,
    rho_table,
    selection_split,
)
from gradsign.evaluation.metrics import spearman
from gradsign.proxies.ensemble import parse_ensemble, rank_aggregate

ROOT = Path(__file__).resolve().parents[1]


def synthetic(name: str, n: int = 300, seed: int = 0, role: str = "lobo", selection: bool = False) -> Benchmark:
    """Accuracy = u + v; synflow sees u, params sees v (each alone ~0.7), snip is noise, gradsign is
    anti-correlated: the pair synflow+params is the best combination on every such benchmark."""
    rng = np.random.default_rng(seed)
    u, v = rng.normal(size=n), rng.normal(size=n)
    acc = u + v
    scores = {"synflow": u + 0.2 * rng.normal(size=n), "params": v + 0.2 * rng.normal(size=n),
              "snip": rng.normal(size=n), "gradsign": -acc + rng.normal(size=n)}
    archs = [f"{name}-{i}" for i in range(n)]
    sel = selection_split(archs, 0.5, 0) if selection else None
    return Benchmark(name, archs, acc, scores, role=role, selection=sel)


# --------------------------------------------------------------------------- zero-shot


def test_candidates_and_names():
    combos = candidate_combinations(["b", "a", "c"], max_members=2)
    names = [c.name for c in combos]
    assert names == ["a", "b", "c", "a+b", "meanrank(a+b)", "a+c", "meanrank(a+c)", "b+c", "meanrank(b+c)"]
    assert Combination(("a",), "meanrank").name == "a"  # one member: one ranking
    assert len(candidate_combinations(list("abcdef"), 3)) == 6 + 2 * (15 + 20)


def test_combination_values_match_the_ensemble_aggregate():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=40), rng.normal(size=40)
    a[3] = np.nan
    part = make_part("p", {"synflow": a, "params": b}, rng.normal(size=40))
    for agg in ("logrank", "meanrank"):
        ours = Combination(("synflow", "params"), agg).values(part.ranks)
        ref, _ = rank_aggregate(np.column_stack([a, b]), [True, True], agg)
        np.testing.assert_array_equal(ours, ref)  # to the bit: both from the exact doubled ranks
    subset = {m: r[:10] for m, r in part.ranks.items()}  # ranks over 40 cells, read as if over 10
    with pytest.raises(ValueError, match="normalised ranks over these 10 cells"):
        Combination(("synflow", "params")).values(subset)
    assert Combination(("synflow", "params")).values({"synflow": np.empty(0), "params": np.empty(0)}).size == 0
    assert Combination.parse("meanrank(synflow+params)") == Combination(("synflow", "params"), "meanrank")
    assert Combination.parse("az_nas").members == parse_ensemble("az_nas").members


def test_known_best_combination_is_recovered():
    study = prepare_study([synthetic("A", seed=1), synthetic("B", seed=2), synthetic("C", seed=3)])
    choice, excluded = final_choice(study)
    assert set(choice.combination.members) == {"synflow", "params"}
    assert choice.worst_gap > 0.1 and excluded == {}
    for fold in leave_one_benchmark_out(study):
        assert set(fold.choice.combination.members) == {"synflow", "params"}
        assert fold.rho > fold.best_single[1]
        assert fold.hindsight[1] >= fold.rho


def test_left_out_benchmark_never_influences_its_fold():
    base = [synthetic("A", seed=1), synthetic("B", seed=2), synthetic("C", seed=3, selection=True)]
    folds = {f.left_out: f for f in leave_one_benchmark_out(prepare_study(base))}
    rng = np.random.default_rng(9)
    for victim in ("A", "C"):
        changed = []
        for b in base:
            if b.name == victim:  # new accuracies and new scores, same proxies and cells
                b = Benchmark(b.name, b.archs, rng.permutation(b.accuracy),
                              {p: rng.normal(size=len(b.archs)) for p in b.scores}, selection=b.selection)
            changed.append(b)
        after = {f.left_out: f for f in leave_one_benchmark_out(prepare_study(changed))}
        assert after[victim].choice.combination == folds[victim].choice.combination
        assert after[victim].choice.train_rho == folds[victim].choice.train_rho
        assert after[victim].rho != folds[victim].rho  # its report changed; its choice did not


def test_choose_reads_only_training_columns_and_respects_candidates_and_cost():
    parts = [synthetic("A", seed=1).part(), synthetic("B", seed=2).part()]
    combos = candidate_combinations(["synflow", "params", "snip", "gradsign"], 2)
    table = rho_table(combos, parts)
    poisoned = table.copy()
    poisoned["B"] = np.nan  # a column outside `train` may hold anything
    clean = choose_combination(table, combos, ["A"]).combination
    assert choose_combination(poisoned, combos, ["A"]).combination == clean
    only = choose_combination(table, combos, ["A", "B"], proxies=["snip", "synflow"])
    assert set(only.combination.members) <= {"snip", "synflow"}
    cheap = choose_combination(table, combos, ["A", "B"], cost={"synflow": 1, "params": 5, "snip": 1, "gradsign": 1},
                               max_cost=4)
    assert "params" not in cheap.combination.members
    # The gap is measured against the best single proxy whatever its cost (here an expensive one).
    uncapped = choose_combination(table, combos, ["A", "B"])
    capped = choose_combination(table, combos, ["A", "B"], cost={"synflow": 1, "params": 99, "snip": 1, "gradsign": 99},
                                max_cost=2)
    assert capped.best_single == uncapped.best_single and capped.best_single["A"][0] == "params"
    assert set(capped.combination.members) <= {"synflow", "snip"}
    with pytest.raises(ConfigError, match="training"):
        choose_combination(table, combos, [])


def test_missing_proxy_is_excluded_and_reported():
    a, b = synthetic("A", seed=1), synthetic("B", seed=2)
    del b.scores["params"]
    study = prepare_study([a, b, synthetic("C", seed=3)])
    choice, excluded = final_choice(study)
    assert excluded == {"params": ["B"]}
    assert "params" not in choice.combination.members and "params" not in choice.candidates
    for f in leave_one_benchmark_out(study):
        assert "params" not in f.choice.combination.members and f.excluded == {"params": ["B"]}


def test_nb201_selection_split_is_deterministic_and_disjoint():
    archs = [f"cell{i:04d}" for i in range(1000)]
    m1 = selection_split(archs, 0.5, 0)
    m2 = selection_split(list(reversed(archs)), 0.5, 0)[::-1]  # file order does not matter
    np.testing.assert_array_equal(m1, m2)
    assert m1.sum() == 500
    assert not np.array_equal(m1, selection_split(archs, 0.5, 1))
    b = Benchmark("nb", archs, np.arange(1000.0), {"synflow": np.arange(1000.0)}, selection=m1)
    sel, ev = b.part("select"), b.part("eval")
    assert len(sel) == len(ev) == 500
    chosen = {a for a, s in zip(archs, m1) if s}
    held = {a for a, s in zip(archs, m1) if not s}
    assert not chosen & held and len(chosen | held) == 1000
    with pytest.raises(ConfigError):
        selection_split(archs, 1.0)


# --------------------------------------------------------------------------- few-shot


def _two_proxies(n=400, seed=0):
    rng = np.random.default_rng(seed)
    acc = rng.normal(size=n)
    return acc, {"synflow": acc + 0.3 * rng.normal(size=n), "snip": rng.normal(size=n),
                 "params": -acc + 0.3 * rng.normal(size=n)}


def test_fewshot_without_labels_is_the_default():
    acc, scores = _two_proxies()
    none = np.full(len(acc), np.nan)
    fit = fewshot_ensemble(scores, none, prior="synflow+snip")
    assert fit.used_default and fit.k == 0 and fit.name == "synflow+snip"
    ref, _ = rank_aggregate(np.column_stack([scores["synflow"], scores["snip"]]), [True, True], "logrank")
    np.testing.assert_allclose(fit.apply(scores), ref)
    few = none.copy()
    few[: MIN_LABELS - 1] = acc[: MIN_LABELS - 1]
    assert fewshot_ensemble(scores, few, prior="synflow+snip").used_default
    assert gradsign.fewshot_ensemble is fewshot_ensemble


def test_fewshot_departs_from_a_poor_default_when_labels_clearly_say_so():
    acc, scores = _two_proxies()
    lab = np.full(len(acc), np.nan)
    lab[:50] = acc[:50]
    fit = fewshot_ensemble(scores, lab, prior="snip+params")  # a default that ranks backwards
    assert not fit.used_default and math.isfinite(fit.penalty)
    w = dict(zip(fit.members, fit.weights))
    assert w["synflow"] > 0 and w["params"] < 0  # the backward member is flipped
    test = slice(50, None)
    assert spearman(fit.apply(scores)[test], acc[test]) > 0.8
    prior = Combination.parse("snip+params").values(make_part("x", scores, acc).ranks)
    assert spearman(prior[test], acc[test]) < 0


def test_fewshot_se_factor_chooses_among_the_cv_errors():
    # se_factor 0 takes the penalty with the smallest leave-one-out error, 1 (the frozen rule) the
    # largest within one standard error of it: never a smaller penalty than se_factor 0's.
    acc, scores = _two_proxies()
    lab = np.full(len(acc), np.nan)
    lab[:20] = acc[:20]
    strict = fewshot_ensemble(scores, lab, prior="synflow+snip", se_factor=1.0)
    loose = fewshot_ensemble(scores, lab, prior="synflow+snip", se_factor=np.float64(0.0))
    assert strict.cv == loose.cv and len(loose.cv) == 8
    by_penalty = {math.inf if key == "inf" else float(key): err for key, err in loose.cv.items()}
    assert loose.penalty == min(by_penalty, key=by_penalty.get)
    assert strict.penalty > loose.penalty  # here the two rules choose differently (0.1 vs 0.03)
    # a threshold wide enough that every penalty qualifies keeps the prior
    assert fewshot_ensemble(scores, lab, prior="synflow+snip", se_factor=100).used_default
    assert "one-standard-error" in strict.reason and "0-standard-error" in loose.reason
    assert fewshot_ensemble(scores, lab, prior="synflow+snip").penalty == strict.penalty  # the default is 1
    for bad in (-1.0, math.nan, math.inf, True, "1"):
        with pytest.raises(ConfigError, match="se_factor"):
            fewshot_ensemble(scores, lab, prior="synflow+snip", se_factor=bad)


def test_fewshot_split_is_the_predictors_protocol():
    pytest.importorskip("sklearn")
    from gradsign.predictors.base import Predictor, register_predictor, unregister_predictor
    from gradsign.workflows.predictors import Problem, evaluate_predictors

    from test_predictors import synthetic_problem

    calls = []

    class Spy(Predictor):
        name = "spy-fewshot"
        family = "model-based"
        needs = frozenset({"labels"})

        def _fit(self, archs, y):
            calls.append({"fit": list(archs)})

        def _predict(self, archs):
            calls[-1]["predict"] = list(archs)
            return np.zeros(len(archs)) + np.arange(len(archs))

    register_predictor(Spy)
    try:
        fp, archs, acc = synthetic_problem(150)
        evaluate_predictors(Problem(fp, lambda a: np.array([acc[x] for x in a]), archs, "s"), ["spy-fewshot"],
                            train_sizes=[5, 20], test_size=60, trials=2, seed=3, n_bootstrap=100)
    finally:
        unregister_predictor("spy-fewshot")
    pool = sorted(archs)
    ours = fewshot_splits(len(pool), [5, 20], 60, 2, seed=3)
    i = 0
    for test, trains in ours:
        for k in (5, 20):
            assert calls[i]["fit"] == [pool[j] for j in trains[k]]
            assert calls[i]["predict"] == [pool[j] for j in test]
            i += 1


def test_fewshot_study_rows_and_disjointness():
    b = synthetic("A", n=200, seed=4)
    rows = fewshot_study(b, "synflow+snip", [5, 20], test_size=100, trials=3)
    assert len(rows) == 3 * 2 * 3
    assert {r["rule"] for r in rows} == {"fewshot", "zero-shot default", "best single on labels"}
    assert all(r["n_test"] == 100 for r in rows)
    default = [r["spearman"] for r in rows if r["rule"] == "zero-shot default"]
    assert len(set(np.round(default, 12))) == 3  # one value per trial (its test set), the same at every k


def test_fewshot_prior_and_apply(tmp_path):
    names, prior = fewshot_prior("synflow,params")
    assert prior == "recommended" and names[-1] == "recommended"
    names, prior = fewshot_prior("snip,synflow+params")
    assert prior == "synflow+params" and names == ["snip", "synflow+params"]
    acc, scores = _two_proxies(120)
    cand = {m: v[20:] for m, v in scores.items()}
    lab = {m: v[:20] for m, v in scores.items()}
    values, fit = apply_fewshot("synflow+params", ["snip", "synflow+params"], cand, lab, acc[:20])
    assert values.shape == (100,) and fit.k == 20 and set(fit.members) == {"snip", "synflow", "params"}
    # A candidate that is also labelled is ranked once: adding the labelled cells 0-4 as candidates
    # changes no other candidate's value and gives them their labelled rows' values.
    names = [f"c{i}" for i in range(120)]
    both = {m: np.concatenate([v[:5], v[20:]]) for m, v in scores.items()}
    again, _ = apply_fewshot("synflow+params", ["snip", "synflow+params"], both, lab, acc[:20],
                             candidate_archs=names[:5] + names[20:], labelled_archs=names[:20])
    assert np.array_equal(again[5:], values)
    pooled = fit.apply({m: np.concatenate([lab[m], cand[m]]) for m in fit.members})
    assert np.array_equal(again[:5], pooled[:5])
    f = tmp_path / "labels.csv"
    f.write_text('arch,accuracy\n"a,b",1.5\nc,2\n')
    assert read_labels(f)[0] == ["a,b", "c"]
    f.write_text("arch,acc\nc,2\n")
    with pytest.raises(ConfigError, match="arch,accuracy"):
        read_labels(f)
    f.write_text("arch,accuracy\nc,2\nd,3\nc,4\n")
    with pytest.raises(ConfigError, match=r"labels.csv: arch 'c' is listed twice"):
        read_labels(f)


# --------------------------------------------------------------------------- CLI and the frozen result


def _score_json_with_labels(labels, archs, capsys):
    """``gradsign score --labels LABELS --arch ...`` (synflow+params prior, JSON): its document and captured output."""
    from gradsign.cli.main import main

    argv = ["score", "--space", "nb201", "--proxies", "synflow+params", "--no-store", "--no-progress",
            "--format", "json", "--labels", str(labels)] + sum((["--arch", a] for a in archs), [])
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    assert (exc.value.code or 0) == 0, out.err
    return json.loads(out.out), out


def test_cli_score_with_labels(tmp_path, capsys):
    from gradsign.spaces import get_space

    sp = get_space("nb201")
    cells = [sp.arch_at(i).to_string() for i in range(0, 1200, 100)]
    labels = tmp_path / "labels.csv"
    labels.write_text("arch,accuracy\n" + "".join(f"{a},{80 + i}\n" for i, a in enumerate(cells[:6])))
    doc, out = _score_json_with_labels(labels, cells[6:], capsys)
    assert len(doc["scores"]) == 6 and all("fewshot" in r for r in doc["scores"])
    assert doc["fewshot"]["k"] == 6 and doc["fewshot"]["prior"] == "synflow+params"
    assert "few-shot:" in out.err


def test_cli_score_with_a_search_journal_as_labels(tmp_path, capsys):
    # The archs a journaled search trained are the user's labels: no CSV to write by hand.
    import sqlite3

    from gradsign.cli.main import main
    from gradsign.search.journal import Journal, trained_accuracies
    from gradsign.spaces import get_space

    sp = get_space("nb201")
    cells = [sp.arch_at(i).to_string() for i in range(0, 1200, 100)]
    folder = tmp_path / "odd ?#%41 name"  # '?', '#', '%' and a space: the read-only URI must survive them
    folder.mkdir()
    path = folder / "j.sqlite"
    journal = Journal(path)
    for step, arch in enumerate(cells[:6]):  # what every algorithm records: the ordinary fidelity
        journal._record(("rea", 0, 0), step, arch, False, 80.0 + step, 10.0)
    journal._record(("rea", 0, 1), 0, cells[0], False, 82.0, 10.0)  # trained again in another run: averaged
    journal.close()
    before, listing = path.read_bytes(), sorted(tmp_path.rglob("*"))
    assert trained_accuracies(path) == ({cells[0]: 81.0, cells[1]: 81.0, cells[2]: 82.0, cells[3]: 83.0,
                                         cells[4]: 84.0, cells[5]: 85.0}, "ordinary")
    doc, out = _score_json_with_labels(path, cells[6:], capsys)
    assert doc["fewshot"]["k"] == 6 and len(doc["scores"]) == 6 and all("fewshot" in r for r in doc["scores"])
    assert "6 archs the search trained, their ordinary-fidelity accuracies" in out.err
    assert path.read_bytes() == before and sorted(tmp_path.rglob("*")) == listing  # read-only, nothing created

    # BOHB 12/200: 12-epoch and 200-epoch accuracies are not comparable, so one fidelity serves all archs
    bohb = Journal(tmp_path / "bohb.sqlite")
    for step, arch in enumerate(cells[:8]):
        bohb._record(("bohb", 0, 0), step, arch, False, 50.0 + step, 1.0)
    for step, arch in enumerate(cells[:3]):
        bohb._record(("bohb", 0, 0), 8 + step, arch, True, 90.0 + step, 9.0)
    bohb.close()
    low, fidelity = trained_accuracies(tmp_path / "bohb.sqlite")  # 3 high archs: fewer than 4, so the ordinary
    assert fidelity == "ordinary" and low == {a: 50.0 + i for i, a in enumerate(cells[:8])}
    high, fidelity = trained_accuracies(tmp_path / "bohb.sqlite", min_labels=3)
    assert fidelity == "high" and high == {a: 90.0 + i for i, a in enumerate(cells[:3])}

    # not a journal, an empty one, none, an arch of another space: one line naming the culprit
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    base = ["score", "--space", "nb201", "--proxies", "synflow+params", "--no-store", "--no-progress",
            "--arch", cells[6], "--labels"]
    with pytest.raises(SystemExit) as exc:
        main(base + [str(other)])
    err = capsys.readouterr().err
    assert exc.value.code != 0 and "other.sqlite is not a search journal" in err
    empty = Journal(tmp_path / "empty.sqlite")
    empty.close()
    with pytest.raises(DataError, match="records no training yet"):
        trained_accuracies(tmp_path / "empty.sqlite")
    with pytest.raises(DataError, match="no search journal at"):
        trained_accuracies(tmp_path / "absent.sqlite")
    assert not (tmp_path / "absent.sqlite").exists()
    foreign = Journal(tmp_path / "foreign.sqlite")
    for step in range(5):
        foreign._record(("rea", 0, 0), step, f"my-cell-{step}", False, 70.0, 1.0)
    foreign.close()
    with pytest.raises(SystemExit) as exc:
        main(base + [str(tmp_path / "foreign.sqlite")])
    err = capsys.readouterr().err
    assert exc.value.code != 0 and "foreign.sqlite: arch 'my-cell-0' is not of space nb201" in err


def test_frozen_recommendation_matches_the_published_selection():
    from gradsign.proxies.ensemble import NAMED_ENSEMBLES

    summary = ROOT / "results" / "ensemble_selection" / "summary.json"
    if "recommended" not in NAMED_ENSEMBLES or not summary.exists():
        pytest.skip("no frozen recommendation yet")
    doc = json.loads(summary.read_text())
    assert parse_ensemble(NAMED_ENSEMBLES["recommended"][0]).name == doc["recommendation"]["combination"]


def test_selection_on_the_committed_scores(data_dir):
    """The script's loader on the real benchmarks: the NB201 split and the candidate bookkeeping."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("select_ensemble", ROOT / "scripts" / "select_ensemble.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.modules.pop(spec.name, None)
    src = next(s for s in mod.BENCHMARKS if s.name == "nb201-c10")
    b, _, _ = mod.load_benchmark(src)
    assert len(b.archs) == 1000 and b.selection.sum() == 500
    assert np.isfinite(b.accuracy).all() and {"gradsign", "synflow", "naswot", "zico"} <= b.proxies
    again, _, _ = mod.load_benchmark(src)
    np.testing.assert_array_equal(b.selection, again.selection)


def test_fewshot_rule_variants_choose_the_factor_without_the_benchmark(tmp_path, capsys):
    import pandas as pd

    from benchmark_scripts import load_benchmark_script

    script = load_benchmark_script("fewshot_rule_variants.py")
    means = pd.DataFrame({1.0: [0.80, 0.60, 0.50], 0.0: [0.90, 0.55, 0.45]}, index=["a", "b", "c"])
    # Without "a": b and c average 0.55 (factor 1) vs 0.50 (factor 0); without "b": 0.65 vs 0.675;
    # without "c": 0.70 vs 0.725. The left-out benchmark's own column never counts.
    assert script.lobo_choice(means, ["a", "b", "c"]) == {"a": 1.0, "b": 0.0, "c": 0.0}
    tied = pd.DataFrame({1.0: [0.5, 0.5], 0.0: [0.5, 0.5]}, index=["a", "b"])
    assert script.lobo_choice(tied, ["a", "b"]) == {"a": 1.0, "b": 1.0}  # ties: the larger factor
    with pytest.raises(SystemExit, match="at least 2 benchmarks"):
        script.lobo_choice(means, ["a"])
    assert script.parse_factors("1, 0.5,0") == [1.0, 0.5, 0.0]
    for bad in ("", "1,x", "-1", "1,1", "nan"):
        with pytest.raises(SystemExit, match="--factors"):
            script.parse_factors(bad)
    assert script.main(["--summary", str(tmp_path / "absent.json"), "--output", str(tmp_path / "o")]) == 2
    assert "run scripts/select_ensemble.py first" in capsys.readouterr().err
    assert not (tmp_path / "o.md").exists()


def test_fewshot_says_when_labels_look_wrong_and_refuses_infinite_ones():
    acc, scores = _two_proxies()
    percents = 70 + 10 * np.tanh(acc)  # accuracies in percent, like the prior's ranking
    lab = np.full(len(acc), np.nan)
    lab[:20] = percents[:20]
    assert fewshot_ensemble(scores, lab, prior="synflow").warnings == []
    mixed = lab.copy()
    mixed[:8] /= 100  # 8 of 20 given as fractions
    assert any("mix of fractions and percents" in w for w in fewshot_ensemble(scores, mixed, prior="synflow").warnings)
    from gradsign.evaluation.ensemble_selection import label_warnings

    chance = np.array([1.0, 0.83, 45.2, 61.0, 70.3, 68.8, 55.1, 72.4])  # two cells at chance level, in percent
    assert label_warnings(chance) == []
    errors = lab.copy()
    errors[:20] = 100 - percents[:20]  # error rates: lower is better
    fit = fewshot_ensemble(scores, errors, prior="synflow")
    assert any("against the zero-shot prior synflow" in w and "error rates" in w for w in fit.warnings)
    assert fit.as_dict()["warnings"] == fit.warnings
    odd = lab.copy()
    odd[0] = 150.0
    assert any("outside 0-100" in w for w in fewshot_ensemble(scores, odd, prior="synflow").warnings)
    inf = lab.copy()
    inf[3] = np.inf  # was taken as unlabelled
    with pytest.raises(ConfigError, match="accuracies must be finite"):
        fewshot_ensemble(scores, inf, prior="synflow")


def test_fewshot_names_an_unknown_prior_member_as_unknown():
    acc, scores = _two_proxies()
    with pytest.raises(ConfigError, match="prior 'nonexistent' names unknown proxy 'nonexistent'"):
        fewshot_ensemble(scores, acc[:10], prior="nonexistent")
    with pytest.raises(ConfigError, match="no labelled scores for grasp"):  # known, but not scored
        fewshot_ensemble(scores, acc[:10], prior="synflow+grasp")
