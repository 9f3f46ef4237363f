"""One rule says when two arch strings are the same benchmark cell: ``SearchSpace.identity``."""

from __future__ import annotations

import pytest

from gradsign.spaces import get_space
from gradsign.spaces.darts import DartsArch, sample_darts


def test_darts_identity_ignores_the_order_of_a_nodes_two_pairs():
    space = get_space("darts")
    arch = sample_darts(1, seed=3)[0]
    swapped = list(arch.normal)
    swapped[4], swapped[5] = swapped[5], swapped[4]
    other = DartsArch(swapped, arch.reduce)
    assert space.to_string(other) != space.to_string(arch)
    assert space.identity(other) == space.identity(arch) == space.identity(space.parse(space.to_string(other)))


@pytest.mark.data
@pytest.mark.parametrize("space", ["nb101", "darts"])
def test_predictor_features_and_ground_truth_merge_naslib_records_into_the_same_cells(space, data_dir):
    from gradsign.predictors.features import naslib_sample
    from gradsign.workflows.ground_truth import ground_truth

    sample = naslib_sample(space, "cifar10", data_dir=data_dir)
    truth = ground_truth(space, "cifar10", data_dir=data_dir)
    assert list(sample.zerocost.archs) == truth.archs
    assert list(sample.accuracy.values()) == pytest.approx(list(truth.accuracy(truth.archs)))
