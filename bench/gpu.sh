#!/usr/bin/env bash
# Issue 8's GPU measurements in one short run (under 8 minutes) on one H100 or H200: builds a full-size VARGPT
# (VARGPTConfig() defaults: Vicuna-7B, CLIP ViT-L/14-336, VAR-d30) with random weights in bf16 on the GPU (no
# download), checks it (parameter count, dtype, device, image shape), and times, through the harness's adapter:
#   - image generation, batched sampler at each batch size vs the released one-image loop, both at the FID
#     sampler settings (cfg 1.5 with guidance, top-k 900, top-p 0.96), and the LLM / VAR / VQ-VAE split;
#   - understanding at batch B vs 1 on GQA-shaped requests (one 336 px image, at most 16 new tokens);
#   - Inception feature throughput, the projected 50,000-image FID run, and MFU against the card's bf16 peak.
#
# Prepare here (a machine with PyPI):  bash bench/gpu_wheels.sh        (wheels into .whl/, git-ignored)
# Run on the device machine:           bash bench/gpu.sh              (device tool: carry [".whl"], timeout 600)
# Dry-run the same path on a CPU:      bash bench/gpu.sh --dry-run    (small random model, --quick)
# Results: $OUT/bench-gpu.json (every number), $OUT/bench-gpu.md (tables), $OUT/bench-gpu.log, $OUT/env.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
OUT=${OUT:-$REPO/bench/runs}
mkdir -p "$OUT"
PYTHON=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

DRY_RUN=0
[ "${1:-}" = "--dry-run" ] && DRY_RUN=1

# 1. Packages the GPU image lacks, from the carried wheels; the repository itself is put on the path, with a
#    dist-info holding its task entry points (the registry finds tasks through them), so nothing is built.
SITE=$(mktemp -d /tmp/bench-site.XXXXXX)
if [ "$DRY_RUN" = 0 ] && ls .whl/*.whl >/dev/null 2>&1; then  # (the wheels are for the GPU image's Python 3.12)
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl \
        || { echo "gpu.sh: installing .whl/ failed" >&2; exit 3; }
fi
"$PYTHON" - "$SITE" <<'PY' || { echo "gpu.sh: could not write the entry points" >&2; exit 3; }
import pathlib, sys, tomllib
project = tomllib.loads(pathlib.Path("pyproject.toml").read_text())["project"]
info = pathlib.Path(sys.argv[1]) / "vargpt_evals-0+bench.dist-info"
info.mkdir(parents=True, exist_ok=True)
(info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: vargpt-evals\nVersion: {project['version']}\n")
groups = project.get("entry-points", {})
(info / "entry_points.txt").write_text("".join(
    f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in entries.items()) + "\n" for group, entries in groups.items()))
PY
export PYTHONPATH="$REPO:$SITE${PYTHONPATH:+:$PYTHONPATH}"

# 2. What the machine is (kept with the results), and a fast failure if an import is missing.
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(git rev-parse HEAD 2>/dev/null || echo 'unknown here: record the commit of the checkout that was sent')"
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
    grep -m1 "model name" /proc/cpuinfo
} | tee "$OUT/env.txt"
"$PYTHON" - <<'PY' 2>&1 | tee -a "$OUT/env.txt" || { echo "gpu.sh: preflight failed" >&2; exit 4; }
import importlib, torch
for name in ("torch", "transformers", "tokenizers", "datasets", "pyarrow", "torch_fidelity", "numpy"):
    try:
        print(name, importlib.import_module(name).__version__)
    except Exception as error:  # reported; the bench falls back where it can (datasets: synthetic GQA-shaped requests)
        print(name, "MISSING", type(error).__name__, error)
import evals.bench.command  # noqa: F401  (fails here, in seconds, rather than after the model is built)
print("cuda", torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else "")
PY

# 3. The measurements: batch sizes 1, 8, 32 (and 64 where the card has the memory: ~20 GB of KV caches at 64).
if [ "$DRY_RUN" = 1 ]; then
    ARGS=(--device cpu --model random-small --quick --batch-sizes 1,2 --sections text,images,split,inception,mfu)
else
    MEM_MIB=$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits 2>/dev/null | head -1)
    SIZES=1,8,32
    [ "${MEM_MIB:-0}" -gt 100000 ] && SIZES=1,8,32,64
    ARGS=(--device cuda --batch-sizes "$SIZES" --repeats 3)
fi
START=$(date +%s)
timeout 480 "$PYTHON" -m evals bench "${ARGS[@]}" --output "$OUT/bench-gpu.json" > "$OUT/bench-gpu.md" 2> "$OUT/bench-gpu.log"
STATUS=$?
cat "$OUT/bench-gpu.md"
tail -5 "$OUT/bench-gpu.log"
echo "gpu.sh: bench exit $STATUS after $(( $(date +%s) - START )) s; numbers in $OUT/bench-gpu.json"
exit $STATUS
