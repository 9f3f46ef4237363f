#!/usr/bin/env bash
# Checkpoint a long scoring run: every INTERVAL seconds, export the named proxies' scores from
# the results store to results/nb201_<dataset>_allcells_seed0_bs64_<proxy>.csv.gz and, with
# --commit, commit those files. Run it next to a resumable `gradsign evaluate ... --sample all`
# on a machine whose work tree may not survive (the store lives in ignored runs/): a later
# session imports the exports (`gradsign store import FILE --store runs/store.sqlite`) and
# reruns the same evaluate command, losing at most one interval. Stop it with Ctrl-C / kill.
#
#   scripts/export_checkpoints.sh [--commit] STORE DATASET INTERVAL PROXY...
#   scripts/export_checkpoints.sh --commit runs/store.sqlite cifar10 1200 grasp grad_norm snip fisher jacob_cov
set -euo pipefail
commit=0
if [[ "${1:-}" == "--commit" ]]; then commit=1; shift; fi
if (( $# < 4 )); then
    echo "usage: $0 [--commit] STORE DATASET INTERVAL PROXY..." >&2
    exit 2
fi
store=$1 dataset=$2 interval=$3
shift 3
cd "$(dirname "$0")/.."
gradsign=${GRADSIGN:-.venv/bin/gradsign}
while true; do
    sleep "$interval"
    files=()
    for proxy in "$@"; do
        out=results/nb201_${dataset}_allcells_seed0_bs64_${proxy}.csv.gz
        # Export to a temporary name first: an interrupted export never replaces a good file.
        if "$gradsign" store export --store "$store" --space nb201 --dataset "$dataset" --proxy "$proxy" \
                --output "$out.part.gz"; then
            mv "$out.part.gz" "$out"
            files+=("$out")
        fi
    done
    if (( commit )) && (( ${#files[@]} )); then
        rows=$(zcat "${files[0]}" | tail -n +2 | wc -l)
        # Commit only these files, whatever else is staged; retry if another git command holds the lock.
        for _ in 1 2 3; do
            git add -- "${files[@]}" && git commit -q -m "results: NB201 $dataset all-cells run in progress, $rows rows of $1 (checkpoint export)" -- "${files[@]}" && break
            sleep 5
        done
    fi
done
