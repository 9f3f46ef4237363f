#!/usr/bin/env bash
# Score the benchmark cells of record with the modern proxies (AZ-NAS's four scores, MeCo,
# EPE-NAS), one benchmark after another, and export each benchmark's scores to
# results/modern_proxies/ when it finishes (so a later session imports them instead of
# recomputing: `gradsign store import FILE --store runs/modern.sqlite`). Resumable: rerun it
# and every stored (cell, proxy) is skipped. The cells are those of the committed evaluate
# runs: NB201 CIFAR-10 1,000 (seed 0), CIFAR-100 / ImageNet16-120 500, NB101 292, DARTS 725.
#
#   benchmarks/run_modern_proxies.sh [STORE]          (default runs/modern.sqlite)
#
# One in-process worker with one thread: the scores are the one-thread numbers whichever
# backend is used; `--backend process --workers 2` would be twice as fast on an idle machine.
# EPE-NAS is left out on DARTS (about 15 s per cell there).
set -euo pipefail
cd "$(dirname "$0")/.."
store=${1:-runs/modern.sqlite}
gradsign=${GRADSIGN:-.venv/bin/gradsign}
P=az_expressivity,az_progressivity,az_trainability,az_complexity,meco,meco_opt
out=results/modern_proxies

run() {  # space dataset sample proxies
    local space=$1 dataset=$2 sample=$3 proxies=$4
    "$gradsign" evaluate --space "$space" --dataset "$dataset" --sample "$sample" --seed 0 --proxies "$proxies" \
        --store "$store" --output "runs/eval_modern_${space}_${dataset}" --no-progress
    for proxy in ${proxies//,/ }; do
        "$gradsign" store export --store "$store" --space "$space" --dataset "$dataset" --proxy "$proxy" \
            --output "$out/${space}_${dataset}_seed0_bs64_${proxy}.csv.gz.part.gz"
        mv "$out/${space}_${dataset}_seed0_bs64_${proxy}.csv.gz.part.gz" "$out/${space}_${dataset}_seed0_bs64_${proxy}.csv.gz"
    done
}

run nb201 cifar10 1000 "$P,epe_nas"
run nb101 cifar10 all "$P,epe_nas"
run nb201 cifar100 500 "$P,epe_nas"
run nb201 ImageNet16-120 500 "$P,epe_nas"
run darts cifar10 all "$P"
