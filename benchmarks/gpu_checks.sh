#!/usr/bin/env bash
# The GPU half of the checks, in one go on a machine with CUDA (issue 12): the CUDA tests and the
# chapters run side by side (neither is timed), then the training benchmark runs alone.
#   OUT=folder bash benchmarks/gpu_checks.sh
# Needs torch with CUDA, numpy, matplotlib, pytest, and nbclient + ipykernel + ipywidgets for the
# chapters. Every log lands in $OUT.
set -u
OUT=${OUT:-gpu-checks}
mkdir -p "$OUT"
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 CNNBOOK_OFFLINE=1 MPLBACKEND=Agg
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  python3 -c "import torch, numpy; print('torch', torch.__version__, 'CUDA', torch.version.cuda, 'numpy', numpy.__version__, 'bf16', torch.cuda.is_bf16_supported())"
  nproc
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

OMP_NUM_THREADS=2 timeout 240 python3 scripts/run_chapters.py --jobs 7 > "$OUT/chapters.txt" 2>&1 &
chapters=$!
timeout 240 python3 -m pytest -q -p no:cacheprovider -m gpu tests/training tests/torch_ref tests/data \
  > "$OUT/gpu-tests.txt" 2>&1
echo "gpu tests rc=$?"; tail -5 "$OUT/gpu-tests.txt"
wait $chapters; echo "chapters rc=$?"; cat "$OUT/chapters.txt"

cp benchmarks/RESULTS.md "$OUT/RESULTS.before.md"
timeout 300 python3 benchmarks/bench_gpu.py --write > "$OUT/bench-gpu.txt" 2>&1
echo "bench rc=$?"; cat "$OUT/bench-gpu.txt"
cp benchmarks/RESULTS.md "$OUT/RESULTS.md"
