"""Size metrics of the package source at a git revision or in the work tree (issue #24's before / after).

    .venv/bin/python scripts/code_metrics.py                 # the work tree
    .venv/bin/python scripts/code_metrics.py --rev d5234ec   # a commit (read with `git show`, no checkout)

Prints the five largest modules of src/gradsign (lines), every function or method longer than
``--max-lines`` (default 80) lines, and the totals.
"""

from __future__ import annotations

import argparse
import ast
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sources(rev: str | None) -> dict[str, str]:
    """Path -> text of every .py file under src/gradsign, at ``rev`` or in the work tree."""
    if rev is None:
        return {str(p.relative_to(ROOT)): p.read_text() for p in sorted((ROOT / "src" / "gradsign").rglob("*.py"))}
    names = subprocess.run(["git", "ls-tree", "-r", "--name-only", rev, "src/gradsign"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split()
    return {n: subprocess.run(["git", "show", f"{rev}:{n}"], cwd=ROOT, check=True, capture_output=True,
                              text=True).stdout for n in names if n.endswith(".py")}


def long_functions(path: str, text: str, limit: int) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(text, filename=path)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            if n > limit:
                doc = node.body[0] if node.body and isinstance(node.body[0], ast.Expr) and isinstance(
                    getattr(node.body[0], "value", None), ast.Constant) and isinstance(node.body[0].value.value, str) else None
                code = n - (doc.end_lineno - doc.lineno + 1 if doc is not None else 0)
                out.append((n, f"{path}:{node.lineno} {node.name} ({code} without the docstring)"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rev", default=None, help="a git revision (default: the work tree)")
    ap.add_argument("--max-lines", type=int, default=80)
    args = ap.parse_args()
    files = sources(args.rev)
    lines = {p: t.count("\n") for p, t in files.items()}
    print(f"{args.rev or 'work tree'}: {len(files)} modules, {sum(lines.values())} lines")
    print("five largest modules:")
    for p, n in sorted(lines.items(), key=lambda kv: -kv[1])[:5]:
        print(f"  {n:5d}  {p}")
    longs = sorted((f for p, t in files.items() for f in long_functions(p, t, args.max_lines)), reverse=True)
    print(f"functions over {args.max_lines} lines: {len(longs)}")
    for n, where in longs:
        print(f"  {n:5d}  {where}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
