# Shared by the training queues (train_all.sh, train_sr.sh, train_cbn.sh); source it, don't run it.
#
# train NAME PIPELINE ARGS...: start runs/NAME with ARGS, resume it when it has a run.json, or
# skip it when runs/NAME/final exists. A stopped run (Ctrl-C, SIGTERM, end of a session) keeps
# its newest checkpoint, so calling the queue again continues where it stopped.
PY=${PY:-.venv/bin/python}
translate() { "$PY" -m translate "$@"; }
mkdir -p runs

# Precision pinned rather than timed at start-up (`--precision auto` can choose wrong on a busy
# machine): bf16 + channels_last was the fastest for the cbn, SRResNet and 64-px CycleGAN steps in
# bench/train_step.py (README, Precision and speed). Without native bf16, `auto` times the rest.
BF16_CL=()
if "$PY" -c "import sys, torch; from translate.runtime import bf16_supported; sys.exit(not bf16_supported(torch.device('cpu')))"; then
  BF16_CL=(--precision bf16 --memory-format channels_last)
fi

train() {
  local name=$1 pipeline=$2; shift 2
  local out=runs/$name
  if [ -d "$out/final" ]; then echo "$name: finished"; return 0; fi
  echo "$name: $( [ -f "$out/run.json" ] && echo resuming || echo starting ) at $(date -u +%FT%TZ)"
  local status=0
  if [ -f "$out/run.json" ]; then
    # RESUME_ARGS: settings for a resumed run, e.g. RESUME_ARGS="--precision bf16 --memory-format
    # channels_last" to replace a runtime choice that start-up timing got wrong on a busy machine.
    # shellcheck disable=SC2086
    translate train "$pipeline" --out "$out" --resume ${RESUME_ARGS:-} >> "$out/train.log" 2>&1 || status=$?
  else
    mkdir -p "$out"
    translate train "$pipeline" --out "$out" "$@" >> "$out/train.log" 2>&1 || status=$?
  fi
  echo "$name: stopped at $(date -u +%FT%TZ) (exit $status)"
  return "$status"
}
