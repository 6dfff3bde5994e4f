#!/usr/bin/env bash
# Overfitted coding's Kodak points on a GPU machine: every (image, effort, quality) fitted there in
# batches (benchmarks.overfit --device), coded into .nic files by CPU workers meanwhile, and
# brought back as one tar for `python -m benchmarks.overfit --import-files`, which decodes and
# measures them here beside BPG.
#   prepare (here, once): constriction as a wheel in .whl, the Kodak images in .devkodak (both
#           git-ignored); the shipped weights, checkpoints and result images must be moved out of
#           the tree for the call (it travels whole, 64 MiB at most), and back afterwards
#   run     (there): EFFORTS, BATCH, DEADLINE (seconds after which no batch starts)
set -euo pipefail
mode=${1:?prepare|run}
if [ "$mode" = prepare ]; then
  ${PY:-python3} -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .whl constriction==0.5.0
  mkdir -p .devkodak/kodak && cp "${SRC:-../shared/data/kodak}"/*.png .devkodak/kodak/
  mkdir -p .git/info && for p in /.whl/ /.devkodak/; do grep -qx "$p" .git/info/exclude 2>/dev/null || echo "$p" >> .git/info/exclude; done
  exit 0
fi
OUT=${OUT:-/tmp/gpu_overfit_out}; mkdir -p "$OUT"
[ -n "${NO_WHEELS:-}" ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 NIC_DATA=$PWD/.devkodak
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
set +e
python3 -m benchmarks.overfit --device "${DEVICE:-cuda}" --batch "${BATCH:-12}" --efforts "${EFFORTS:-3,4,5}" \
    --images "${IMAGES:-all}" --qualities "${QUALITIES:-20,40,60,80}" --deadline "${DEADLINE:-470}" \
    --workers "${WORKERS:-12}" ${ITERATIONS:+--iterations $ITERATIONS} --files /tmp/ofiles 2>&1 | tee "$OUT/log.txt"
rc=${PIPESTATUS[0]}
tar -cf "$OUT/overfit_files.tar" -C /tmp ofiles
ls /tmp/ofiles | grep -c nic
exit $rc
