"""`gradsign rank`: rank PyTorch classifiers (timm, torchvision, your own) at initialization."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from gradsign.cli.common import (DataDirOption, DeviceOption, ThreadsOption, console, err_console, report_fallback,
                                 set_interrupt_note)
from gradsign.cli.scoring_cmds import FormatOption, OutputFormat, output_format


def _fmt(v) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    # pandas.NA: the rank of a failed model (checked by name: pandas is imported lazily)
    if v is None or type(v).__name__ == "NAType":
        return "-"
    return str(v)


def rank(
    models: Annotated[list[str], typer.Argument(
        help="Models: timm:NAME, torchvision:NAME, path/to/file.py:factory (a function returning an nn.Module), "
             "or SOURCE:NAME of a model source registered by a plug-in module (see docs/rank.md).",
        metavar="MODEL...", show_default=False)],
    dataset: Annotated[str, typer.Option("--dataset", help="cifar10, cifar100 or ImageNet16-120.")] = "cifar10",
    split: Annotated[str, typer.Option("--split", help="Split the minibatch is drawn from: train or test "
                                       "(test is faster to decode the first time).")] = "train",
    proxies: Annotated[str, typer.Option("--proxies", help="Comma-separated proxy names, or 'all' (see `gradsign proxies`); "
                                         "params and flops are always shown.")] = "gradsign,synflow,snip",
    batch_size: Annotated[int, typer.Option("--batch-size", help="Minibatch size.")] = 64,
    image_size: Annotated[Optional[int], typer.Option("--image-size", help="Resize the minibatch to NxN (bilinear) "
                          "for models built for larger images (default: the dataset's size).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the minibatch, of every model's initialization "
                                      "and of the proxies.")] = 0,
    sampling: Annotated[str, typer.Option("--sampling", help="Minibatch sampling: random, or grasp (k images per class).")] = "random",
    engine: Annotated[str, typer.Option("--engine", help="GradSign engine: auto, fast, func or reference.")] = "auto",
    chunk_size: Annotated[Optional[int], typer.Option("--chunk-size", help="GradSign fast/func engine: samples per "
                          "batched pass; lower it for models with huge layers (memory ~ chunk x largest layer).")] = None,
    device: DeviceOption = "cpu",
    threads: ThreadsOption = None,
    option: Annotated[Optional[list[str]], typer.Option("--option", help="A proxy's option, PROXY.KEY=VALUE "
                      "(repeatable), e.g. fisher.broadcast=false; the value must fit the option's type.",
                      show_default=False)] = None,
    logits: Annotated[Optional[str], typer.Option("--logits", help="For models whose forward returns a tuple, "
                      "list or dict: which element is the logits (an index such as 0, or a key such as logits).")] = None,
    sort_by: Annotated[Optional[str], typer.Option("--sort-by", help="Order rows by this proxy's rank "
                                                   "(default: the first proxy); 'none' keeps the given order.")] = None,
    fmt: FormatOption = None,
    output: Annotated[Optional[Path], typer.Option("--output", help="Write the result to this file (.csv, .json, "
                                                   "or .txt for the table; the extension chooses the format).")] = None,
    data_dir: DataDirOption = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="One line per model on stderr.")] = True,
) -> None:
    """Rank PyTorch classifiers at initialization with zero-cost proxies on one dataset minibatch.

    Every model is created with no pretrained weights right after torch.manual_seed(SEED),
    its classifier head is made to output the dataset's classes, and all models see the
    same minibatch. What was adapted is stated in the notes. A model that fails on a
    proxy gets NaN there and the error is listed; the ranking goes on.
    """
    from gradsign.outputs import check_output_file, fallback_path, refuse_input_as_output, write_text_safely
    from gradsign.workflows.rank import RankInterrupted
    from gradsign.workflows.rank import rank as rank_api

    if output is not None:
        check_output_file(output)
        # a model's source file (FILE.py:factory) is an input: the table written over it replaced the code
        refuse_input_as_output(output, {f"model {m}": m.rpartition(":")[0] for m in models
                                        if m.rpartition(":")[0].endswith(".py")})
    fmt = output_format(fmt, output)
    select = None if logits is None else (int(logits) if logits.strip().lstrip("-").isdigit() else logits.strip())

    def report(i: int, n: int, name: str, seconds: float) -> None:
        if progress:
            err_console.print(f"[{i}/{n}] {name}: {seconds:.2f} s", highlight=False)

    # Interrupted, the models finished so far are written: to --output, else to a file named now.
    keep = output if output is not None else fallback_path(f"rank-partial.{fmt.value if fmt.value != 'table' else 'txt'}")
    set_interrupt_note(f"the models finished so far are written to {keep} (nothing if none finished)")
    try:
        result = rank_api(models, dataset=dataset, split=split, proxies=proxies, batch_size=batch_size,
                          image_size=image_size, seed=seed, sampling=sampling, engine=engine, chunk_size=chunk_size,
                          options=option or [], logits=select, sort_by=sort_by, device=device, threads=threads,
                          data_dir=data_dir, on_model=report)
    except RankInterrupted as stop:
        if stop.partial is not None:
            header = f"# PARTIAL: interrupted after {stop.done} of {stop.total} models\n" if fmt is not OutputFormat.json else ""
            where, problem = write_text_safely(keep, header + _format(stop.partial, fmt, show=False))
            err_console.print(f"wrote {stop.done} of {stop.total} finished models to {where}"
                              + (f" (could not write {problem})" if problem else ""), highlight=False, markup=False)
        raise KeyboardInterrupt from None
    text = _format(result, fmt, show=output is None)
    if output is not None:
        where, problem = write_text_safely(output, text)
        if problem is None:
            err_console.print(f"wrote {where}", highlight=False, markup=False)
        else:
            report_fallback(problem, where)
    elif fmt is not OutputFormat.table:
        typer.echo(text, nl=False)
    _report_failures(result)


def _report_failures(result) -> None:
    failed = {m: sorted(e) for m, e in result.errors.items()}
    if failed:
        err_console.print(f"[yellow]failed[/]: {failed} (NaN in the table; the 'error' lines say why)",
                          highlight=False)
    for name, n_bad in result.member_nonfinite.items():
        if n_bad:
            err_console.print(f"ensemble {name}: {n_bad} model(s) with a NaN/inf member score, ranked last by that "
                              "member (the ensemble still ranks them)", highlight=False, markup=False)


def _format(result, fmt, show: bool) -> str:
    """The result as text in ``fmt`` (the table is also shown when ``show``)."""
    if fmt is OutputFormat.csv:
        return result.to_csv()
    if fmt is OutputFormat.json:
        return result.to_json()
    return _render_table(result.to_frame(), result, show)


def _cell(column: str, v) -> str:
    """One table cell: parameters as a grouped integer, seconds with 2 decimals, scores with 4 digits."""
    if column == "params" and isinstance(v, float) and math.isfinite(v):
        return f"{int(v):,}"
    if column == "seconds" and isinstance(v, float) and math.isfinite(v):
        return f"{v:.2f}"
    return _fmt(v)


def _render_table(frame, result, show: bool) -> str:
    """The table as plain text (returned, for --output and non-terminal stdout); a rich table on a terminal."""
    score_cols = [c for c in frame.columns if c not in ("model", "notes", "error") and not c.startswith("rank_")]
    rank_cols = [c for c in frame.columns if c.startswith("rank_")]
    columns = ["model", *score_cols, *rank_cols]
    headers = {c: "s/model" if c == "seconds" else c.replace("rank_", "#") for c in columns}
    records = frame.to_dict(orient="records")
    cells = [[_cell(c, row[c]) for c in columns] for row in records]
    setup = result.setup
    title = f"rank on {setup.dataset} at initialization (batch {setup.batch_size}, seed {setup.seed}, {setup.device})"
    lines = []
    for row in records:
        if row["notes"]:
            lines.append(f"note {row['model']}: {row['notes']}")
        if row["error"]:
            lines.append(f"error {row['model']}: {row['error']}")
    directions = ", ".join(f"{p} {'higher' if h else 'lower'}" for p, h in result.higher_is_better.items())
    lines.append(f"#PROXY = rank by PROXY, 1 = best; better is: {directions}; NaN = failed (unranked; see the error lines)")
    lines.append("s/model = seconds to score one model with all proxies, params and flops included")
    lines.append(f"data: {setup.data}")

    widths = [max(len(headers[c]), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]

    def fmt_row(values):
        return "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(values, widths)))

    plain = "\n".join([title, fmt_row([headers[c] for c in columns]), *(fmt_row(r) for r in cells), *lines]) + "\n"
    if show:
        if console.is_terminal:
            t = Table(title=title, title_justify="left")
            for c in columns:
                t.add_column(headers[c], justify="left" if c == "model" else "right", no_wrap=c == "model")
            for r in cells:
                t.add_row(*r)
            console.print(t)
            for line in lines:
                console.print(line, highlight=False, markup=False, soft_wrap=True)
        else:  # logs and pipes: no wrapping at 80 columns
            typer.echo(plain, nl=False)
    return plain
