#!/usr/bin/env bash
# The GPU benchmarks in one go, for a CUDA machine that has python3 with torch but no
# onnxruntime-gpu (such as the device machines lent to this project's sessions).
#
#   bash benchmarks/run_on_gpu.sh WHEEL_DIR [OUT_DIR [BENCHMARK ...]]
#
# BENCHMARK is any of model (bench_model.py), train (bench_train_step.py), opset
# (bench_opset.py), indexing (bench_indexing.py, which also needs the faiss-cpu, ExifRead,
# pillow and pillow-heif wheels in WHEEL_DIR) and cluster (bench_cluster_gpu.py, issue 13:
# the model alone with ONNX Runtime CUDA fp32/fp16, TensorRT fp16 and PyTorch eager fp16
# against `sciceapp cluster index` end to end with CPU and nvImageCodec GPU decoding, in one
# table; it also needs the wheels of ray[data] and its dependencies, pyarrow, pandas and
# nvidia-nvimgcodec-cu12; NOT RUN YET: written without a GPU machine); the default is model
# and train.
# WHEEL_DIR holds onnxruntime_gpu-*.whl (or the pieces ortpart0..N of one, made with
# `split -n N -d -a 1 WHEEL ortpart` where a transfer limit forbids the whole file, plus the
# file ORT_WHEEL_NAME holding the wheel's file name when it is not the 1.31.1 cp312 one),
# pytorch_metric_learning-*.whl and any other wheel the chosen benchmarks need;
# ORT_WHEEL_SHA256, when set, is checked. All are installed into /tmp/site, ahead of whatever
# python3 already has. Tables and logs go to OUT_DIR
# (default: ./gpu-results).
set -euo pipefail
wheels=${1:?usage: run_on_gpu.sh WHEEL_DIR [OUT_DIR]}
out=${2:-gpu-results}
mkdir -p "$out"
export PYTHONUNBUFFERED=1

if compgen -G "$wheels/ortpart[0-9]*" >/dev/null; then
    # pip reads the version from the file name, so the pieces are joined under the real one.
    name=onnxruntime_gpu-1.31.1-cp312-cp312-manylinux_2_28_x86_64.whl
    [[ -f $wheels/ORT_WHEEL_NAME ]] && name=$(<"$wheels/ORT_WHEEL_NAME")
    ort_wheel=/tmp/$name
    cat $(ls "$wheels"/ortpart[0-9]* | sort -V) >"$ort_wheel"
else
    ort_wheel=$(ls "$wheels"/onnxruntime_gpu-*.whl)
fi
if [[ -n ${ORT_WHEEL_SHA256:-} ]]; then
    echo "$ORT_WHEEL_SHA256  $ort_wheel" | sha256sum -c -
fi
others=$(ls "$wheels"/*.whl | grep -v /onnxruntime_gpu- || true)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$ort_wheel" $others
export PYTHONPATH=/tmp/site:$PWD

# ONNX Runtime's CUDA provider needs cuBLAS, cuRAND and cuDNN of CUDA 13: use the ones that
# came with torch's nvidia-* wheels.
nvidia_libs=$(python3 - <<'EOF'
import glob, os, site
dirs = set()
for base in site.getsitepackages():
    for lib in glob.glob(os.path.join(base, "nvidia", "**", "lib*.so*"), recursive=True):
        dirs.add(os.path.dirname(lib))
print(":".join(sorted(dirs)))
EOF
)
export LD_LIBRARY_PATH=$nvidia_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

{
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
    python3 - <<'EOF'
import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper

print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name())
print("onnxruntime", ort.__version__, ort.get_available_providers())
# Smoke test: one MatMul on the CUDA provider, before the long run.
graph = helper.make_graph(
    [helper.make_node("MatMul", ["a", "b"], ["c"])],
    "smoke",
    [helper.make_tensor_value_info(n, TensorProto.FLOAT, [64, 64]) for n in "ab"],
    [helper.make_tensor_value_info("c", TensorProto.FLOAT, [64, 64])],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)
session = ort.InferenceSession(model.SerializeToString(), providers=["CUDAExecutionProvider"])
a, b = np.random.rand(2, 64, 64).astype(np.float32)
np.testing.assert_allclose(session.run(None, {"a": a, "b": b})[0], a @ b, rtol=1e-2)
print("CUDA provider smoke test:", session.get_providers())
EOF
} 2>&1 | tee "$out/environment.txt"

run() {  # run NAME COMMAND...: output to $out/NAME.md, progress to $out/NAME.log
    local name=$1
    shift
    "$@" 2> >(tee "$out/$name.log" >&2) | tee "$out/$name.md"
}
benchmarks=("${@:3}")
[[ ${#benchmarks[@]} -gt 0 ]] || benchmarks=(model train)
status=0
for benchmark in "${benchmarks[@]}"; do
    case $benchmark in
    model)
        run bench_model_cuda python3 benchmarks/bench_model.py --provider cuda \
            --batch-sizes 64 --repeats 20 --warmup 3 || status=1 ;;
    train)
        run bench_train_step_cuda timeout 240 python3 benchmarks/bench_train_step.py \
            --device cuda --places 72 --steps 3 || status=1 ;;
    indexing)
        run bench_indexing_cuda python3 benchmarks/bench_indexing.py --preset scicevpr-b \
            --images 192 --repeats 3 || status=1 ;;
    cluster)
        run bench_cluster_gpu timeout 540 python3 benchmarks/bench_cluster_gpu.py \
            --preset scicevpr-b --photos 1024 --batch-size 64 || status=1 ;;
    opset)
        run bench_opset_cuda python3 benchmarks/bench_opset.py --provider cuda \
            --batch-sizes 64 --precisions fp32 fp16 --repeats 20 --warmup 3 || status=1 ;;
    *)
        echo "unknown benchmark: $benchmark" >&2
        status=1 ;;
    esac
done
exit $status
