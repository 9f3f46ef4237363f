"""scripts/proxy_seed_spread.py: a proxy's correlation with accuracy across seeds, same cells."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from benchmark_scripts import load_benchmark_script


@pytest.fixture(scope="module")
def sps():
    return load_benchmark_script("proxy_seed_spread.py")


def test_seeds_parse_as_lists_and_ranges(sps):
    assert sps.parse_seeds("0-3") == [0, 1, 2, 3]
    assert sps.parse_seeds("5, 1,5,2-3") == [5, 1, 2, 3]
    for bad in ("3", "a,b", "1,1", "-1-2"):
        with pytest.raises(SystemExit):
            sps.parse_seeds(bad)


def test_spread_reports_each_seed_and_the_agreement_between_seeds(sps):
    rng = np.random.default_rng(0)
    acc = rng.normal(size=400)
    # Seed 0 tracks accuracy closely, seed 1 loosely, seed 2 is the negative of seed 0.
    scores = pd.DataFrame({0: acc + 0.1 * rng.normal(size=400), 1: acc + 2.0 * rng.normal(size=400)})
    scores[2] = -scores[0]
    res = sps.spread(scores, acc, higher_is_better=True, n_bootstrap=50)
    rho = {r["seed"]: r["spearman"] for r in res["per_seed"]}
    assert rho[0] > 0.95 and 0.2 < rho[1] < 0.6 and rho[2] == pytest.approx(-rho[0])
    assert res["spearman_min"] == pytest.approx(rho[2]) and res["spearman_max"] == pytest.approx(rho[0])
    assert res["spearman_sd"] == pytest.approx(np.std(list(rho.values()), ddof=1))
    assert res["score_agreement_min"] == pytest.approx(-1.0)  # seeds 0 and 2 rank the cells in reverse
    for r in res["per_seed"]:
        lo, hi = r["spearman_ci"]
        assert lo <= r["spearman"] <= hi
    text = sps.format_markdown(res, "t", literature=0.5)
    assert "| 0 | " in text and "literature 0.50" in text and f"sd {res['spearman_sd']:.3f}" in text


@pytest.mark.usefixtures("data_dir")
def test_end_to_end_scores_the_same_cells_under_each_seed_and_resumes(sps, tmp_path, capsys):
    out, store = tmp_path / "out", tmp_path / "s.sqlite"
    argv = ["--proxy", "l2_norm", "--seeds", "0,1", "--sample", "12", "--store", str(store),
            "--bootstrap", "20", "--output", str(out), "--no-progress"]
    assert sps.main(argv) == 0
    first = pd.read_csv(out / "scores.csv")
    assert list(first.columns) == ["arch", "seed0", "seed1"] and len(first) == 12
    assert not np.array_equal(first["seed0"], first["seed1"])  # l2_norm depends on the initialization
    assert "accuracy" not in first.columns
    summary = json.loads((out / "spread.json").read_text())
    assert summary["cells"] == 12 and [r["seed"] for r in summary["per_seed"]] == [0, 1]
    assert (out / "spread.png").stat().st_size > 0
    # A second run computes nothing (the store has every score) and gives the same numbers.
    assert sps.main(argv) == 0
    pd.testing.assert_frame_equal(first, pd.read_csv(out / "scores.csv"))
    assert sps.main(["--proxy", "nosuch", "--seeds", "0,1", "--store", str(store), "--output", str(out)]) == 2
    assert "unknown proxy" in capsys.readouterr().err
