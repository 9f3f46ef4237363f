"""Issue #23: nothing lost, nothing silently wrong.

Outputs are checked before any work and never the reason finished work is lost;
interruption messages are true in every mode; thread count and device are part
of what a stored score depends on; --threads / --device exist on every computing
command; bad input gets one line. Read-only paths are simulated with a regular
file as the parent folder (root ignores permission bits).
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import gradsign
from gradsign.cli.main import main
from gradsign.errors import ConfigError
from gradsign.outputs import (OutputError, check_output_dir, check_output_file, dumps_json, write_text_safely,
                              write_with_fallback)

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
COMPUTING = [["score"], ["evaluate"], ["search"], ["rank"], ["predictors", "evaluate"]]


def run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code or 0, out.out, out.err


@pytest.fixture
def blocker(tmp_path):
    """A regular file: any path under it cannot be created, whoever runs the test."""
    f = tmp_path / "afile"
    f.write_text("not a folder\n")
    return f


# --------------------------------------------------------------------------- 1. outputs checked first


def test_output_checks_refuse_paths_under_a_file(blocker, tmp_path):
    with pytest.raises(OutputError, match="afile is a file"):
        check_output_dir(blocker / "ev")
    with pytest.raises(OutputError, match="afile is a file"):
        check_output_file(blocker / "x.csv")
    with pytest.raises(OutputError, match="not a directory"):
        check_output_dir(blocker)
    with pytest.raises(OutputError, match="is a directory"):
        check_output_file(tmp_path)
    assert check_output_dir(tmp_path / "new" / "dir").is_dir()  # created, probe removed
    assert list((tmp_path / "new" / "dir").iterdir()) == []
    assert not (tmp_path / "sub").exists() and check_output_file(tmp_path / "sub" / "f.txt")


def test_an_output_folder_made_only_by_the_check_goes_when_nothing_was_written(tmp_path):
    import subprocess
    import sys

    # a run stopped (Ctrl-C, an error) after the check and before writing: no empty folder left behind,
    # neither the folder asked for nor the parents the check made for it
    code = ("import sys; from gradsign.outputs import check_output_dir; check_output_dir(sys.argv[1]); "
            "assert check_output_dir(sys.argv[1]).is_dir(); raise KeyboardInterrupt")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "runs" / "ev")], capture_output=True, text=True)
    assert "KeyboardInterrupt" in done.stderr and not (tmp_path / "runs").exists()
    # written into: kept, with its parents
    code = ("import sys, pathlib; from gradsign.outputs import check_output_dir; "
            "(check_output_dir(sys.argv[1]) / 'summary.json').write_text('{}')")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "kept" / "ev")], check=True)
    assert (tmp_path / "kept" / "ev" / "summary.json").is_file()
    # a folder that existed before is never removed, even if empty; only the levels the check made go
    (tmp_path / "old").mkdir()
    code = "import sys; from gradsign.outputs import check_output_dir; check_output_dir(sys.argv[1]); check_output_dir(sys.argv[2])"
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "old"), str(tmp_path / "old" / "new" / "ev")], check=True)
    assert (tmp_path / "old").is_dir() and not (tmp_path / "old" / "new").exists()


@pytest.mark.parametrize("argv", [
    ["score", "--arch", ARCH, "--proxies", "params", "--no-store", "--output", "{b}/x.csv"],
    ["evaluate", "--sample", "20", "--proxies", "snip", "--no-store", "--output", "{b}/ev"],
    ["search", "--runs", "2", "--output", "{b}/search"],
    ["rank", "/nonexistent.py:f", "--output", "{b}/rank.txt"],
    ["predictors", "evaluate", "--zc-source", "none", "--output", "{b}/pred"],
    ["store", "export", "--store", "{s}", "--output", "{b}/x.csv"],
])
def test_unwritable_output_fails_in_one_line_before_any_work(argv, blocker, tmp_path, capsys, monkeypatch):
    from gradsign.storage import ResultsStore

    store = tmp_path / "s.sqlite"
    ResultsStore(store).close()

    def no_work(*a, **k):  # pragma: no cover - reaching it is the failure
        raise AssertionError("work started before the output was checked")

    import gradsign.workflows.evaluate  # noqa: F401  (patched below where it is used, not where defined)

    monkeypatch.setattr("gradsign.workflows.scoring.Scorer.score_archs", no_work)
    monkeypatch.setattr("gradsign.workflows.evaluate.ground_truth", no_work)
    code, _, err = run([a.format(b=blocker, s=store) for a in argv], capsys)
    assert code == 2, err
    assert "afile" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_failed_final_write_goes_to_a_named_fallback(blocker, tmp_path):
    where, problem = write_text_safely(blocker / "out.txt", "payload\n")
    assert problem is not None and "afile" in problem
    assert where.read_text() == "payload\n" and where.name.endswith("out.txt")

    def write(directory):
        directory.mkdir(parents=True, exist_ok=True)
        p = directory / "summary.json"
        p.write_text("{}")
        return [p]

    files, problem = write_with_fallback(write, blocker / "ev")
    assert problem is not None and files[0].read_text() == "{}" and "afile" not in str(files[0])
    files, problem = write_with_fallback(write, tmp_path / "ok")
    assert problem is None and files == [tmp_path / "ok" / "summary.json"]


def test_score_keeps_its_result_when_the_output_vanishes(tmp_path, capsys, monkeypatch):
    """The output was fine when checked, then could not be written: the table goes to a named file."""
    import gradsign.outputs as outputs

    real = outputs.write_text_safely
    target = tmp_path / "gone" / "x.csv"

    def break_parent(path, text, what="--output"):
        (tmp_path / "gone").rmdir() if (tmp_path / "gone").exists() else None
        (tmp_path / "gone").write_text("now a file")
        return real(path, text, what)

    monkeypatch.setattr(outputs, "write_text_safely", break_parent)
    code, _, err = run(["score", "--arch", ARCH, "--proxies", "params", "--no-store", "--format", "csv",
                        "--output", str(target)], capsys)
    assert code == 3  # computed and kept, but not where asked: a script must notice
    line = next(l for l in err.splitlines() if "instead" in l)
    fallback = line.rsplit(" to ", 1)[1].split(" instead")[0]
    assert "params" in open(fallback).read()


# --------------------------------------------------------------------------- 2. interruption messages


@pytest.fixture(autouse=True)
def _sigint_raises_keyboardinterrupt():
    """Python's own SIGINT handler for every test here: a process started in the background by a
    non-interactive shell inherits SIGINT ignored, and these tests are about what Ctrl-C does."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _interrupt(*a, **k):
    """What Ctrl-C does: SIGINT to this process (the CLI's handler says what is kept)."""
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(5)  # the handler raises KeyboardInterrupt before this ends
    raise AssertionError("SIGINT was not delivered")


