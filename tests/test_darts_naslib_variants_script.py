"""scripts/darts_naslib_variants.py on a few cells (needs the NASLib file and CIFAR-10)."""

from __future__ import annotations

import pytest

from benchmark_scripts import load_benchmark_script
from gradsign.errors import GradsignError


@pytest.mark.slow
def test_variants_are_scored_and_compared(data_dir):
    script = load_benchmark_script("darts_naslib_variants.py")
    text = script.run(4, ["params", "l2_norm"], ["no_affine", "pool_bn"], seed=0, batch_size=4,
                      data_dir=str(data_dir))
    assert text.startswith("4 cells of zc_nasbench301.json (sample seed 0); shared batch 4, per-cell batch 32")
    lines = text.splitlines()
    assert lines[2] == "| proxy | ours | no_affine | pool_bn |"  # ours is always the reference column
    params = next(line for line in lines if line.startswith("| params"))
    # NASLib counted parameters without the cell-op BN affines: no_affine matches it exactly; pool_bn adds
    # only parameter-free BNs, so it ranks as ours does
    no_affine, pool_bn = (c.strip(" |") for c in params.split(" | ")[2:4])
    assert no_affine.startswith("1.000") and pool_bn.endswith("(1.000)")


def test_bad_proxy_or_variant_is_refused(data_dir):
    script = load_benchmark_script("darts_naslib_variants.py")
    with pytest.raises(GradsignError, match="no NASLib score for zen"):
        script.run(3, ["zen"], ["ours"], seed=0, batch_size=4, data_dir=str(data_dir))
    with pytest.raises(GradsignError, match="unknown variant nope"):
        script.run(3, ["params"], ["nope"], seed=0, batch_size=4, data_dir=str(data_dir))
