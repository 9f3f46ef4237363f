"""`gradsign rank`: rank PyTorch classifiers (timm, torchvision, your own) at initialization."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from gradsign.cli.common import (DataDirOption, DeviceOption, ThreadsOption, console, err_console, report_fallback,
                                 set_interrupt_note)
from gradsign.cli.scoring_cmds import OutputFormat
from gradsign.errors import ConfigError


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
        help="Models: timm:NAME, torchvision:NAME or path/to/file.py:factory (a function returning an nn.Module).",
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
                      "(repeatable), e.g. fisher.broadcast=false.", show_default=False)] = None,
    logits: Annotated[Optional[str], typer.Option("--logits", help="For models whose forward returns a tuple, "
                      "list or dict: which element is the logits (an index such as 0, or a key such as logits).")] = None,
    sort_by: Annotated[Optional[str], typer.Option("--sort-by", help="Order rows by this proxy's rank "
                                                   "(default: the first proxy); 'none' keeps the given order.")] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = OutputFormat.table,
    output: Annotated[Optional[Path], typer.Option("--output", help="Write the result to this file.")] = None,
    data_dir: DataDirOption = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="One line per model on stderr.")] = True,
) -> None:
    """Rank PyTorch classifiers at initialization with zero-cost proxies on one dataset minibatch.

    Every model is created with no pretrained weights right after torch.manual_seed(SEED),
    its classifier head is made to output the dataset's classes, and all models see the
    same minibatch. What was adapted is stated in the notes. A model that fails on a
    proxy gets NaN there and the error is listed; the ranking goes on.
    """
    import torch

    from gradsign.data.images import dataset_info, load_image_set
    from gradsign.outputs import check_output_file, fallback_path
    from gradsign.proxies import parse_proxy_list
    from gradsign.proxies.api import parse_proxy_options
    from gradsign.proxies.ensemble import split_members
    from gradsign.runtime import check_threads, resolve_device
    from gradsign.workflows.rank import RankInterrupted, load_model, rank_models, validate_spec

    if output is not None:
        check_output_file(output)
    threads = check_threads(threads)
    names = parse_proxy_list(proxies)
    options = parse_proxy_options(option or [], names)
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
    if image_size is not None and not 8 <= image_size <= 1024:
        raise ConfigError(f"--image-size must be between 8 and 1024, got {image_size}")
    if sampling not in ("random", "grasp"):
        raise ConfigError(f"unknown sampling {sampling!r}; valid: random, grasp")
    from gradsign.proxies.engine import ENGINES

    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; valid: {', '.join(ENGINES)}")
    if sort_by not in (None, "none") and sort_by not in names:
        raise ConfigError(f"--sort-by {sort_by!r}: not among --proxies ({', '.join(names)})")
    dev = resolve_device(device)
    select = None if logits is None else (int(logits) if logits.strip().lstrip("-").isdigit() else logits.strip())
    # Every spec is checked before anything slow starts: a typo in the last model fails now.
    specs = [validate_spec(m) for m in models]
    if len({s.text for s in specs}) != len(specs):
        raise ConfigError("a model is given twice")

    info = dataset_info(dataset)
    images = load_image_set(info.name, split, data_dir=data_dir)
    if sampling == "grasp":
        from gradsign.workflows.scoring import grasp_samples_per_class

        inputs, targets = images.sample_batch(batch_size, seed=seed, sampling=sampling,
                                              samples_per_class=grasp_samples_per_class(info.name, batch_size))
    else:
        inputs, targets = images.sample_batch(batch_size, seed=seed, sampling=sampling)
    if chunk_size is not None and chunk_size < 1:
        raise ConfigError(f"--chunk-size must be at least 1, got {chunk_size}")
    gradsign_options = {**({"engine": engine} if engine != "auto" else {}),
                        **({"chunk_size": chunk_size} if chunk_size is not None else {})}
    for n in split_members(names)[0]:  # --engine / --chunk-size: shorthands for every GradSign proxy scored
        if n.startswith("gradsign") and gradsign_options:
            options[n] = {**gradsign_options, **options.get(n, {})}
    input_shape, data_label = info.input_size, info.name
    if image_size is not None and image_size != info.image_size:
        # ImageNet models shrink 32x32 to 1x1 before their last blocks, where GradSign's
        # per-sample BatchNorm is undefined; upsampling keeps their later stages meaningful.
        inputs = torch.nn.functional.interpolate(inputs, size=(image_size, image_size), mode="bilinear",
                                                 align_corners=False)
        input_shape = (info.input_size[0], image_size, image_size)
        data_label = f"{info.name} upsampled from {info.image_size}x{info.image_size}"

    def make(spec):
        return lambda: load_model(spec, info.num_classes, input_shape=input_shape, seed=seed, dataset=data_label,
                                  logits=select)

    def report(i: int, n: int, name: str, seconds: float) -> None:
        if progress:
            err_console.print(f"[{i}/{n}] {name}: {seconds:.2f} s", highlight=False)

    # Interrupted, the models finished so far are written: to --output, else to a file named now.
    keep = output if output is not None else fallback_path(f"rank-partial.{fmt.value if fmt.value != 'table' else 'txt'}")
    set_interrupt_note(f"the models finished so far are written to {keep} (nothing if none finished)")
    try:
        result = rank_models({s.text: make(s) for s in specs}, inputs, targets, names, seed=seed, options=options,
                             device=dev, on_model=report, logits=select, threads=threads)
    except RankInterrupted as stop:
        if stop.partial is not None:
            partial_frame = stop.partial.frame if sort_by == "none" else stop.partial.sorted(sort_by)
            text = _format(stop.partial, partial_frame, fmt, info, batch_size, seed, images, sampling,
                           input_shape, dev, torch, show=False,
                           extra={"partial": {"finished": stop.done, "of": stop.total}})
            header = f"# PARTIAL: interrupted after {stop.done} of {stop.total} models\n" if fmt is not OutputFormat.json else ""
            from gradsign.outputs import write_text_safely

            where, problem = write_text_safely(keep, header + text)
            err_console.print(f"wrote {stop.done} of {stop.total} finished models to {where}"
                              + (f" (could not write {problem})" if problem else ""), highlight=False, markup=False)
        raise KeyboardInterrupt from None
    frame = result.frame if sort_by == "none" else result.sorted(sort_by)
    text = _format(result, frame, fmt, info, batch_size, seed, images, sampling, input_shape, dev, torch,
                   show=output is None)
    if output is not None:
        from gradsign.outputs import write_text_safely

        where, problem = write_text_safely(output, text)
        if problem is None:
            err_console.print(f"wrote {where}", highlight=False, markup=False)
        else:
            report_fallback(problem, where)
    elif fmt is not OutputFormat.table:
        typer.echo(text, nl=False)
    failed = {m: sorted(e) for m, e in result.errors.items()}
    if failed:
        err_console.print(f"[yellow]failed[/]: {failed} (NaN in the table; the 'error' lines say why)",
                          highlight=False)
    for name, n_bad in result.member_nonfinite.items():
        if n_bad:
            err_console.print(f"ensemble {name}: {n_bad} model(s) with a NaN/inf member score, ranked last by that "
                              "member (the ensemble still ranks them)", highlight=False, markup=False)


def _format(result, frame, fmt, info, batch_size, seed, images, sampling, input_shape, dev, torch, show: bool,
            extra: dict | None = None) -> str:
    """The result as text in ``fmt`` (the table is also shown when ``show``)."""
    data = images.describe() + f"; batch {batch_size}, seed {seed}, sampling {sampling}"
    if input_shape != info.input_size:
        data += f"; resized to {input_shape[-2]}x{input_shape[-1]} (bilinear)"
    if fmt is OutputFormat.csv:
        return frame.to_csv(index=False, float_format="%.10g")
    if fmt is OutputFormat.json:
        from gradsign.outputs import dumps_json
        from gradsign.reports.provenance import collect, process_started

        doc = {"dataset": info.name, "data": data, "input_shape": list(input_shape), "batch_size": batch_size,
               "seed": seed, "device": str(dev),
               "torch": torch.__version__, **(extra or {}), **result.to_dict(),
               "provenance": collect(seeds=[seed], started=process_started(), device=str(dev))}
        order = list(frame["model"])
        doc["models"] = sorted(doc["models"], key=lambda r: order.index(r["model"]))
        return dumps_json(doc)
    return _render_table(frame, result, info.name, batch_size, seed, data, dev, show)


def _cell(column: str, v) -> str:
    """One table cell: parameters as a grouped integer, seconds with 2 decimals, scores with 4 digits."""
    if column == "params" and isinstance(v, float) and math.isfinite(v):
        return f"{int(v):,}"
    if column == "seconds" and isinstance(v, float) and math.isfinite(v):
        return f"{v:.2f}"
    return _fmt(v)


def _render_table(frame, result, dataset, batch_size, seed, data, dev, show: bool) -> str:
    """The table as plain text (returned, for --output and non-terminal stdout); a rich table on a terminal."""
    score_cols = [c for c in frame.columns if c not in ("model", "notes", "error") and not c.startswith("rank_")]
    rank_cols = [c for c in frame.columns if c.startswith("rank_")]
    columns = ["model", *score_cols, *rank_cols]
    headers = {c: "s/model" if c == "seconds" else c.replace("rank_", "#") for c in columns}
    records = frame.to_dict(orient="records")
    cells = [[_cell(c, row[c]) for c in columns] for row in records]
    title = f"rank on {dataset} at initialization (batch {batch_size}, seed {seed}, {dev})"
    lines = []
    for row in records:
        if row["notes"]:
            lines.append(f"note {row['model']}: {row['notes']}")
        if row["error"]:
            lines.append(f"error {row['model']}: {row['error']}")
    directions = ", ".join(f"{p} {'higher' if h else 'lower'}" for p, h in result.higher_is_better.items())
    lines.append(f"#PROXY = rank by PROXY, 1 = best; better is: {directions}; NaN = failed (unranked; see the error lines)")
    lines.append("s/model = seconds to score one model with all proxies, params and flops included")
    lines.append(f"data: {data}")

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