def test_interrupt_without_store_says_nothing_is_kept(capsys, monkeypatch):
    monkeypatch.setattr("gradsign.workflows.scoring.Scorer.score_archs", _interrupt)
    code, _, err = run(["score", "--arch", ARCH, "--proxies", "params", "--no-store"], capsys)
    assert code == 130
    assert "nothing is kept (--no-store)" in err and "kept in the store" not in err


def test_interrupt_with_store_names_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("gradsign.workflows.scoring.Scorer.score_archs", _interrupt)
    store = tmp_path / "s.sqlite"
    code, _, err = run(["score", "--arch", ARCH, "--proxies", "params", "--store", str(store)], capsys)
    assert code == 130 and f"kept in the store {store}" in " ".join(err.split())


def test_interrupted_search_does_not_claim_saved_runs(capsys, monkeypatch):
    monkeypatch.setattr("gradsign.workflows.search.search", _interrupt)
    code, _, err = run(["search", "--runs", "1"], capsys)
    assert code == 130 and "searches are not saved" in err and "kept in the store" not in err


def _tiny(num_classes=10):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, num_classes))


def test_rank_models_interrupted_returns_the_finished_models():
    from gradsign.workflows.rank import RankInterrupted, rank_models

    x, y = torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 3])
    with pytest.raises(RankInterrupted) as stop:
        rank_models({"a": _tiny, "b": _tiny, "c": _interrupt}, x, y, ["snip"])
    assert stop.value.done == 2 and stop.value.total == 3
    assert list(stop.value.partial.frame["model"]) == ["a", "b"]
    assert np.isfinite(stop.value.partial.frame["snip"]).all()


