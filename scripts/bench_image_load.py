"""First (decode) and second (cache) load time of each image set, in fresh processes.

    python scripts/bench_image_load.py [--datasets cifar10,cifar100,ImageNet16-120] [--split train]

Uses a temporary, empty cache directory, so the first load really decodes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = """
import json, resource, sys, time
t = time.perf_counter()
from gradsign.data.images import load_image_set
t_import = time.perf_counter() - t
t = time.perf_counter()
s = load_image_set(sys.argv[1], sys.argv[2])
print(json.dumps({"import": t_import, "load": time.perf_counter() - t, "n": len(s), "split": s.split,
                  "source": s.source, "cached": s.cached,
                  "cpu": resource.getrusage(resource.RUSAGE_SELF).ru_utime}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="cifar10,cifar100,ImageNet16-120")
    ap.add_argument("--split", default="train")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, GRADSIGN_CACHE=cache, PYTHONWARNINGS="ignore")
        print(f"{'dataset':16} {'split':6} {'images':>7} {'source':18} {'first load s':>13} {'second load s':>14}")
        for ds in args.datasets.split(","):
            runs = []
            for _ in range(2):
                out = subprocess.run([sys.executable, "-c", CHILD, ds, args.split], env=env,
                                     capture_output=True, text=True, check=True).stdout
                runs.append(json.loads(out.strip().splitlines()[-1]))
            a, b = runs
            print(f"{ds:16} {a['split']:6} {a['n']:>7} {a['source']:18} {a['load']:>13.2f} {b['load']:>14.2f}"
                  f"   (cache hit on second: {b['cached']})")


if __name__ == "__main__":
    main()
