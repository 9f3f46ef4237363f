"""scripts/crosscheck_naslib_scores.py: an evaluate scores.csv is paired with the right NASLib records.

A scores file whose values are a monotone function of NASLib's own scores must
agree perfectly, record by record, whatever string of a cell the run wrote (for
NB101 the run writes one representative of isomorphic specs); a missing file is
a one-line error.
"""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
from benchmark_scripts import load_benchmark_script

from gradsign.benchmarks.naslib_zc import load_naslib_zc
from gradsign.errors import DataError
from gradsign.spaces.base import get_space


@pytest.fixture(scope="module")
def xcheck():
    return load_benchmark_script("crosscheck_naslib_scores.py")


@pytest.mark.parametrize("space", ["nb101", "darts"])
def test_monotone_copy_of_naslib_scores_agrees_perfectly(xcheck, data_dir, tmp_path, space):
    try:
        ref = load_naslib_zc(space, "cifar10", data_dir=data_dir)
    except DataError as exc:
        pytest.skip(f"NASLib file unavailable: {exc}")
    sp = get_space(space)
    # One row per distinct cell, written under the cell's LAST string (the run may pick any).
    ref = ref.assign(identity=[sp.identity(sp.parse(a)) for a in ref["arch"]])
    cells = ref.groupby("identity", sort=False).agg(arch=("arch", "last"), params=("params", "first"),
                                                    snip=("snip", "first"))
    if space == "nb101":  # NASLib's duplicate records carry different snip scores: keep params only
        cells = cells.drop(columns="snip")
    scores = cells.assign(params=np.log(cells["params"]) * 3 + 1)
    path = tmp_path / "scores.csv"
    scores.reset_index(drop=True).to_csv(path, index=False)

    text = xcheck.compare(space, "cifar10", path, None, str(data_dir))
    assert f"records compared: {len(ref)}" in text
    row = next(line for line in text.splitlines() if line.startswith("| params |")).split("|")
    rho, tau = float(row[3]), float(row[4])
    if space == "darts":
        assert rho == tau == 1.0
    else:
        # NB101 cells with one benchmark hash can be different networks (the benchmark splits
        # channels by vertex order): NASLib's 3 such pairs differ in params by < 1 %, so one
        # score per cell cannot tie both records perfectly.
        assert rho == 1.0 and 0.999 < tau < 1.0
    if space == "darts":
        assert next(line for line in text.splitlines() if line.startswith("| snip |")).count("1.0000") == 2


def test_missing_scores_file_is_a_one_line_error(xcheck, tmp_path, capsys):
    assert xcheck.main(["--space", "nb101", "--scores", str(tmp_path / "nope.csv")]) == 2
    err = capsys.readouterr().err
    assert "no such scores file" in err and err.count("\n") == 1


def test_other_seed_on_some_cells_is_compared_on_those_cells_only(xcheck, data_dir, tmp_path):
    """--against covering part of the cells: seed-to-seed and ours-vs-NASLib both on that part."""
    try:
        ref = load_naslib_zc("darts", "cifar10", data_dir=data_dir)
    except DataError as exc:
        pytest.skip(f"NASLib file unavailable: {exc}")
    ours = pd.DataFrame({"arch": ref["arch"], "snip": ref["snip"] * 2.0})
    # Seed B: the first 40 cells only, ranked in reverse of NASLib's order on those cells.
    other = pd.DataFrame({"arch": ref["arch"][:40], "snip": -ref["snip"][:40]})
    # Ours disagrees with NASLib outside those 40 cells (reversed there), agrees on them.
    ours.loc[40:, "snip"] = -ours.loc[40:, "snip"]
    ours.to_csv(tmp_path / "a.csv", index=False)
    other.to_csv(tmp_path / "b.csv", index=False)

    text = xcheck.compare("darts", "cifar10", tmp_path / "a.csv", tmp_path / "b.csv", str(data_dir))
    row = [c.strip() for c in next(l for l in text.splitlines() if l.startswith("| snip |")).split("|")]
    assert row[-3] == "-1.0000 (40 cells)"      # seed A vs seed B on the 40 common cells
    assert row[-2] == "1.0000 (40 records)"     # ours vs NASLib on the same 40 cells
    assert float(row[3]) < 0.5                  # ours vs NASLib over all 725 records: mostly reversed