@pytest.mark.data
def test_rank_cli_writes_finished_models_on_interrupt(data_dir, tmp_path, capsys):
    models = tmp_path / "models.py"
    models.write_text(
        "import torch\nfrom torch import nn\n"
        "def small(num_classes=10):\n"
        "    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),"
        " nn.Linear(4, num_classes))\n"
        "def stop(num_classes=10):\n    import os, signal, time\n    os.kill(os.getpid(), signal.SIGINT)\n"
        "    time.sleep(5)\n")
    out = tmp_path / "rank.csv"
    code, _, err = run(["rank", f"{models}:small", f"{models}:stop", "--proxies", "snip", "--batch-size", "8",
                        "--split", "test", "--format", "csv", "--output", str(out), "--data-dir", str(data_dir)],
                       capsys)
    assert code == 130
    assert f"interrupted: the models finished so far are written to {out}" in " ".join(err.split())
    assert f"wrote 1 of 2 finished models to {out}" in err
    text = out.read_text()
    assert text.startswith("# PARTIAL: interrupted after 1 of 2 models") and "small" in text


# --------------------------------------------------------------------------- 4, 6, 8: threads, device, keys


@pytest.mark.parametrize("cmd", COMPUTING)
def test_every_computing_command_has_threads_and_device(cmd, capsys):
    code, out, _ = run([*cmd, "--help"], capsys)
    assert code == 0 and "--threads" in out and "--device" in out


def test_store_key_records_threads_and_device():
    from gradsign.workflows.scoring import Scorer, ScoringSetup

    one = Scorer(ScoringSetup(proxies=("params",)))
    two = Scorer(ScoringSetup(proxies=("params",), threads=2))
    assert one.keys["params"].init == "pytorch-default"  # the key every committed score was stored under
    assert two.keys["params"].init == "pytorch-default@cpu-threads2"
    from gradsign.runtime import numerics_tag

    assert numerics_tag("cuda:1", 4) == "cuda" and numerics_tag("cpu", 1) == ""


def test_scoring_runs_with_the_setup_threads_and_restores_them(monkeypatch):
    from gradsign.workflows.scoring import Scorer, ScoringSetup

    seen = []
    scorer = Scorer(ScoringSetup(proxies=("params",), threads=2))
    real = scorer.build_network

    def spy(arch):
        seen.append(torch.get_num_threads())
        return real(arch)

    monkeypatch.setattr(scorer, "build_network", spy)
    before = torch.get_num_threads()
    scorer.score_one(scorer.space.parse(ARCH), ["params"])
    assert seen == [2] and torch.get_num_threads() == before


@pytest.mark.parametrize("threads", [0, -1, True, 2.5])
def test_bad_thread_counts_are_refused(threads):
    from gradsign.workflows.scoring import ScoringSetup

    with pytest.raises(ConfigError, match="--threads"):
        ScoringSetup(proxies=("params",), threads=threads)


def test_bad_devices_are_refused_in_one_line(capsys):
    code, _, err = run(["score", "--arch", ARCH, "--proxies", "params", "--no-store", "--device", "gpu0"], capsys)
    assert code == 2 and "--device 'gpu0'" in err
    if not torch.cuda.is_available():
        code, _, err = run(["evaluate", "--proxies", "params", "--no-store", "--device", "cuda"], capsys)
        assert code == 2 and "CUDA is not available" in err


