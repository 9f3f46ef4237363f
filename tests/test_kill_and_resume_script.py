"""scripts/kill_and_resume.py: the kill-and-resume demonstration reports what it checked."""

from __future__ import annotations

import sys

import pytest
from benchmark_scripts import load_benchmark_script


@pytest.fixture(scope="module")
def kar():
    return load_benchmark_script("kill_and_resume.py")


def test_helpers(kar, tmp_path):
    assert kar.rows(tmp_path / "absent.sqlite") == {}
    assert kar._same(None, None) and kar._same(float("nan"), float("nan")) and kar._same(1.5, 1.5)
    assert not kar._same(None, 1.0) and not kar._same(1.0, 1.0 + 1e-12)
    with pytest.raises(SystemExit, match="--after"):
        kar.main(["--cells", "4", "--after", "4"])
    with pytest.raises(SystemExit, match="--faults"):
        kar.main(["--faults", "disk"])


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds worker processes through /proc")
@pytest.mark.usefixtures("data_dir")
def test_killing_the_driver_or_a_pool_worker_loses_nothing(kar, tmp_path, capsys):
    # gradsign takes long enough per cell (~0.5 s) that the kill lands mid-run; the script
    # refuses to report a kill that came after the last row.
    rc = kar.main(["--backends", "process", "--cells", "8", "--after", "2", "--proxies", "gradsign",
                   "--workdir", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "RESULT: nothing lost, nothing recomputed, identical scores" in out
    table = [line for line in out.splitlines() if line.startswith("| process |")]
    assert len(table) == 2 and all("| 8 / 8 | " in line for line in table)  # rows after, both faults
