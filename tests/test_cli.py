"""The command line: help, data listing, clean one-line errors, score output formats."""

from __future__ import annotations

import json

import pytest

from gradsign.cli.main import main

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code or 0, out.out, out.err


def test_help_lists_commands(capsys):
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    for cmd in ("data", "proxies", "score", "evaluate", "search"):
        assert cmd in out


def test_data_lists_expected_files_even_without_data(tmp_path, capsys, monkeypatch):
    code, out, _ = run(["data", "--data-dir", str(tmp_path)], capsys)
    assert code == 0
    assert "cifar-10-batches-py" in out and "missing" in out and "0 of" in out


def test_an_error_message_prints_the_user_s_text_as_typed(tmp_path, capsys):
    # "nofile.py:x:" would otherwise show rich's ":x:" emoji.
    code, _, err = run(["rank", f"{tmp_path}/nofile.py:x"], capsys)
    assert code == 2 and f"{tmp_path}/nofile.py:x" in err and all(ord(c) < 128 for c in err), err


def test_missing_data_dir_is_one_line_error(tmp_path, capsys):
    code, _, err = run(["data", "--data-dir", str(tmp_path / "nope")], capsys)
    assert code == 2 and "does not exist" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["score", "--arch", "|bogus~0|", "--proxies", "params", "--no-store"], "bogus"),
        (["score", "--index", "99999", "--proxies", "params", "--no-store"], "99999"),
        (["score", "--arch", ARCH, "--proxies", "nope", "--no-store"], "unknown proxy"),
        (["score", "--arch", ARCH, "--proxies", "params", "--dataset", "mnist", "--no-store"], "mnist"),
        (["score", "--arch", ARCH, "--proxies", "params", "--space", "nb999", "--no-store"], "unknown search space"),
        (["score", "--proxies", "params", "--no-store"], "no architecture given"),
        (["evaluate", "--sample", "zero", "--proxies", "params", "--no-store"], "--sample"),
    ],
)
def test_bad_input_gives_one_line_error_and_exit_2(argv, needle, capsys):
    code, _, err = run(argv, capsys)
    assert code == 2
    assert needle in err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2