def test_torch_predictors_take_a_device():
    from gradsign.predictors import make_predictor
    from gradsign.workflows.predictors import _compute_kwargs
    from gradsign.predictors import predictor_classes

    classes = predictor_classes()
    assert _compute_kwargs(classes["bananas"], 1, "cpu") == {"threads": 1, "device": "cpu"}
    assert "device" not in _compute_kwargs(classes["forest"], 1, "cuda")
    with pytest.raises(ConfigError, match="--device"):
        from gradsign.workflows.predictors import run_predictor_evaluation

        run_predictor_evaluation("nb201", "cifar10", device="tpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_scoring_on_cuda_matches_the_cpu_closely():
    from gradsign.workflows.scoring import Scorer, ScoringSetup

    arch = Scorer(ScoringSetup(proxies=("synflow",))).space.parse(ARCH)
    cpu = Scorer(ScoringSetup(proxies=("synflow",))).score_one(arch, ["synflow"])[0]["synflow"]
    gpu_scorer = Scorer(ScoringSetup(proxies=("synflow",), device="cuda"))
    assert gpu_scorer.keys["synflow"].init == "pytorch-default@cuda"
    gpu = gpu_scorer.score_one(arch, ["synflow"])[0]["synflow"]
    assert math.isclose(cpu, gpu, rel_tol=1e-6)


# --------------------------------------------------------------------------- 10. archs files


def test_archs_file_names_the_line_and_skip_invalid_scores_the_rest(tmp_path, capsys):
    f = tmp_path / "archs.txt"
    f.write_text(f"# cells\n{ARCH}\n|bogus~0|\n\n{ARCH.replace('avg_pool_3x3', 'skip_connect')}\n")
    code, _, err = run(["score", "--archs-file", str(f), "--proxies", "params", "--no-store"], capsys)
    assert code == 2 and f"{f}:3:" in err and "--skip-invalid" in err
    code, out, err = run(["score", "--archs-file", str(f), "--proxies", "params", "--no-store", "--skip-invalid",
                          "--format", "csv"], capsys)
    assert code == 0 and len(out.strip().splitlines()) == 3  # header + 2 cells
    assert f"skipped {f}:3:" in err and "1 line(s)" in err
    code, out, _ = run(["score", "--archs-file", str(f), "--proxies", "params", "--no-store", "--skip-invalid",
                        "--format", "json"], capsys)
    assert code == 0 and [d["line"] for d in json.loads(out)["skipped_lines"]] == [3]


# --------------------------------------------------------------------------- 12. outputs, dtypes, messages


class _DictModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = _tiny()

    def forward(self, x):
        return {"features": x.mean(), "logits": self.body(x)}


def test_logits_selection_scores_models_returning_dicts_and_tuples():
    x, y = torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 3])
    plain = gradsign.score(_tiny(), x, y, ["snip", "gradsign"], seed=0)
    assert gradsign.score(_DictModel(), x, y, ["snip", "gradsign"], seed=0, logits="logits") == plain
    with pytest.raises(gradsign.proxies.api.ProxyError, match="logits="):
        gradsign.score(_DictModel(), x, y, ["snip"])  # the message says how to choose
    with pytest.raises(ConfigError, match="keys \\['features', 'logits'\\]"):
        gradsign.score(_DictModel(), x, y, ["snip"], logits="nope")


def test_float64_inputs_are_cast_and_integer_inputs_refused():
    x, y = torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 3])
    assert gradsign.score(_tiny(), x.double(), y, ["snip"]) == gradsign.score(_tiny(), x, y, ["snip"])
    with pytest.raises(ConfigError, match="convert the images to floating point"):
        gradsign.score(_tiny(), (x * 100).to(torch.uint8), y, ["snip"])


