#!/usr/bin/env bash
# GPU variant of the peer benchmarks (≤ 5 minutes on one H100/H200): the same scripts with
# --device cuda, bf16 autocast (fp32 too for the training ratios), default batch sizes and the
# small DiT-S/2 config. Results: benchmarks/results/*_gpu.{json,md} (or $OUT_DIR).
#   bash benchmarks/gpu.sh            PY=python bash benchmarks/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT_DIR:-benchmarks/results}
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
"$PY" -c 'import torch; assert torch.cuda.is_available(), "gpu.sh needs a CUDA torch and a GPU"'
"$PY" benchmarks/gemm_peak.py --device cuda --precision bf16 --batch 64 --steps 10 \
  --tag gpu --out "$OUT"
"$PY" benchmarks/peers_train.py --device cuda --precisions bf16,fp32 --configs tiny,small \
  --steps 10 --warmup 3 --tag gpu --out "$OUT"
"$PY" benchmarks/peers_sample.py --device cuda --precision bf16 --diff-batch 64 --ar-batch 16 \
  --latency-batches 1,16,64 --repeats 3 --tag gpu --out "$OUT"
# issue 14: MaskGIT (K = 8, the CPU run's equal-quality K) vs raster AR latency, 16 → 64 px
"$PY" benchmarks/maskgit_vs_ar.py --speed-only --device cuda --headline-steps 8 --repeats 3 \
  --tag gpu --out "$OUT"
