#!/usr/bin/env bash
# Joint fine-tune of the fidelity model on a GPU machine, with the same
# training script as on CPU.  The training photos do not fit in one transfer (64 MiB), so they
# travel in two parts, .devdata1 and .devdata2 (git-ignored copies of ../shared/data/train), and
# compressai as a wheel in .whl.  Modes:
#   prepare (here, once) builds .devdata1/.devdata2 and .whl and lists them in .git/info/exclude;
#           move the shipped weights and result images out of the tree before a device call
#           (the whole tree travels and must stay under 64 MiB with the data part)
#   smoke   imports, a short run per batch size (s/step), the --fit-minutes path, a profile of
#           20 steps at batch 64 (top operators, host share); data part 1 only
#   train   VARIANTS side by side on the one GPU for MINUTES each; slim fp16 checkpoints and
#           logs to $OUT.  A second `train` on the same (warm) machine continues each variant's
#           run (INIT=/tmp/runA/last.safetensors) and lays a new schedule from there.
#           Default start: checkpoints/joint9, model 7's network and
#           checkpoints/chctx9's channel slices already trained together for 3,109 CPU steps
#           (Kodak estimate -0.6% against that start, about -1.1% against model 8); a joint
#           checkpoint, so no --init-context.  INIT=checkpoints/joint-gpu/last.safetensors
#           INIT_CONTEXT=checkpoints/chctx9/last.safetensors starts from model 7 + slices instead.
# DEVICE=cpu runs the same thing here, to check the script before spending device time.
#
# Model 7 (one H100, 15 minutes of GPU time in all): `smoke` on part 1, then
# `MINUTES=7.6 ... train`, then `INIT=/tmp/runA/last.safetensors MINUTES=4.1 ... train` (which
# resumed runA: 6,779 + 3,061 steps at 0.046 s/step, three runs sharing the GPU).  Variant A
# shipped; B ended with 0.4% more bits at the same held-out PSNR; C (batch 64 at 2e-4) turned NaN near step 3,000,
# before train.fidelity skipped non-finite steps.
set -euo pipefail
mode=${1:?prepare|smoke|train}
if [ "$mode" = prepare ]; then
  src=${SRC:-../shared/data/train}
  rm -rf .devdata1 .devdata2 && mkdir -p .devdata1/wikipedia .devdata2/wikipedia .devdata2/imagenet_sample
  n=0
  for f in $(ls "$src"/wikipedia/*.webp | sort); do  # about 52 MB in part 1, the rest in part 2
    s=$(stat -c %s "$f"); if [ $((n + s)) -lt 52000000 ]; then cp "$f" .devdata1/wikipedia/; n=$((n + s)); else cp "$f" .devdata2/wikipedia/; fi
  done
  cp "$src"/imagenet_sample/*.JPEG .devdata2/imagenet_sample/
  ${PY:-python3} -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_34_x86_64 --platform manylinux_2_17_x86_64 -d .whl compressai==1.2.8 pytorch-msssim
  mkdir -p .git/info && for p in /.whl/ /.devdata1/ /.devdata2/; do grep -qx "$p" .git/info/exclude 2>/dev/null || echo "$p" >> .git/info/exclude; done
  du -sh .devdata1 .devdata2 .whl
  exit 0
fi
MINUTES=${MINUTES:-7}
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-/tmp/gpu_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PY=${PY:-python3}
if ! $PY -c "import compressai" 2>/dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
DATA=/tmp/nic_train
mkdir -p $DATA
for p in .devdata1 .devdata2; do if [ -d $p ]; then cp -r $p/. $DATA/; fi; done
echo "data: $(find $DATA -type f | wc -l) files, $(du -sm $DATA | cut -f1) MB"
INIT=${INIT:-checkpoints/joint9/last.safetensors}  # network + channel slices, trained together
# A separate context checkpoint (INIT_CONTEXT=checkpoints/chctx9/...) joins a network-only or
# checkerboard --init and replaces its context; a joint channel checkpoint such as joint9, or a
# run continued on a warm machine (INIT=/tmp/runA/last.safetensors), needs none.
INIT_CONTEXT=${INIT_CONTEXT-}
common="--device $DEVICE --data $DATA --init $INIT ${INIT_CONTEXT:+--init-context $INIT_CONTEXT} --t-min -3 --threads 3 --ckpt-minutes 2"
if [ "$mode" = smoke ]; then
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  $PY -c "import torch, numpy, compressai; print('torch', torch.__version__, 'numpy', numpy.__version__, 'compressai', compressai.__version__)"
  $PY -m hific_codec.train.fidelity $common --run-dir /tmp/smoke16 --batch 16 --crop 256 --lr 1e-5 \
      --fit-minutes ${SMOKE_MINUTES:-0.4} --eval-every 100
  # where a step's time goes (GPU kernels vs host-side batches): model 7's run saw 0.046 s/step at
  # batch 16 with three runs sharing the GPU, far above the convolutions' FLOP count
  $PY -m hific_codec.train.fidelity $common --run-dir /tmp/smoke64 --batch 64 --crop 256 --lr 1e-5 \
      --steps 100000 --eval-every 100000 --profile ${SMOKE_PROFILE:-20}
  $PY -m hific_codec.checkpoint slim /tmp/smoke16/last.safetensors "$OUT/smoke16.safetensors"
  exit 0
fi
sched="--warmup 500 --lr-final 1e-5 --decay-frac 0.6 --eval-every 2000 --fit-minutes $MINUTES"
run() {  # name batch crop lr
  $PY -m hific_codec.train.fidelity $common $sched --run-dir /tmp/run$1 --batch $2 --crop $3 --lr $4 > "$OUT/$1.log" 2>&1
  $PY -m hific_codec.checkpoint slim /tmp/run$1/last.safetensors "$OUT/$1.safetensors"
}
VARIANTS=${VARIANTS:-"A:16:256:1e-4 B:32:192:1.5e-4 C:64:256:2e-4"}  # name:batch:crop:peak LR
for v in $VARIANTS; do IFS=: read -r name batch crop lr <<< "$v"; run "$name" "$batch" "$crop" "$lr" & done
wait
for v in $VARIANTS; do name=${v%%:*}; echo "== $name"; grep -E "^\{|s/step: sched|saved" "$OUT/$name.log" | tail -6; done