def test_naswot_says_what_it_needs_on_a_gelu_model():
    m = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.GELU(), nn.Linear(8, 3))
    with pytest.raises(gradsign.proxies.api.ProxyError, match="GELU x1") as exc:
        gradsign.score(m, torch.randn(4, 3, 2, 2), torch.tensor([0, 1, 2, 0]), ["naswot"])
    assert "F.relu" not in str(exc.value)


def test_small_feature_maps_get_an_image_size_hint():
    layers, c = [], 3
    for _ in range(6):
        layers += [nn.Conv2d(c, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU()]
        c = 4
    m = nn.Sequential(*layers, nn.Flatten(), nn.Linear(4, 10))
    with pytest.raises(ConfigError, match="--image-size"):
        gradsign.score(m, torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3]), ["gradsign"])


# --------------------------------------------------------------------------- 14, 15. JSON and bootstrap


def test_json_is_strict():
    text = dumps_json({"a": float("nan"), "b": [np.float64("inf"), 1], "c": np.int64(3)})
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c}")) == {"a": None, "b": [None, 1], "c": 3}


@pytest.mark.parametrize("n", [0, 5, -1, 2.5])
def test_bootstrap_is_validated_in_the_api_before_any_work(n, monkeypatch):
    from gradsign.workflows.evaluate import run_evaluate
    from gradsign.workflows.scoring import ScoringSetup

    monkeypatch.setattr("gradsign.workflows.evaluate.ground_truth",
                        lambda *a, **k: pytest.fail("work started before validation"))
    with pytest.raises(ConfigError, match="--bootstrap"):
        run_evaluate(ScoringSetup(proxies=("params",)), sample=10, n_bootstrap=n)


def test_bootstrap_zero_on_the_cli_is_one_line(capsys):
    code, _, err = run(["evaluate", "--proxies", "params", "--no-store", "--bootstrap", "0"], capsys)
    assert code == 2 and "--bootstrap" in err and "Traceback" not in err


@pytest.mark.data
def test_tiny_evaluate_writes_valid_json(data_dir, tmp_path, capsys):
    out = tmp_path / "ev"
    code, _, err = run(["evaluate", "--sample", "2", "--proxies", "params", "--no-store", "--bootstrap", "20",
                        "--output", str(out), "--data-dir", str(data_dir), "--no-progress"], capsys)
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text(), parse_constant=lambda c: pytest.fail(f"bare {c}"))
    assert summary["proxies"]["params"]["spearman_ci"] == [None, None]


# --------------------------------------------------------------------------- 19. warnings


def test_cli_warnings_are_one_line_and_shown_once(capsys):
    from gradsign.cli import main as cli_main

    cli_main._SHOWN_WARNINGS.clear()
    cli_main._one_line_warning(UserWarning("first line\n   second"), UserWarning, "/x.py", 3)
    cli_main._one_line_warning(UserWarning("first line\n   second"), UserWarning, "/x.py", 3)
    cli_main._one_line_warning("empty slice", RuntimeWarning, "/x.py", 3)
    err = capsys.readouterr().err
    assert err.splitlines() == ["warning: first line second", "warning (RuntimeWarning): empty slice"]


def test_statistics_of_nothing_are_nan_without_warnings():
    from gradsign.evaluation.metrics import bootstrap_ci, nan_mean_std

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert all(math.isnan(v) for v in nan_mean_std(np.array([np.nan, np.nan])))
        from gradsign.evaluation import spearman

        lo, hi = bootstrap_ci(spearman, [1, 1, 1, 1, 1, 2], [1, 2, 3, 4, 5, 6], n_resamples=50)
        assert isinstance(lo, float)


# --------------------------------------------------------------------------- 20. samples


