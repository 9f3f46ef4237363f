"""Search results must not change under refactoring: exact trajectories against a recorded baseline.

``tests/expected/search_golden.json`` was written by ``tests/search_golden_cases.py``
with the search code as it was before issue #24's refactor (study / objective /
SearchSpace), on synthetic benchmarks built in that file. Every algorithm, plain
and proxy-assisted (charged, free, ensemble, warm-up), several seeds: the same
cells must be trained in the same order, with the same floats.
"""

from __future__ import annotations

import json

import pytest

from search_golden_cases import EXPECTED, cases, result_document


@pytest.fixture(scope="module")
def expected():
    return json.loads(EXPECTED.read_text())


@pytest.fixture(scope="module")
def actual():
    return {name: make for name, make in cases()}


def test_the_baseline_covers_every_case(expected, actual):
    assert sorted(expected) == sorted(actual)


@pytest.mark.parametrize("name", [name for name, _ in cases()])
def test_search_reproduces_the_recorded_results(name, expected, actual):
    got = result_document(actual[name]())
    want = expected[name]
    for r_got, r_want in zip(got["runs"], want["runs"]):
        # the trajectory first: the first difference in what was trained is the useful message
        assert r_got["trajectory"] == r_want["trajectory"], f"{name}: run {r_want['run']} trained other cells"
    assert got == want
