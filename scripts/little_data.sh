#!/usr/bin/env bash
# Training on little data: pix2pix with and without discriminator augmentation on 10% of the
# edges→emoji training pairs, same steps, scored on the full held-out split (README table).
#   bash scripts/little_data.sh [SEEDS...]      (default seeds: 0 1)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
SRC=data/edges2emoji64 SUBSET=data/edges2emoji64-10pct OUT=runs/little-data
[ -d "$SRC" ] || { echo "build $SRC first (scripts/train_all.sh does)"; exit 2; }
if [ ! -d "$SUBSET" ]; then  # every 10th training pair (sorted names), the whole test split
  mkdir -p "$SUBSET/train/A" "$SUBSET/train/B"
  ls "$SRC/train/A" | sort | awk 'NR % 10 == 1' | while read -r name; do
    cp "$SRC/train/A/$name" "$SUBSET/train/A/"; cp "$SRC/train/B/$name" "$SUBSET/train/B/"
  done
  cp -r "$SRC/test" "$SUBSET/test"
fi
COMMON=(--data "$SUBSET" --image-size 64 --batch-size 8 --steps 2000 --set generator.ngf=32 --set discriminator.ndf=32
        --set loss.gan=lsgan --set generator.upsample=resize --ema-decay 0.999 --sample-every 0
        --checkpoint-every 100000 --precision bf16 --memory-format contiguous)
seeds=("$@"); [ ${#seeds[@]} -gt 0 ] || seeds=(0 1)
mkdir -p "$OUT"
for seed in "${seeds[@]}"; do
  for policy in none color,translation,cutout; do
    run=$OUT/$policy-seed$seed
    [ -d "$run/final" ] || { rm -rf "$run"; "$PY" -m translate train pix2pix --out "$run" --seed "$seed" "${COMMON[@]}" \
      $( [ "$policy" = none ] || echo "--set augment.policy=$policy" ) > "$OUT-$policy-seed$seed.log" 2>&1; }
    "$PY" -m translate eval --checkpoint "$run/final" --data "$SUBSET" --train-data "$SUBSET/train" --metrics l1 fid kid \
      --json "$run/eval.json" --quiet | grep -E "^model" | sed "s|^model|$policy seed $seed|"
  done
done