def test_score_json_and_csv(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    code, out, _ = run(["score", "--arch", ARCH, "--index", "0", "--proxies", "params,l2_norm",
                        "--format", "json", "--store", str(store), "--no-progress"], capsys)
    assert code == 0
    doc = json.loads(out)
    assert [r["index"] for r in doc["scores"]] == [1, 0]
    assert doc["scores"][0]["params"] == 802426  # NB201 index 1: 0.802426 M parameters (benchmark table)
    csv_out = tmp_path / "s.csv"
    code, _, _ = run(["score", "--arch", ARCH, "--proxies", "params,l2_norm", "--format", "csv",
                      "--output", str(csv_out), "--store", str(store)], capsys)
    assert code == 0
    header, row = csv_out.read_text().splitlines()
    assert header == "index,arch,params,l2_norm" and row.startswith("1,")
    # Every bit of the score: the CSV's l2_norm reads back as the JSON's float (no %.10g rounding).
    assert float(row.split(",")[-1]) == doc["scores"][0]["l2_norm"]
    # Without --format, the --output file's extension chooses (a .csv file got the plain-text table).
    for name, check in (("t.csv", lambda t: t.splitlines()[0] == "index,arch,params,l2_norm"),
                        ("t.JSON", lambda t: json.loads(t)["scores"][0]["index"] == 1),
                        ("t.txt", lambda t: "," not in t.splitlines()[0] and "params" in t)):
        code, _, _ = run(["score", "--arch", ARCH, "--proxies", "params,l2_norm", "--output", str(tmp_path / name),
                          "--store", str(store)], capsys)
        assert code == 0 and check((tmp_path / name).read_text()), name
    code, _, err = run(["score", "--arch", ARCH, "--proxies", "params", "--format", "csv", "--output",
                        str(tmp_path / "t2.json"), "--store", str(store)], capsys)
    assert code != 0 and "--format csv but --output" in err and not (tmp_path / "t2.json").exists()
    code, _, err = run(["score", "--arch", ARCH, "--proxies", "params", "--output", str(tmp_path / "t.xlsx"),
                        "--store", str(store)], capsys)
    assert code != 0 and "name it .csv, .json or .txt" in err and not (tmp_path / "t.xlsx").exists()
    code, _, err = run(["score", "--arch", ARCH, "--proxies", "params", "--output", str(tmp_path / "t.csv.gz"),
                        "--store", str(store)], capsys)
    assert code != 0 and "writes plain text; name the file without .gz" in err and not (tmp_path / "t.csv.gz").exists()


def test_proxies_listing(capsys):
    code, out, _ = run(["proxies"], capsys)
    assert code == 0
    for name in ("synflow", "snip", "grasp", "fisher", "grad_norm", "jacob_cov", "params", "flops"):
        assert name in out


def test_error_messages_keep_square_brackets(capsys, tmp_path):
    code, _, err = run(["score", "--arch", "|nor_conv_3x3~0|[x]", "--proxies", "params", "--no-store"], capsys)
    assert code == 2 and "[x]" in err


@pytest.mark.slow
def test_sigterm_stops_a_run_cleanly_and_resume_recomputes_nothing_finished(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from gradsign.storage import ResultsStore

    store = tmp_path / "s.sqlite"
    cmd = [sys.executable, "-m", "gradsign.cli.main", "score", "--sample", "400", "--proxies", "params,l2_norm",
           "--store", str(store), "--no-progress", "--format", "csv", "--output", str(tmp_path / "o.csv")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if store.exists():
            try:
                if ResultsStore(store).count() >= 10:
                    break
            except Exception:
                pass
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    done = ResultsStore(store).count()
    assert 10 <= done < 800
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert ResultsStore(store).count() == 800  # 400 cells x 2 proxies, the finished ones not recomputed


def test_store_import_takes_several_files_and_the_first_listed_wins(tmp_path, capsys):
    from gradsign.storage import ResultsStore, ScoreKey

    key = ScoreKey(space="nb201", dataset="cifar10", proxy="snip", proxy_version="1", options="{}",
                   batch_size=64, seed=0, sampling="random", init="default")
    files = []
    for name, rows in (("a", [("x", 1.0, 0.5)]), ("b", [("x", 9.0, 2.0), ("y", 2.0, 2.0)])):
        src = ResultsStore(tmp_path / f"{name}.sqlite")
        src.put_many(key, rows)
        files.append(tmp_path / f"{name}.csv.gz")
        src.export_csv(files[-1])
    target = tmp_path / "t.sqlite"
    code, _, err = run(["store", "import", str(files[0]), str(files[1]), "--store", str(target)], capsys)
    assert code == 0 and "added 1 rows" in err
    got = ResultsStore(target).get_many(key, ["x", "y"])
    assert got["x"].value == 1.0 and got["x"].seconds == 0.5 and got["y"].value == 2.0

    # A missing file is named before anything is imported.
    other = tmp_path / "other.sqlite"
    code, _, err = run(["store", "import", str(files[0]), str(tmp_path / "nope.csv"), "--store", str(other)], capsys)
    assert code != 0 and "nope.csv" in err and err.count("\n") == 1
    assert ResultsStore(other).count() == 0


def test_store_import_reports_replaced_failures_and_disagreements_and_leaves_no_empty_store(tmp_path, capsys):
    from gradsign.storage import ResultsStore, ScoreKey

    key = ScoreKey(space="nb201", dataset="cifar10", proxy="snip", proxy_version="1", options="{}",
                   batch_size=64, seed=0, sampling="random", init="default")
    src = ResultsStore(tmp_path / "src.sqlite")
    src.put_many(key, [("x", 1.0, 0.5), ("y", 2.0, 0.5)])
    src.export_csv(tmp_path / "x.csv")
    target = ResultsStore(tmp_path / "t.sqlite")
    target.put_many(key, [("x", 1.5, 0.5)])
    target.put_error(key, "y", "RuntimeError: out of memory")
    target.close()
    code, _, err = run(["store", "import", str(tmp_path / "x.csv"), "--store", str(tmp_path / "t.sqlite")], capsys)
    assert code == 0
    assert "added 0 rows" in err and "1 stored failures replaced" in err and "1 already stored, kept (1 of them" in err
    assert "warning" in err and "gives 1 stored scores another value" in err
    # A file that is not an export: one line, and no new empty store left behind.
    (tmp_path / "notes.csv").write_text("a,b\n1,2\n")
    code, _, err = run(["store", "import", str(tmp_path / "notes.csv"), "--store", str(tmp_path / "new.sqlite")],
                       capsys)
    assert code != 0 and "not a gradsign score export" in err and err.count("\n") == 1
    assert not list(tmp_path.glob("new.sqlite*"))

def test_store_export_matching_nothing_names_the_filter_and_what_is_stored(tmp_path, capsys):
    from gradsign.storage import ResultsStore, ScoreKey

    store = tmp_path / "s.sqlite"
    with ResultsStore(store) as s:
        for proxy in ("snip", "synflow"):
            s.put_many(ScoreKey(space="nb201", dataset="cifar10", proxy=proxy, proxy_version="1", options="{}",
                                batch_size=64, seed=0, sampling="random", init="default"), [("x", 1.0, 0.5)])
    out = tmp_path / "x.csv"
    code, _, err = run(["store", "export", "--store", str(store), "--proxy", "snp", "--dataset", "cifar10",
                        "--output", str(out)], capsys)
    assert code == 0 and "wrote 0 rows" in err  # an empty export is still a valid file
    assert "no stored row has proxy 'snp'; stored: snip, synflow" in err
    assert "has dataset" not in err  # the filter that matched says nothing
    assert out.read_text().count("\n") == 1  # the header only
    code, _, err = run(["store", "export", "--store", str(store), "--proxy", "snip", "--dataset", "cifar100",
                        "--output", str(out)], capsys)
    assert "no stored row has dataset 'cifar100'; stored: cifar10" in err and "has proxy" not in err
    with ResultsStore(store) as s:  # snip on cifar100 exists, but not synflow
        s.put_many(ScoreKey(space="nb201", dataset="cifar100", proxy="snip", proxy_version="1", options="{}",
                            batch_size=64, seed=0, sampling="random", init="default"), [("x", 1.0, 0.5)])
    code, _, err = run(["store", "export", "--store", str(store), "--proxy", "synflow", "--dataset", "cifar100",
                        "--output", str(out)], capsys)
    assert code == 0 and "no row has dataset 'cifar100', proxy 'synflow' together" in err
    code, _, err = run(["store", "export", "--store", str(store), "--proxy", "snip", "--output", str(out)], capsys)
    assert code == 0 and "wrote 2 rows" in err and "no stored row" not in err and "together" not in err
    # Aliases, as everywhere else: c10 is cifar10, NB201 is nb201.
    code, _, err = run(["store", "export", "--store", str(store), "--space", "NB201", "--dataset", "c10",
                        "--output", str(out)], capsys)
    assert code == 0 and "wrote 2 rows" in err  # snip and synflow on cifar10
