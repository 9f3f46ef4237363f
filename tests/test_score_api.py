"""gradsign.score_archs: the typed API behind `gradsign score` (the CLI only displays its ScoreResult)."""

from __future__ import annotations

import json

import pytest

import gradsign
from gradsign.errors import ConfigError
from gradsign.workflows.score import ScoreResult

ARCHS = ["|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|",
         "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"]


def test_score_archs_returns_a_typed_result(tmp_path):
    lines = tmp_path / "archs.txt"
    lines.write_text(f"# two archs, one bad line\n{ARCHS[1]}\nnot-an-arch\n")
    notes: list[str] = []
    r = gradsign.score_archs("nb201", "cifar10", "params,synflow", archs=[ARCHS[0]], archs_file=lines,
                             skip_invalid=True, note=notes.append)
    assert isinstance(r, ScoreResult)
    assert list(r.frame.columns) == ["index", "arch", "params", "synflow"]
    assert list(r.frame["arch"]) == ARCHS and r.proxies == ("params", "synflow")
    assert r.skipped and r.skipped[0][0] == 3 and any("archs.txt:3" in n for n in notes)
    assert r.frame.loc[0, "params"] > r.frame.loc[1, "params"]  # convolutions vs an all-none cell
    doc = json.loads(r.to_json())
    assert doc["scores"][0]["arch"] == ARCHS[0] and doc["skipped_lines"][0]["line"] == 3
    assert "provenance" in doc and doc["provenance"]["threads"] == 1
    assert r.to_csv().splitlines()[0] == "index,arch,params,synflow"
    assert r.failed == {}


def test_score_archs_checks_before_scoring():
    with pytest.raises(ConfigError, match="no architecture given"):
        gradsign.score_archs("nb201", proxies="params")
    with pytest.raises(ConfigError, match="--skip-invalid applies to --archs-file"):
        gradsign.score_archs("nb201", proxies="params", archs=[ARCHS[0]], skip_invalid=True)
    with pytest.raises(ConfigError, match="nosuchproxy"):
        gradsign.score_archs("nb201", proxies="nosuchproxy", archs=[ARCHS[0]])


def test_a_cell_named_twice_is_scored_once_and_ranked_once():
    notes: list[str] = []
    once = gradsign.score_archs("nb201", proxies="params,synflow,params+synflow", archs=[ARCHS[0], ARCHS[1]])
    twice = gradsign.score_archs("nb201", proxies="params,synflow,params+synflow",
                                 archs=[ARCHS[0], ARCHS[1], ARCHS[0]], note=notes.append)
    assert len(twice.frame) == 2 and twice.frame.equals(once.frame)  # the ensemble's ranks too
    assert notes == [f"note: 1 duplicate arch(s) dropped, each scored once (e.g. {ARCHS[0]})"]


def test_json_output_keeps_every_bit_of_a_score():
    import pandas as pd

    values = [1.2345678901234567e-05, 16421.078165036815, 1.2345678901234567e20, float("nan"), float("inf")]
    result = ScoreResult(space="nb201", dataset="cifar10", batch_size=8, seed=0, data="test",
                         frame=pd.DataFrame({"arch": list("abcde"), "p": values}), proxies=("p",))
    records = json.loads(result.to_json())["scores"]
    got = [r["p"] for r in records]
    assert got[:3] == values[:3] and got[3:] == [None, None]  # DataFrame.to_json kept 15 decimal places only
    # null alone would not say whether the score was NaN or infinite: "nonfinite" does, on those records only
    assert [r.get("nonfinite") for r in records] == [None, None, None, {"p": "nan"}, {"p": "inf"}]


def test_json_output_says_which_null_was_nan_and_which_was_minus_inf():
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame({"index": [7, 8], "arch": ["a", "b"], "zen": [-np.inf, 2.0], "epe_nas": [np.nan, 1.5]})
    result = ScoreResult(space="nb201", dataset="cifar10", batch_size=8, seed=0, data="test", frame=frame,
                         proxies=("zen", "epe_nas"))
    first, second = json.loads(result.to_json())["scores"]
    assert first == {"index": 7, "arch": "a", "zen": None, "epe_nas": None,
                     "nonfinite": {"zen": "-inf", "epe_nas": "nan"}}
    assert second == {"index": 8, "arch": "b", "zen": 2.0, "epe_nas": 1.5}


def test_a_single_string_is_one_arch_and_one_option_not_characters():
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    one = gradsign.score_archs("nb201", "cifar10", "params", archs=arch, store=None, progress=False)
    assert list(one.frame["arch"]) == [arch]
    by_index = gradsign.score_archs("nb201", "cifar10", "params", indices=3, store=None, progress=False)
    assert len(by_index.frame) == 1
    with pytest.raises(ConfigError, match="fisher has no option 'nope'"):  # was "--option 'f': write PROXY.KEY=..."
        gradsign.score_archs("nb201", "cifar10", "fisher", indices=3, options="fisher.nope=1", store=None)


def test_score_says_how_many_scores_it_computed_and_how_many_the_store_served(tmp_path, capsys):
    from gradsign.cli.main import main

    store = tmp_path / "s.sqlite"
    first = gradsign.score_archs("nb201", proxies="params,synflow", archs=ARCHS[:2], store=store)
    assert (first.n_computed, first.used_store) == (4, True)
    again = gradsign.score_archs("nb201", proxies="params,synflow,l2_norm", archs=ARCHS[:2], store=store)
    assert again.n_computed == 2  # l2_norm only
    assert gradsign.score_archs("nb201", proxies="params", archs=ARCHS[:1]).used_store is False
    with pytest.raises(SystemExit) as exit_:
        main(["score", "--arch", ARCHS[0], "--proxies", "params", "--store", str(store), "--format", "csv",
              "--no-progress"])
    assert (exit_.value.code or 0) == 0
    out, err = capsys.readouterr()
    assert "computed this run: 0 (arch, proxy) scores; the rest came from the store" in err
    assert "computed this run" not in out  # stdout is the CSV alone
