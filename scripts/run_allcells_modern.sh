#!/usr/bin/env bash
# Score all 15,625 NB201 CIFAR-10 cells with the proxies the 2026-12-05 all-cells run did not
# have (the modern ones of issue #22 and the cheap baselines added since), resumably, with
# checkpoint exports committed every INTERVAL seconds (scripts/export_checkpoints.sh), so that
# a later session on another machine imports them and goes on:
#
#   gradsign store import results/nb201_cifar10_allcells_seed0_bs64_*.csv.gz --store runs/allcells.sqlite
#   scripts/run_allcells_modern.sh [STORE] [INTERVAL]     (defaults: runs/allcells.sqlite, 1800)
#
# One in-process worker with one thread (the other core stays free on a 2-core machine); on an
# idle machine EVALUATE_ARGS="--backend process --workers 2" uses both cores (the scores do not
# depend on the backend). About 2.5 CPU-seconds per cell without
# swap/swap_reg, which add about 3 s more: the space is a multi-session run.
set -euo pipefail
cd "$(dirname "$0")/.."
store=${1:-runs/allcells.sqlite}
interval=${2:-1800}
gradsign=${GRADSIGN:-.venv/bin/gradsign}
# Cheapest first: the early cells then have every cheap proxy, whatever the run reaches.
# PROXIES=a,b,... scores a subset first (e.g. the recommended ensemble's members, which the
# proxy-assisted searches need on every cell); a later run with the default list fills in the rest.
P=${PROXIES:-params,flops,l2_norm,meco_opt,meco,naswot,zen,az_expressivity,az_progressivity,az_trainability,az_complexity,epe_nas,zico}

scripts/export_checkpoints.sh --commit "$store" cifar10 "$interval" ${P//,/ } &
checkpoints=$!
trap 'kill $checkpoints 2>/dev/null || true' EXIT
# Finished or interrupted (kill -TERM the evaluate process to stop early), the last export below runs:
# the cells scored since the last checkpoint are committed too, and the script exits with evaluate's status.
status=0
"$gradsign" evaluate --space nb201 --dataset cifar10 --sample all --seed 0 --proxies "$P" \
    --store "$store" --output runs/eval_c10_allcells_modern ${EVALUATE_ARGS:-} || status=$?
kill $checkpoints 2>/dev/null || true
wait $checkpoints 2>/dev/null || true
# A last export of everything, committed (interval 0: once, now).
CHECKPOINT_NOTE="final export, evaluate exit $status" scripts/export_checkpoints.sh --commit "$store" cifar10 0 ${P//,/ } \
    || echo "run_allcells_modern: the final export is incomplete (see above); the store has every score" >&2
exit $status
