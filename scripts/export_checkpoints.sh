#!/usr/bin/env bash
# Checkpoint a long scoring run: every INTERVAL seconds, export the named proxies' scores from
# the results store to results/nb201_<dataset>_allcells_seed0_bs64_<proxy>.csv.gz and, with
# --commit, commit those files. Run it next to a resumable `gradsign evaluate ... --sample all`
# on a machine whose work tree may not survive (the store lives in ignored runs/): a later
# session imports the exports (`gradsign store import FILE --store runs/store.sqlite`) and
# reruns the same evaluate command, losing at most one interval. Stop it with Ctrl-C / kill.
# INTERVAL 0 exports (and commits) once, now, and exits: non-zero when an export failed.
# CHECKPOINT_NOTE (default "checkpoint export") ends the commit message.
#
#   scripts/export_checkpoints.sh [--commit] STORE DATASET INTERVAL PROXY...
#   scripts/export_checkpoints.sh --commit runs/store.sqlite cifar10 1200 grasp grad_norm snip fisher jacob_cov
set -euo pipefail
commit=0
if [[ "${1:-}" == "--commit" ]]; then commit=1; shift; fi
if (( $# < 4 )) || ! [[ "$3" =~ ^[0-9]+$ ]]; then
    echo "usage: $0 [--commit] STORE DATASET INTERVAL PROXY...   (INTERVAL: whole seconds, 0 = once)" >&2
    exit 2
fi
store=$1 dataset=$2 interval=$3
shift 3
cd "$(dirname "$0")/.."
gradsign=${GRADSIGN:-.venv/bin/gradsign}
note=${CHECKPOINT_NOTE:-checkpoint export}
python=${PYTHON:-$(dirname "$gradsign")/python}
proxies=$*

# missing_keys OLD NEW: how many store keys of export OLD export NEW lacks; rows FILE: its records.
export_keys='
import csv, gzip, sys
def keys(path):
    with gzip.open(path, "rt", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        n = len(header) - 6  # the key columns; then value, status, error, seconds, attempts, created
        return {tuple(row[:n]) for row in reader}
if sys.argv[1] == "rows":
    print(len(keys(sys.argv[2])))
else:
    print(len(keys(sys.argv[2]) - keys(sys.argv[3])))
'
missing_keys() { "$python" -c "$export_keys" missing "$1" "$2"; }
rows() { "$python" -c "$export_keys" rows "$1"; }
while true; do
    if (( interval > 0 )); then sleep "$interval"; fi
    files=()
    failed=0
    for proxy in "$@"; do
        out=results/nb201_${dataset}_allcells_seed0_bs64_${proxy}.csv.gz
        # Export to a temporary name first: an interrupted export never replaces a good file.
        if ! "$gradsign" store export --store "$store" --space nb201 --dataset "$dataset" --proxy "$proxy" \
                --output "$out.part.gz"; then
            failed=1
            continue
        fi
        # Never replace an export with one that lacks some of its rows (a store the earlier exports were
        # not imported into, a wrong store): the committed rows are the run's only copy elsewhere.
        # Rows are CSV records matched on the store key (an error's message spans several lines).
        lost=0
        if [[ -f "$out" ]]; then
            lost=$(missing_keys "$out" "$out.part.gz") || lost="(could not compare)"
        fi
        if [[ "$lost" != 0 ]]; then  # a failed comparison refuses too
            echo "export_checkpoints: $store lacks $lost $proxy rows of $out;" \
                 "kept $out (import it first: gradsign store import $out --store $store)" >&2
            rm -f "$out.part.gz"
            failed=1
            continue
        fi
        mv "$out.part.gz" "$out"
        files+=("$out")
    done
    if (( commit )) && (( ${#files[@]} )); then
        n=$(rows "${files[0]}")
        # Commit only these files, whatever else is staged; retry if another git command holds the lock.
        for _ in 1 2 3; do
            git add -- "${files[@]}" && git commit -q -m "results: NB201 $dataset all-cells run (${proxies// /,}), $n rows of ${files[0]##*/} ($note)" -- "${files[@]}" && break
            sleep 5
        done
    fi
    if (( interval == 0 )); then
        exit $failed
    fi
done
