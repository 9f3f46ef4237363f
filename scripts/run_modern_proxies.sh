#!/usr/bin/env bash
# Score the benchmark cells of record with the modern proxies (AZ-NAS's four scores, MeCo,
# EPE-NAS, SWAP), stage after stage, exporting each stage's scores to results/modern_proxies/ every
# INTERVAL seconds and when it finishes, and committing those exports (a later session imports
# them instead of recomputing: `gradsign store import results/modern_proxies/*.csv.gz --store
# runs/modern.sqlite`). Resumable: rerun it and every stored (cell, proxy) is skipped. The cells
# are those of the committed evaluate runs: NB201 CIFAR-10 1,000 (seed 0), CIFAR-100 /
# ImageNet16-120 500, NB101 292, DARTS 725.
#
#   scripts/run_modern_proxies.sh [STORE] [INTERVAL]     (defaults: runs/modern.sqlite, 1800)
#   STAGES=swap_c100,swap_in16 scripts/run_modern_proxies.sh     (only these stages, in the order below)
#
# Two processes with disjoint STAGES use both cores of a 2-core machine on one store.
#
# One in-process worker with one thread by default. The scores do not depend on the backend: on an
# idle machine EVALUATE_ARGS="--backend process --workers 2" uses both cores (one stage at a time).
# On DARTS the cheap MeCo pair runs before AZ-NAS's scores (about 20 CPU-s per cell on this
# machine, 4 h for the 725 cells); EPE-NAS there (about 15 s per cell) and SWAP everywhere come last.
set -euo pipefail
cd "$(dirname "$0")/.."
store=${1:-runs/modern.sqlite}
interval=${2:-1800}
gradsign=${GRADSIGN:-.venv/bin/gradsign}
AZ=az_expressivity,az_progressivity,az_trainability,az_complexity
out=results/modern_proxies

export_stage() {  # space dataset proxies [commit message]
    local space=$1 dataset=$2 proxies=$3 files=()
    for proxy in ${proxies//,/ }; do
        local f="$out/${space}_${dataset}_seed0_bs64_${proxy}.csv.gz"
        # A temporary name first: an interrupted export never replaces a good file.
        if "$gradsign" store export --store "$store" --space "$space" --dataset "$dataset" --proxy "$proxy" \
                --output "$f.part.gz" >/dev/null; then
            mv "$f.part.gz" "$f"
            files+=("$f")
        fi
    done
    if (( ${#files[@]} )); then
        for _ in 1 2 3; do  # only these files, whatever else is staged; retry if git is busy
            git add -- "${files[@]}" && git commit -q -m "results: modern proxies on $space $dataset, $(zcat "${files[0]}" | tail -n +2 | wc -l) rows (${4:-checkpoint export})" -- "${files[@]}" && break
            sleep 5
        done || true
        [[ -z "$(git status --porcelain -- "${files[@]}" 2>/dev/null)" ]] \
            || echo "warning: could not commit the $space $dataset exports (git busy?); they are written: commit them by hand" >&2
    fi
}

stage() {  # name space dataset sample proxies
    local name=$1 space=$2 dataset=$3 sample=$4 proxies=$5
    ( while sleep "$interval"; do export_stage "$space" "$dataset" "$proxies"; done ) &
    local checkpoints=$! status=0
    # Exit 1 = some proxy failed on every cell (the others' scores are stored): export them and go on.
    # Anything else (Ctrl-C, a refused argument) stops here, after the export.
    "$gradsign" evaluate --space "$space" --dataset "$dataset" --sample "$sample" --seed 0 --proxies "$proxies" \
        --store "$store" --output "runs/eval_modern_${name}" ${EVALUATE_ARGS:-} || status=$?
    kill "$checkpoints" 2>/dev/null || true
    export_stage "$space" "$dataset" "$proxies" "stage finished, evaluate exit $status"
    if (( status > 1 )); then exit "$status"; fi
}

# name space dataset sample proxies. SWAP (swap + swap_reg share their 32 forwards) comes last:
# about 2.7 s per NB201 cell, 15 s per NB101 cell and 10 s per DARTS cell on one thread here.
STAGE_LIST=(
    "c10 nb201 cifar10 1000 $AZ,meco,meco_opt,epe_nas"
    "nb101 nb101 cifar10 all $AZ,meco,meco_opt,epe_nas"
    "c100 nb201 cifar100 500 $AZ,meco,meco_opt,epe_nas"
    "in16 nb201 ImageNet16-120 500 $AZ,meco,meco_opt,epe_nas"
    "darts_meco darts cifar10 all meco,meco_opt"
    "darts_az darts cifar10 all $AZ"
    "swap_c10 nb201 cifar10 1000 swap,swap_reg"
    "swap_c100 nb201 cifar100 500 swap,swap_reg"
    "swap_in16 nb201 ImageNet16-120 500 swap,swap_reg"
    "swap_nb101 nb101 cifar10 all swap,swap_reg"
    "epe_darts darts cifar10 all epe_nas"
    "swap_darts darts cifar10 all swap,swap_reg"
)
known=""
for entry in "${STAGE_LIST[@]}"; do known+="${entry%% *} "; done
IFS=, read -ra wanted <<<"${STAGES:-}"
for name in "${wanted[@]}"; do
    [[ " $known " == *" $name "* ]] || { echo "error: unknown stage '$name' in STAGES" >&2; exit 2; }
done
for entry in "${STAGE_LIST[@]}"; do
    read -r name space dataset sample proxies <<<"$entry"
    if [[ -z "${STAGES:-}" || ",${STAGES}," == *",$name,"* ]]; then
        stage "$name" "$space" "$dataset" "$sample" "$proxies"
    fi
done
