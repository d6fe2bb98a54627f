#!/usr/bin/env bash
# The resumable queue that trains every shipped checkpoint, one run at a time.
#
#   bash scripts/train_all.sh            # build missing data sets, then train/resume each run in turn
#   nohup bash scripts/train_all.sh > runs/queue.log 2>&1 &
#
# Stopping it (Ctrl-C, SIGTERM, end of a session) leaves each run resumable: the next call
# continues the unfinished run from its newest checkpoint and skips finished ones. Each run
# logs to runs/NAME/train.log. Ship a finished run with scripts/ship_checkpoint.py.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/queue.sh

# ---- data (deterministic builders; data/ is not in git)
[ -d data/emoji64 ] || translate data build emoji data/emoji64 --size 64 --styles noto,openmoji,symbola
[ -d data/edges2emoji64 ] || translate data build edges data/emoji64 data/edges2emoji64 --subfolder B --size 64

# 64×64, narrow networks (ngf 32): what 2 CPU cores train in about 15 minutes each.
# LSGAN and resize+conv upsampling: in 600-step probes on the emoji pairs, the vanilla GAN loss
# ended at held-out L1 0.217, LSGAN at 0.191, resize upsampling at 0.206 (the identity is 0.197);
# the vanilla runs left speckle and checkerboard noise.
PIX2PIX_64=(--image-size 64 --batch-size 8 --set generator.ngf=32 --set discriminator.ndf=32
            --set loss.gan=lsgan --set generator.upsample=resize
            --ema-decay 0.999 --checkpoint-every 500 --sample-every 1000 --val-every 1000)

train emoji-noto2openmoji-pix2pix pix2pix --data data/emoji64 --steps 6000 "${PIX2PIX_64[@]}" \
  --description "Noto Color Emoji drawings to the OpenMoji style, 64×64"
train edges2emoji-pix2pix pix2pix --data data/edges2emoji64 --steps 6000 "${PIX2PIX_64[@]}" \
  --description "Edge drawings (black lines on white) to colour emoji in the OpenMoji style, 64×64"

# CycleGAN at 64×64 with a narrow ResNet generator (ngf 32, 6 blocks): at 256² CycleGAN trains at
# about 0.15 images/s on these 2-core machines. Batch 1, LSGAN, pool 50, cycle 10, identity 0.5
# (CycleGAN's recipe); the emoji pairs are sampled unpaired (each A with a random B).
CYCLEGAN_64=(--image-size 64 --batch-size 1 --set generator.ngf=32 --set generator.n_blocks=6
             --set discriminator.ndf=32 --ema-decay 0.999 --checkpoint-every 2000 --checkpoint-minutes 10
             --sample-every 2000 --val-every 2000)

train emoji-noto2openmoji-cyclegan cyclegan --data data/emoji64 --steps 12000 "${CYCLEGAN_64[@]}" \
  --set domain_a=noto --set domain_b=openmoji \
  --description "Noto Color Emoji drawings to the OpenMoji style and back, 64×64, trained unpaired"

# Then the class-conditional queue (resumable the same way); the super-resolution one runs last.
bash scripts/train_cbn.sh
# horse2zebra on Animal-MNIST's horse and zebra folders (data/animals32, built by train_cbn.sh):
# white horse silhouettes and striped zebras, 900 training images each, scored by class with the
# animals classifier (scripts/ship_checkpoint.py --classifier runs/classifier-animals). 32 px, so
# the issue's narrow generator (ngf 32, 6 blocks) and batch 8; a 2-layer PatchGAN, whose 34-px
# receptive field covers the image; adaptive translation+cutout augmentation for D, the only
# teacher here with 900 images a domain; 6,000 steps of 8 are about 53 epochs of each domain.
train horse2zebra-cyclegan cyclegan --data data/animals32 --steps 6000 --image-size 32 --batch-size 8 \
  --set domain_a=horse --set domain_b=zebra --set data.input_channels=1 --set data.output_channels=1 \
  --set generator.ngf=32 --set generator.n_blocks=6 --set generator.upsample=resize \
  --set discriminator.ndf=32 --set discriminator.n_layers=2 --set augment.policy=translation,cutout \
  "${BF16_CL[@]}" --ema-decay 0.999 --checkpoint-every 500 --checkpoint-minutes 10 --sample-every 1000 --val-every 1000 \
  --description "Horse silhouettes to striped zebras and back (Animal-MNIST, 32×32 greyscale), trained unpaired"

# CycleGAN v2: v1 above missed its bar (held-out KID×1000 40.7 ± 4.2 against the identity's
# 23.9 ± 2.9; speckled outputs, README). Changed, each for a measured reason: resize + conv
# upsampling (it removed speckle and checkerboard in the pix2pix probes), batch 4 (the batch-1
# step kept about 1.1 of the 2 cores busy), bf16 + channels_last pinned (fastest for this step
# in bench/train_step.py), and 8,000 steps of 4 (about 26 epochs where v1 saw 10; at the
# 4.4 images/s this step runs here, 2 h, which fits in one session).
train emoji-noto2openmoji-cyclegan-v2 cyclegan --data data/emoji64 --steps 8000 --image-size 64 --batch-size 4 \
  --set generator.ngf=32 --set generator.n_blocks=6 --set generator.upsample=resize --set discriminator.ndf=32 \
  "${BF16_CL[@]}" --ema-decay 0.999 --checkpoint-every 1000 --checkpoint-minutes 10 --sample-every 2000 --val-every 2000 \
  --set domain_a=noto --set domain_b=openmoji \
  --description "Noto Color Emoji drawings to the OpenMoji style and back, 64×64, trained unpaired"

# Last, the super-resolution queue (about 2.3 h: two psnr runs of 4k steps, then 1.5k gan steps).
bash scripts/train_sr.sh
