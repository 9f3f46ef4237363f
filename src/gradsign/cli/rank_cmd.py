"""`gradsign rank`: rank PyTorch classifiers (timm, torchvision, your own) at initialization."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from gradsign.cli.common import DataDirOption, console, err_console
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
    engine: Annotated[str, typer.Option("--engine", help="GradSign engine: auto, fast or reference.")] = "auto",
    chunk_size: Annotated[Optional[int], typer.Option("--chunk-size", help="GradSign fast engine: samples per "
                          "batched pass; lower it for models with huge layers (memory ~ chunk x largest layer).")] = None,
    device: Annotated[str, typer.Option("--device", help="Torch device to score on, e.g. cpu or cuda.")] = "cpu",
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
    from gradsign.proxies import parse_proxy_list
    from gradsign.workflows.rank import load_model, rank_models, validate_spec

    names = parse_proxy_list(proxies)
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
    if image_size is not None and not 8 <= image_size <= 1024:
        raise ConfigError(f"--image-size must be between 8 and 1024, got {image_size}")
    if sampling not in ("random", "grasp"):
        raise ConfigError(f"unknown sampling {sampling!r}; valid: random, grasp")
    if engine not in ("auto", "fast", "reference"):
        raise ConfigError(f"unknown engine {engine!r}; valid: auto, fast, reference")
    if sort_by not in (None, "none") and sort_by not in names:
        raise ConfigError(f"--sort-by {sort_by!r}: not among --proxies ({', '.join(names)})")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"--device {device!r}: not a torch device (e.g. cpu, cuda, cuda:1)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: CUDA is not available in this torch ({torch.__version__})")
    # Every spec is checked before anything slow starts: a typo in the last model fails now.
    specs = [validate_spec(m) for m in models]
    if len({s.text for s in specs}) != len(specs):
        raise ConfigError("a model is given twice")

    info = dataset_info(dataset)
    images = load_image_set(info.name, split, data_dir=data_dir)
    inputs, targets = images.sample_batch(batch_size, seed=seed, sampling=sampling)
    if chunk_size is not None and chunk_size < 1:
        raise ConfigError(f"--chunk-size must be at least 1, got {chunk_size}")
    gradsign_options = {**({"engine": engine} if engine != "auto" else {}),
                        **({"chunk_size": chunk_size} if chunk_size is not None else {})}
    options = {n: gradsign_options for n in names if n.startswith("gradsign") and gradsign_options}
    input_shape, data_label = info.input_size, info.name
    if image_size is not None and image_size != info.image_size:
        # ImageNet models shrink 32x32 to 1x1 before their last blocks, where GradSign's
        # per-sample BatchNorm is undefined; upsampling keeps their later stages meaningful.
        inputs = torch.nn.functional.interpolate(inputs, size=(image_size, image_size), mode="bilinear",
                                                 align_corners=False)
        input_shape = (info.input_size[0], image_size, image_size)
        data_label = f"{info.name} upsampled from {info.image_size}x{info.image_size}"

    def make(spec):
        return lambda: load_model(spec, info.num_classes, input_shape=input_shape, seed=seed, dataset=data_label)

    def report(i: int, n: int, name: str, seconds: float) -> None:
        if progress:
            err_console.print(f"[{i}/{n}] {name}: {seconds:.2f} s", highlight=False)

    result = rank_models({s.text: make(s) for s in specs}, inputs, targets, names,
                         seed=seed, options=options, device=dev, on_model=report)
    frame = result.frame if sort_by == "none" else result.sorted(sort_by)
    data = images.describe() + f"; batch {len(targets)}, seed {seed}, sampling {sampling}"
    if input_shape != info.input_size:
        data += f"; resized to {input_shape[-2]}x{input_shape[-1]} (bilinear)"

    if fmt is OutputFormat.csv:
        text = frame.to_csv(index=False, float_format="%.10g")
    elif fmt is OutputFormat.json:
        doc = {"dataset": info.name, "data": data, "input_shape": list(input_shape), "batch_size": batch_size,
               "seed": seed, "device": str(dev),
               "torch": torch.__version__, **result.to_dict()}
        order = list(frame["model"])
        doc["models"] = sorted(doc["models"], key=lambda r: order.index(r["model"]))
        text = json.dumps(doc, indent=2) + "\n"
    else:
        text = _render_table(frame, result, info.name, batch_size, seed, data, dev, output is None)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
        err_console.print(f"wrote {output}", highlight=False)
    elif fmt is not OutputFormat.table:
        typer.echo(text, nl=False)
    failed = {m: sorted(e) for m, e in result.errors.items()}
    if failed:
        err_console.print(f"[yellow]failed[/]: {failed} (NaN in the table; see the error column)", highlight=False)


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
    lines.append(f"#PROXY = rank by PROXY, 1 = best; better is: {directions}; NaN = failed (unranked, see error)")
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
