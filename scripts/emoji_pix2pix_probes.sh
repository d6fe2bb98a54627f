#!/usr/bin/env bash
# Noto → OpenMoji pix2pix: the queue's run (scripts/train_all.sh) missed the shipping bar, KID
# below the identity's. Its log shows the discriminator winning outright (LSGAN d ≈ 0.002, g_gan ≈ 1
# for the last thousands of steps) and its outputs are faint, washed-out drawings. These runs
# change one lever each from the same recipe (6,000 steps of batch 8, 64 px, ngf 32) and score
# every one on the held-out split with the baselines (README, Noto → OpenMoji pix2pix):
#   ada        adaptive DiffAugment (color, translation, cutout) on D's inputs, to keep D from winning
#   l1w10      reconstruction weight 10 instead of 100, so the adversarial term can sharpen
#   ada-l1w10  both
#   queue      no training: rescores the queue's run (runs/emoji-noto2openmoji-pix2pix) beside them
#   bash scripts/emoji_pix2pix_probes.sh [VARIANT...]     (default: all four; finished runs are rescored)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/queue.sh
[ -d data/emoji64 ] || { echo "build data/emoji64 first (scripts/train_all.sh does)"; exit 2; }
COMMON=(--data data/emoji64 --steps 6000 --image-size 64 --batch-size 8 --set generator.ngf=32 --set discriminator.ndf=32
        --set loss.gan=lsgan --set generator.upsample=resize "${BF16_CL[@]}" --ema-decay 0.999
        --checkpoint-every 1000 --sample-every 2000 --val-every 2000)
ADA=(--set augment.policy=color,translation,cutout)
L1W10=(--set loss.reconstruction_weight=10)
variants=("$@"); [ ${#variants[@]} -gt 0 ] || variants=(queue ada l1w10 ada-l1w10)
for variant in "${variants[@]}"; do
  case $variant in
    ada) extra=("${ADA[@]}") ;;
    l1w10) extra=("${L1W10[@]}") ;;
    ada-l1w10) extra=("${ADA[@]}" "${L1W10[@]}") ;;
    queue) extra=() ;;
    *) echo "unknown variant $variant (queue, ada, l1w10, ada-l1w10)"; exit 2 ;;
  esac
  name=emoji-noto2openmoji-pix2pix-$variant
  [ "$variant" = queue ] && name=emoji-noto2openmoji-pix2pix  # trained by scripts/train_all.sh
  train "$name" pix2pix "${COMMON[@]}" "${extra[@]}" \
    --description "Noto Color Emoji drawings to the OpenMoji style, 64×64 (probe: $variant)"
  translate eval --checkpoint "runs/$name/final" --data data/emoji64 --metrics l1 fid kid \
    --json "runs/$name/eval.json" --quiet | grep -E "^(model|identity|nearest)" | sed "s|^|$variant: |"
done
