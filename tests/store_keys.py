"""A results-store key for tests, with every field defaulted (override any by keyword)."""

from __future__ import annotations

from gradsign.storage import ScoreKey


def score_key(**overrides) -> ScoreKey:
    fields = dict(space="nb201", dataset="cifar10", proxy="gradsign", proxy_version="1",
                  options=ScoreKey.canonical_options({}), batch_size=64, seed=0, sampling="random", init="default")
    fields.update(overrides)
    return ScoreKey(**fields)
