"""Every command and option that the CLI's help, the docs or the messages name exists.

The click command tree behind the Typer app is the truth. From it come every command's
help text (command and options); from README.md and docs/**/*.md come the code spans and
code blocks; from the package source, backticked `gradsign ...` in messages. In them:

* an invocation ``gradsign <cmd> [<sub>] ... --opt`` must name an existing command, and
  each ``--opt`` after it must be an option of that command;
* ``python scripts/<script>.py ... --opt``: the script exists and declares ``--opt``;
* a bare ``--opt`` in a command's help must be one of that command's options (or appear
  inside a ``gradsign <other>`` invocation there); a bare backticked ``--opt`` in docs
  prose must be an option of some gradsign command or benchmark script, unless listed in
  ``FOREIGN_OPTIONS`` (options of other projects' tools, named as such in the text).

A failure lists every mismatch as ``where: what``.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer

from gradsign.cli.main import app

ROOT = Path(__file__).resolve().parents[1]

# Options the docs mention that belong to other projects' programs (said so in the text).
FOREIGN_OPTIONS = {
    "--time_budget": "NAS-Bench-201's own search scripts (docs/search.md)",
    "--ea_population": "NATS-Bench's REA script (docs/search.md)",
    "--ea_sample_size": "NATS-Bench's REA script (docs/search.md)",
    "--dropout": "the GradSign authors' experiment script (docs/gradsign.md)",
    "--extra-index-url": "pip (docs/rank.md)",
}


# --------------------------------------------------------------------------- the command tree


# Typer (0.29) builds on its own copy of click: commands and options are recognized by
# their attributes, not by click's classes.


def _is_group(cmd) -> bool:
    return isinstance(getattr(cmd, "commands", None), dict)


def _tree() -> dict:
    root = typer.main.get_command(app)
    out: dict = {}

    def walk(cmd, path: tuple[str, ...]) -> None:
        out[path] = cmd
        if _is_group(cmd):
            for name, sub in cmd.commands.items():
                walk(sub, path + (name,))

    walk(root, ())
    return out


TREE = _tree()


def _options(cmd) -> set[str]:
    names = {"--help"}
    for p in cmd.params:
        if getattr(p, "param_type_name", None) == "option":
            names.update(o for o in (*p.opts, *p.secondary_opts) if o.startswith("--"))
    return names


ALL_OPTIONS = set().union(*(_options(c) for c in TREE.values()))
#: Options of `gradsign` itself that take a value (`--plugin FILE`), written before the command.
_ROOT_VALUE_OPTIONS = {o for p in TREE[()].params if getattr(p, "param_type_name", None) == "option"
                       and not p.is_flag for o in p.opts}


def _script_options(script: Path) -> set[str]:
    text = script.read_text()
    return {"--help"} | set(re.findall(r"""["'](--[A-Za-z0-9][\w-]*)["']""", text))


SCRIPT_OPTIONS = set().union(*(_script_options(p) for p in (ROOT / "scripts").glob("*.py")))


# --------------------------------------------------------------------------- extraction

_OPTION = re.compile(r"(?<![\w-])--[A-Za-z][\w-]*")
_SPLIT = re.compile(r"\s*(?:;|&&|\|\||\||\$\(|`|\n)\s*")
_PRELUDE = re.compile(r"^(?:[A-Za-z_]\w*=(?:\"[^\"]*\"|'[^']*'|[^\s\"']*)\s+|time\s+|nohup\s+|timeout\s+\S+\s+|\$\s+)*")


def _commands_in(code: str) -> list[str]:
    """Shell-ish command lines in a code span or block (continuations joined)."""
    code = code.replace("\\\n", " ")
    out = []
    for part in _SPLIT.split(code):
        part = _PRELUDE.sub("", part.strip())
        m = re.match(r"^([A-Za-z_]\w*)=\"(.*)", part)  # G="gradsign predictors evaluate ..."
        if m:
            part = m.group(2)
        if part:
            out.append(part)
    return out


def _words(cmdline: str) -> list[str]:
    cmdline = cmdline.split("  #")[0].split(" # ")[0]
    try:
        return shlex.split(cmdline, comments=False)
    except ValueError:
        return cmdline.split()


def check_invocation(cmdline: str, where: str) -> list[str]:
    """Problems in one command line, if it invokes gradsign or a benchmark script."""
    words = _words(cmdline)
    if not words:
        return []
    prog = words[0].rsplit("/", 1)[-1]
    problems = []
    if prog in ("python", "python3") and len(words) > 1 and words[1].startswith("scripts/"):
        script = ROOT / words[1]
        if not script.is_file():
            return [f"{where}: no such script {words[1]} (in `{cmdline.strip()}`)"]
        if "from gradsign.cli.main import main" in script.read_text():  # a wrapper passing argv to the CLI
            return check_invocation(shlex.join(["gradsign", *words[2:]]), where)
        known = _script_options(script)
        for w in words[2:]:
            for opt in _OPTION.findall(w.split("=")[0]) if w.startswith("--") else []:
                if opt not in known:
                    problems.append(f"{where}: {words[1]} has no option {opt}")
        return problems
    if prog != "gradsign" or (len(words) > 1 and not re.fullmatch(r"-.*|[a-z][\w/-]*|\.\.\.|…|<.*", words[1])):
        return []  # not the command (e.g. the formula `gradsign / n_weights`)
    path: tuple[str, ...] = ()
    rest = words[1:]
    while rest and _is_group(TREE[path]):
        word = rest[0]
        if not path and word in _ROOT_VALUE_OPTIONS and len(rest) > 1:  # gradsign --plugin FILE rank ...
            rest = rest[2:]
            continue
        if word.startswith("-") or word in ("...", "…") or word.startswith("<"):
            break
        alternatives = word.split("/")
        bad = [a for a in alternatives if path + (a,) not in TREE]
        if bad:
            problems.append(f"{where}: no command `gradsign {' '.join(path + (bad[0],))}` (in `{cmdline.strip()}`)")
            return problems
        if len(alternatives) > 1:  # store info/export/import: each exists; options then unknowable
            return problems
        path += (word,)
        rest = rest[1:]
    known = _options(TREE[path])
    for w in rest:
        if not w.startswith("--"):
            continue
        opt = w.split("=")[0]
        if _OPTION.fullmatch(opt) and opt not in known:
            problems.append(f"{where}: `gradsign {' '.join(path)}` has no option {opt}")
    return problems


def _code_of_markdown(text: str) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(code blocks, inline code spans) of a markdown text, each with its line number."""
    blocks, spans = [], []
    fence = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
    for m in fence.finditer(text):
        blocks.append((text.count("\n", 0, m.start()) + 1, m.group(1)))
    prose = fence.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    for m in re.finditer(r"`([^`]+)`", prose):
        spans.append((prose.count("\n", 0, m.start()) + 1, m.group(1).replace("\n", " ")))
    return blocks, spans


# --------------------------------------------------------------------------- help texts


def _help_texts() -> list[tuple[tuple[str, ...], str, str]]:
    """(command path, what, text) of every command's help and every option's help."""
    out = []
    for path, cmd in TREE.items():
        if cmd.help:
            out.append((path, "help", cmd.help))
        for p in cmd.params:
            text = getattr(p, "help", None)
            if text:
                out.append((path, f"{(p.opts or [p.name])[0]} help", text))
    return out


def help_problems() -> list[str]:
    problems = []
    for path, what, text in _help_texts():
        where = f"`gradsign {' '.join(path)}` {what}".replace("`gradsign ` ", "`gradsign` ")
        invocation_spans = []
        for m in re.finditer(r"`([^`]+)`", text):
            for cmdline in _commands_in(m.group(1)):
                problems += check_invocation(cmdline, where)
                if _words(cmdline)[:1] == ["gradsign"]:
                    invocation_spans.append(m.span())
        # Commands named without backticks ("see gradsign data").
        for m in re.finditer(r"(?<![\w`./-])gradsign ((?:[a-z]+)(?: [a-z]+)?)", text):
            if any(a <= m.start() < b for a, b in invocation_spans):
                continue
            first = m.group(1).split()[0]
            if (first,) in TREE:
                problems += check_invocation("gradsign " + m.group(1), where)
            elif first in ("spaces", "space", "list", "datasets", "help", "info", "verify"):
                problems.append(f"{where}: no command `gradsign {first}`")
        own = _options(TREE[path])
        for m in _OPTION.finditer(text):
            if any(a <= m.start() < b for a, b in invocation_spans):
                continue
            if m.group(0) not in own:
                problems.append(f"{where}: names {m.group(0)}, which `gradsign {' '.join(path)}` does not have")
    return problems


# --------------------------------------------------------------------------- docs


def _doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def docs_problems() -> list[str]:
    problems = []
    for doc in _doc_files():
        rel = doc.relative_to(ROOT)
        blocks, spans = _code_of_markdown(doc.read_text())
        for line, block in blocks:
            for i, cmdline in enumerate(_commands_in(block)):
                problems += check_invocation(cmdline, f"{rel}:{line}+")
        for line, span in spans:
            cmdlines = _commands_in(span)
            invokes = [c for c in cmdlines if _words(c)[:1] and _words(c)[0].rsplit("/", 1)[-1] in
                       ("gradsign", "python", "python3")]
            for cmdline in invokes:
                problems += check_invocation(cmdline, f"{rel}:{line}")
            if invokes:
                continue
            for opt in _OPTION.findall(span):
                if span.lstrip().startswith(opt) and opt not in ALL_OPTIONS | SCRIPT_OPTIONS | set(FOREIGN_OPTIONS):
                    problems.append(f"{rel}:{line}: `{span}`: no gradsign command or benchmark script has {opt}")
    return problems


def source_message_problems() -> list[str]:
    problems = []
    for src in sorted((ROOT / "src" / "gradsign").rglob("*.py")):
        rel = src.relative_to(ROOT)
        text = src.read_text()
        for m in re.finditer(r"`(gradsign [^`]+)`", text):
            line = text.count("\n", 0, m.start()) + 1
            for cmdline in _commands_in(m.group(1)):
                problems += check_invocation(cmdline, f"{rel}:{line}")
    return problems


# --------------------------------------------------------------------------- the tests


def test_the_extraction_catches_what_it_should():
    assert check_invocation("gradsign spaces", "x") == ["x: no command `gradsign spaces` (in `gradsign spaces`)"]
    assert check_invocation("gradsign store info --store s.sqlite", "x") == []
    assert check_invocation("gradsign store info --nope", "x") == ["x: `gradsign store info` has no option --nope"]
    assert check_invocation(".venv/bin/gradsign evaluate --space nb201 --proxies gradsign,synflow", "x") == []
    assert check_invocation("gradsign store info/export/import", "x") == []
    assert check_invocation("gradsign store info/exprot", "x") != []
    assert _commands_in('OMP_NUM_THREADS=1 G="gradsign predictors evaluate --seed 0') == \
        ["gradsign predictors evaluate --seed 0"]
    assert check_invocation("python scripts/no_such_script.py --x", "x") != []
    assert check_invocation("gradsign / n_weights", "x") == []


def test_help_texts_name_only_existing_commands_and_options():
    problems = help_problems()
    assert not problems, "help texts name things that do not exist:\n" + "\n".join(problems)


def test_docs_name_only_existing_commands_and_options():
    problems = docs_problems()
    assert not problems, "docs name things that do not exist:\n" + "\n".join(problems)


def test_messages_name_only_existing_commands_and_options():
    problems = source_message_problems()
    assert not problems, "messages in the source name things that do not exist:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", sorted(TREE, key=len), ids=lambda p: " ".join(p) or "gradsign")
def test_every_command_help_renders(path):
    from typer.testing import CliRunner

    r = CliRunner().invoke(app, [*path, "--help"])
    assert r.exit_code == 0, r.output
    assert "Usage" in r.output
    # rich renders ":name:" as an emoji (FILE.py:train: became FILE.py + a tram): nothing outside ASCII and
    # the box drawing of the help panels
    odd = {ch for ch in r.output if ord(ch) > 127 and not 0x2500 <= ord(ch) <= 0x257F}
    assert not odd, f"help of {' '.join(path) or 'gradsign'} shows {sorted(odd)}"