def test_draws_are_nested_and_the_runs_of_record_unchanged():
    from gradsign.workflows.evaluate import nested_choice

    for population in (292, 725, 15625):
        draws = {n: set(nested_choice(population, n, 0).tolist()) for n in (5, 30, 100, 250, 292)}
        sizes = sorted(draws)
        assert all(draws[a] <= draws[b] for a, b in zip(sizes, sizes[1:]))
    for n in (500, 1000):  # the committed 500- and 1,000-cell NB201 runs drew exactly these
        assert (nested_choice(15625, n, 0) == np.random.default_rng(0).choice(15625, size=n, replace=False)).all()


def test_oversized_sample_is_said(capsys):
    from gradsign.spaces import get_space
    from gradsign.workflows.evaluate import draw_archs

    said = []
    archs = draw_archs(get_space("nb201"), 20000, 0, note=said.append)
    assert len(archs) == 15625 and "20000" in said[0] and "15,625" in said[0]


def test_grasp_sampling_refuses_a_batch_it_would_resize(capsys):
    code, _, err = run(["score", "--arch", ARCH, "--proxies", "params", "--no-store", "--sampling", "grasp",
                        "--batch-size", "8"], capsys)
    assert code == 2 and "multiple of 10" in err and "got 8" in err


# --------------------------------------------------------------------------- 5. predictors' auto source


@pytest.mark.data
def test_auto_source_ignores_a_store_that_cannot_serve(data_dir, tmp_path, capsys):
    from gradsign.workflows.predictors import build_problem

    store = tmp_path / "s.sqlite"
    code, _, err = run(["score", "--index", "0", "--index", "1", "--index", "2", "--proxies", "params",
                        "--store", str(store), "--data-dir", str(data_dir)], capsys)
    assert code == 0, err
    p = build_problem("nb201", "cifar10", zc_source="auto", store=store, data_dir=data_dir)
    assert "NASLib" in p.features.zc.source and len(p.features.zc.archs) == 725
    assert any("the store has only 3 cells" in n for n in p.notes)


def test_no_fallback_warning_when_the_model_itself_raises():
    from gradsign.proxies.engine import GradSignFallbackWarning

    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 3)

        def forward(self, x):
            raise RuntimeError("boom in forward")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(gradsign.proxies.api.ProxyError, match="boom in forward"):
            gradsign.score(Broken(), torch.randn(4, 4), torch.tensor([0, 1, 2, 0]), ["gradsign"])
    assert not [w for w in caught if issubclass(w.category, GradSignFallbackWarning)]


def test_search_table_intervals_stay_within_accuracy_range():
    from gradsign.search.report import summarize

    s = summarize([89.4, 93.6])  # two runs: the t interval is about +-26 points wide
    assert 0.0 <= s["ci_low"] and s["ci_high"] == 100.0 and s["ci_clipped"]
    raw = summarize([89.4, 93.6], bounds=None)
    assert raw["ci_high"] > 100.0
    many = summarize(np.linspace(90, 94, 500))
    assert not many["ci_clipped"]


def test_score_output_onto_the_store_is_refused_before_any_work(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    code, _, err = run(["score", "--index", "3", "--proxies", "params", "--store", str(store), "--no-progress"], capsys)
    assert code == 0, err
    before = store.read_bytes()
    code, _, err = run(["score", "--index", "3", "--proxies", "params", "--store", str(store), "--output", str(store),
                        "--format", "csv", "--no-progress"], capsys)
    assert code == 2 and "is the results store" in err and "Traceback" not in err
    assert store.read_bytes() == before
    code, _, err = run(["store", "export", "--store", str(store), "--output", str(store)], capsys)
    assert code == 2 and "would overwrite the store's own data" in err and store.read_bytes() == before


def test_score_output_onto_its_archs_file_is_refused(tmp_path, capsys):
    archs = tmp_path / "archs.txt"
    archs.write_text("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|\n")
    before = archs.read_text()
    code, _, err = run(["score", "--archs-file", str(archs), "--proxies", "params", "--no-store", "--format", "csv",
                        "--output", str(archs), "--no-progress"], capsys)
    assert code == 2 and "is the --archs-file input" in err and archs.read_text() == before
