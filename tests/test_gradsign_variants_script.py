"""scripts/gradsign_variants.py: sum vs mean GradSign at two batch sizes, from the store.

Stored values are made up (no network is built); under test: the mean is derived
where not stored and checked where it is, only cells with both batch sizes are
compared, and an empty comparison is refused in one line.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmark_scripts import load_benchmark_script

from gradsign.spaces import count_nb201_prunable_weights, nb201_arch_at
from gradsign.storage import ResultsStore
from gradsign.workflows.scoring import Scorer, ScoringSetup

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def script():
    return load_benchmark_script("gradsign_variants.py")


def _put(path: Path, data_dir: Path, batch_size: int, cells: range, *, with_mean: bool) -> None:
    scorer = Scorer(ScoringSetup(proxies=("gradsign", "gradsign_mean"), batch_size=batch_size,
                                 data_dir=data_dir), None)
    archs = [nb201_arch_at(i).to_string() for i in cells]
    # made-up sums that grow with the cell's index; the mean divides by the true weight count
    rows = [(a, 1000.0 + 7.0 * i * (1 + batch_size), 1.0) for i, a in zip(cells, archs)]
    with ResultsStore(path) as store:
        store.put_many(scorer.keys["gradsign"], rows)
        if with_mean:
            store.put_many(scorer.keys["gradsign_mean"],
                           [(a, v / count_nb201_prunable_weights(a), s) for a, v, s in rows])


@pytest.mark.slow
def test_compares_the_common_cells_and_derives_the_mean(script, data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GRADSIGN_DATA", str(data_dir))
    store = tmp_path / "s.sqlite"
    _put(store, data_dir, 64, range(0, 40), with_mean=False)
    _put(store, data_dir, 128, range(10, 30), with_mean=True)
    out = tmp_path / "variants.md"
    assert script.main(["--store", str(store), "--output", str(out)]) == 0
    text = out.read_text()
    assert "the 20 cells with GradSign at batch 64 and 128" in text
    assert "gradsign_mean stored for 0, derived for 40" in text
    assert "batch 128: gradsign for 20 cells; gradsign_mean stored for 20, derived for 0" in text
    assert "largest relative difference 0.0e+00" in text
    # the two sums rank the common cells identically (both grow with the index)
    row = next(line for line in text.splitlines() if line.startswith("| gradsign (sum), batch 64 | 1.000"))
    assert row.split(" | ")[3] == "1.000"
    assert text.count("[") >= 8  # a bootstrap interval per variant and target


@pytest.mark.slow
def test_too_few_common_cells_is_a_one_line_error(script, data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GRADSIGN_DATA", str(data_dir))
    store = tmp_path / "s.sqlite"
    _put(store, data_dir, 64, range(0, 5), with_mean=False)
    assert script.main(["--store", str(store)]) == 2
    err = capsys.readouterr().err
    assert "only 0 cells have gradsign at both batch 64 and 128" in err and err.count("\n") == 1
    assert script.main(["--store", str(tmp_path / "missing.sqlite")]) == 2
    assert "no results store" in capsys.readouterr().err
