"""Train the small real benchmark (issue #25): NB201 cells under the SMALL_CIFAR10 recipe, 2 seeds each.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/train_real_benchmark.py [--archs 500] [--seeds 1,2] \
        [--store runs/real.sqlite] [--shard 0/2] [--export-every 1800]

The architectures are ``NB201Space().sample(archs, --sample-seed)``; every (arch, seed) finished
is stored at once (gradsign.training.TrainingStore), so a rerun trains only what is missing; an
interrupted run loses the training in flight only. ``--shard i/n`` trains every n-th run from the
i-th (run n processes, one per core, on one store). Every ``--export-every`` seconds and at the end the
store is exported to ``results/real_benchmark/nb201_small_cifar10.csv.gz`` (deterministic bytes; commit
it: ``runs/`` does not survive a change of machine). A later session restores it with
``--import results/real_benchmark/nb201_small_cifar10.csv.gz``. The recipe is docs/real_benchmark.md's.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXPORT = ROOT / "results" / "real_benchmark" / "nb201_small_cifar10.csv.gz"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--archs", type=int, default=500)
    ap.add_argument("--sample-seed", type=int, default=0)
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--store", default=str(ROOT / "runs" / "real.sqlite"))
    ap.add_argument("--shard", default="0/1", help="i/n: train runs i, i+n, i+2n, ... of the list")
    ap.add_argument("--export", default=str(EXPORT))
    ap.add_argument("--export-every", type=float, default=1800.0, help="seconds between exports (0: only at the end)")
    ap.add_argument("--import", dest="import_", default=None, help="restore an export into the store first")
    ap.add_argument("--limit", type=int, default=None, help="train at most this many runs, then stop")
    args = ap.parse_args(argv)

    import torch

    from gradsign.spaces import get_space
    from gradsign.training import SMALL_CIFAR10, TrainingStore, prepare_data, train_arch

    torch.set_num_threads(1)
    try:
        shard, n_shards = (int(v) for v in args.shard.split("/"))
        seeds = [int(s) for s in args.seeds.split(",") if s]
    except ValueError:
        ap.error("--shard is i/n and --seeds a comma list of ints")
    if not 0 <= shard < n_shards:
        ap.error(f"--shard {args.shard}: need 0 <= i < n")
    store = TrainingStore(args.store)
    if args.import_:
        print(f"imported {store.import_csv(args.import_)} runs from {args.import_}")
    Path(args.export).parent.mkdir(parents=True, exist_ok=True)
    space, recipe = get_space("nb201"), SMALL_CIFAR10
    archs = [space.to_string(a) for a in space.sample(args.archs, args.sample_seed)]
    todo = [(a, s) for a in archs for s in seeds][shard::n_shards]
    done = store.done("nb201", recipe.key())
    todo = [t for t in todo if t not in done][:args.limit]
    print(f"recipe {recipe.key()}: {len(archs)} archs x seeds {seeds}, shard {args.shard}: "
          f"{len(todo)} runs to train ({len(done)} in the store)", flush=True)
    data = prepare_data(recipe)
    print(data.description, flush=True)
    env = {"torch": torch.__version__, "threads": 1, "python": platform.python_version(),
           "machine": platform.machine()}
    start = last_export = time.time()
    trained = 0
    try:
        for arch, seed in todo:
            run = train_arch(space, arch, recipe, seed, data)
            store.put("nb201", run, recipe.to_dict(), env)
            trained += 1
            rate = (time.time() - start) / trained
            print(f"{trained}/{len(todo)} {arch} seed {seed}: test {run.test_accuracy:.2f}, val "
                  f"{run.val_final:.2f}, {run.seconds:.0f} s; ETA {rate * (len(todo) - trained) / 3600:.1f} h",
                  flush=True)
            if args.export_every and time.time() - last_export > args.export_every:
                print(f"exported {store.export_csv(args.export)} runs to {args.export}", flush=True)
                last_export = time.time()
    except KeyboardInterrupt:
        print(f"\ninterrupted: the {trained} runs finished in this invocation are in {args.store} (the one in "
              "flight is lost); rerun the same command to go on", file=sys.stderr)
        print(f"exported {store.export_csv(args.export)} runs to {args.export}", file=sys.stderr)
        return 130
    print(f"exported {store.export_csv(args.export)} runs to {args.export}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
