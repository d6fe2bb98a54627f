#!/usr/bin/env bash
# Score a training run's step checkpoints while it trains, without the two competing for the CPU:
# for each new checkpoint at a multiple of EVERY steps, the trainer is paused (SIGSTOP), the
# checkpoint's weights are copied to runs/probes/TAG-STEP (the trainer keeps only its newest two)
# and scored with `translate eval`, then the trainer continues (SIGCONT). One line per probe is
# appended to runs/probes/summary.txt. Used to compare GAN recipes early (scripts/train_sr.sh).
#
#   bash scripts/probe_checkpoints.sh RUN TRAINER_PID TAG DATA [EVERY] [METRICS...]
#   e.g. nohup bash scripts/probe_checkpoints.sh runs/photo-x4-srgan "$pid" A data/photo-x4 500 psnr_y fid kid &
#
# A probe of 200 ×4 crops of 384 px with psnr_y fid kid in bf16 takes about 2 minutes here.
# EVERY must be a multiple of the run's --checkpoint-every, and checkpoints must come more than
# 20 s apart: the folder is polled every 20 s, and the trainer deletes all but its newest two.
set -uo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 4 ] || { sed -n 2,13p "$0"; exit 2; }
run=$1 pid=$2 tag=$3 data=$4 every=${5:-500}
metrics=("${@:6}")
[ ${#metrics[@]} -gt 0 ] || metrics=(psnr_y fid kid)
kill -0 "$pid" 2>/dev/null || { echo "no process $pid" >&2; exit 1; }
mkdir -p runs/probes
while :; do
  for dir in "$run"/checkpoints/step_*; do
    [ -f "$dir/model.safetensors" ] || continue
    step=$((10#${dir##*step_}))
    (( step % every == 0 )) || continue
    out=runs/probes/$tag-$step
    [ -d "$out" ] && continue
    kill -STOP "$pid" 2>/dev/null
    mkdir -p "$out" && cp "$dir/config.json" "$dir/model.safetensors" "$out/"
    .venv/bin/translate eval --checkpoint "$out" --data "$data" --metrics "${metrics[@]}" --precision bf16 --quiet \
      --json "$out/eval.json" > "$out/eval.txt" 2>&1
    kill -CONT "$pid" 2>/dev/null
    echo "$tag step $step: $(grep -m1 '^model' "$out/eval.txt")" >> runs/probes/summary.txt
  done
  kill -0 "$pid" 2>/dev/null || break
  sleep 20
done
