#!/bin/bash
# Rerun the README's training chain from random weights into DIR (default runs/chain): every stage of the
# shipped models, each wall-clock budget replaced by the step count it amounted to in the original run
# (steps done x budget / minutes taken), so the learning-rate cosine follows steps, not the machine's speed;
# early stopping (patience) stays as it was. A stage with a `done` marker (its wall seconds) is skipped, so
# the script continues where an interrupted rerun stopped (an unfinished stage starts again).
# Usage: bash checkpoints/reproduction/rerun_chain.sh [DIR]    (needs `mediqa` with the [train] extra)
set -uo pipefail
mkdir -p "${1:-runs/chain}" && cd "${1:-runs/chain}"
mkdir -p logs runs
stage() {  # name, then the command
  local name=$1; shift
  if [ -f runs/$name/done ]; then echo "skip $name"; return 0; fi
  [ "${1}" = "mediqa" ] && [ "${3}" != "interpolate" ] && rm -rf runs/$name
  echo "$(date -u +%FT%T) start $name: $*"
  local t0=$(date +%s)
  "$@" > logs/$name.log 2>&1 || { echo "$(date -u +%FT%T) FAILED $name (rc $?)"; exit 1; }
  mkdir -p runs/$name; echo $(( $(date +%s) - t0 )) > runs/$name/done
  echo "$(date -u +%FT%T) end $name ($(cat runs/$name/done) s)"
}
stage pretrain mediqa train pretrain --out runs/pretrain --config cnn-pyramid-gn --precision bf16 \
      --minutes 600 --max-steps 976 --eval-every 150 --patience 8
stage finetune mediqa train finetune --out runs/finetune --init runs/pretrain/best.pt --precision bf16 \
      --minutes 600 --max-steps 3364 --lr 2e-4 --eval-every 150 --patience 8
stage paired mediqa train finetune --out runs/paired --init runs/finetune/best.pt --seed 1 --precision bf16 \
      --paired 0.75 --physics-weight 0.5 --lr 1e-4 --minutes 600 --max-steps 9692 --eval-every 400 --patience 10
stage augment mediqa train finetune --out runs/augment --init runs/paired/best.pt --seed 12 --augment \
      --paired 0.75 --series 0.3 --physics-weight 0.5 --lr 1e-4 --select heldout \
      --minutes 600 --max-steps 3291 --eval-every 200 --patience 6 --precision fp32
stage wise mediqa train interpolate --init runs/paired/best.pt --finetuned runs/augment/best.pt --alpha 0.5 \
      --out runs/wise/best.pt
stage floor mediqa train finetune --out runs/floor --init runs/wise/best.pt --seed 15 --augment \
      --ct-noise-floor 0.75 --ct-noise-floor-hu 1,4 \
      --paired 0.75 --series 0.3 --physics-weight 0.5 --lr 1e-4 --select heldout \
      --minutes 600 --max-steps 2353 --eval-every 200 --patience 6 --precision fp32
stage floor-wise mediqa train interpolate --init runs/wise/best.pt --finetuned runs/floor/best.pt --alpha 0.5 \
      --out runs/floor-wise/best.pt
stage res mediqa train finetune --out runs/res --init runs/floor-wise/best.pt --seed 17 --augment --ct-resolution \
      --ct-noise-floor 0.75 --ct-noise-floor-hu 1,4 \
      --paired 0.75 --series 0.3 --physics-weight 0.5 --lr 1e-4 --select heldout \
      --minutes 600 --max-steps 3043 --eval-every 200 --patience 6 --precision fp32
stage res-wise mediqa train interpolate --init runs/floor-wise/best.pt --finetuned runs/res/best.pt --alpha 0.5 \
      --out runs/res-wise/best.pt
stage res2 mediqa train finetune --out runs/res2 --init runs/res-wise/best.pt --seed 18 --augment --ct-resolution \
      --ct-noise-floor 0.75 --ct-noise-floor-hu 1,4 \
      --paired 0.75 --series 0.3 --physics-weight 0.5 --lr 1e-4 --select heldout \
      --minutes 600 --max-steps 2555 --eval-every 200 --patience 6 --precision fp32
stage res2-wise mediqa train interpolate --init runs/res-wise/best.pt --finetuned runs/res2/best.pt --alpha 0.5 \
      --out runs/res2-wise/best.pt
stage classifier mediqa train classifier --out runs/classifier --minutes 600 --max-steps 1500 --threads 1 --eval-every 150 \
      --precision bf16
echo "$(date -u +%FT%T) chain done"
