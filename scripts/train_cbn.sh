#!/usr/bin/env bash
# The resumable queue of the class-conditional (cbn) checkpoints, their classifiers and scores.
#
#   bash scripts/train_cbn.sh            # build missing data, train/resume each step in turn
#   nohup bash scripts/train_cbn.sh > runs/cbn-queue.log 2>&1 &
#
# Like scripts/train_all.sh: stopping it leaves each run resumable and the next call continues
# the unfinished one; finished steps are skipped. In order:
#   1. data: Animal-MNIST at 32×32 (a folder per class), emoji in three styles (styles/ of emoji64:
#      a folder per style, split by code point like every emoji set);
#   2. the independent classifiers, on real training images only (held-out accuracy = the ceiling);
#   3. animals-cbn (generation) and emoji-styles-cbn (translation).
# Scores and grids for the model cards come from scripts/ship_checkpoint.py NAME --classifier
# runs/classifier-..., which runs translate eval-classes on the fp16 weights it ships.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/queue.sh

# ---- data (deterministic builders; data/ is not in git)
[ -d data/animals32 ] || translate data build animals data/animals32 --size 32
[ -d data/emoji64 ] || translate data build emoji data/emoji64 --size 64 --styles noto,openmoji,symbola
ANIMALS=bear,bird,cat,cow,dog,elephant,giraffe,horse,sheep,zebra  # the folders of data/animals32/train
STYLES=noto,openmoji,symbola

# ---- classifiers: small CNNs on real images at 32×32 (style and silhouette are clear at that size)
classifier() {
  local name=$1; shift
  if [ -f "runs/$name/config.json" ]; then echo "$name: finished"; return; fi
  echo "$name: starting at $(date -u +%FT%TZ)"
  "$PY" scripts/train_classifier.py --out "runs/$name" "$@" > "runs/$name.log" 2>&1
  tail -n 12 "runs/$name.log"
}
classifier classifier-animals --data data/animals32 --image-size 32 --channels 1 --steps 3000 --workers 2
classifier classifier-emoji-styles --data data/emoji64/styles --image-size 32 --channels 3 --steps 2000 --workers 2

# (BF16_CL, from scripts/queue.sh: bf16 + channels_last where the CPU runs bf16 natively.)
# Generation, 32×32 grey, 10 classes: BigGAN-style G (CBN in every block, ngf 32: 1.5M
# parameters), projection D with spectral norm (ndf 32: 0.6M), hinge loss, TTUR (lr 1e-4 / 4e-4,
# beta1 0), EMA of G. Measured on a loaded 2-core machine (1 thread): 1.45 s per step of 64 in bf16.
train animals-cbn cbn --data data/animals32 --steps 10000 --batch-size 64 --image-size 32 "${BF16_CL[@]}" \
  --set mode=generation --set classes=$ANIMALS \
  --set data.input_channels=1 --set data.output_channels=1 --set data.preprocess=crop \
  --set noise_generator.ngf=32 --set discriminator.ndf=32 \
  --ema-decay 0.999 --checkpoint-every 500 --sample-every 1000 \
  --description "Animal-MNIST silhouettes of a requested class (or a blend) from noise, 32×32"

# Translation between the three styles of the same emoji, 64×64: ResNet G with CBN (ngf 32, 6
# blocks), projection D (ndf 32), hinge, cycle term 10, and the paired L1 to the same emoji in
# the target style (weight 10): the styles are aligned by code point. 2.8 s per step of 16 (bf16,
# 1 thread, loaded machine).
train emoji-styles-cbn cbn --data data/emoji64/styles --steps 6000 --batch-size 16 --image-size 64 "${BF16_CL[@]}" \
  --set mode=translation --set classes=$STYLES \
  --set generator.ngf=32 --set discriminator.ndf=32 --set loss.paired_weight=10 \
  --ema-decay 0.999 --checkpoint-every 500 --sample-every 1000 --val-every 1000 \
  --description "An emoji drawn in one style (Noto, OpenMoji, Symbola line art) redrawn in another, 64×64"
