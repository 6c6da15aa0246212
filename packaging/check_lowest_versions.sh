#!/usr/bin/env bash
# Check that the lowest versions pyproject.toml allows work: a throwaway environment with
# exactly those versions builds a model without torch (int8 and fp16 from .pth and
# .safetensors), builds a collection of the sample photos and looks one up; with TOOLKIT=1 it
# also installs the toolkit's lowest versions (torch's CUDA build from PyPI: about 3 GB) and
# runs the tests of the engine, export, model and a GUI smoke in that environment.
#
#   bash packaging/check_lowest_versions.sh BACKBONE.pth BACKBONE.safetensors
#   TOOLKIT=1 bash packaging/check_lowest_versions.sh BACKBONE.pth BACKBONE.safetensors
#
# The backbone files: a dinov2_vits14 layout (tests/export/official_files.py writes random
# ones). Results are recorded in docs/DEVELOPING.md ("Lowest supported versions"). Delete the
# environment afterwards (rm -r "$VENV"): with the toolkit it takes about 8 GB.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PTH="$1"; SAFE="$2"
VENV="${VENV:-/tmp/sciceapp-lowest}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
[ -x "$VENV/bin/python" ] || python3.11 -m venv "$VENV"
BASE=("numpy==2.0.0" "pillow==10.3.0" "pillow-heif==0.18.0" "exifread==3.1.0" "exiv2==0.18.0"
  "gpxpy==1.6.0" "onnxruntime==1.23.0" "onnx==1.16.0" "safetensors==0.4.3" "faiss-cpu==1.11.0"
  "folium==0.18.0" "xstatic-leaflet==1.9.3.0" "xstatic-leaflet-markercluster==1.4.1.1"
  "platformdirs==4.0.0" "filelock==3.13.0" "tqdm==4.66.0" "pyside6==6.7.0"
  "opencv-python-headless==4.10.0.84" "threadpoolctl==3.1.0" "reverse-geocode==1.6.5"
  "pyarrow==26.0.0")
"$VENV/bin/pip" install -q "${BASE[@]}"
run() { SCICEAPP_DATA_DIR="$WORK/data" PYTHONPATH="$ROOT" "$VENV/bin/python" -m sciceapp "$@"; }
run model get dinov2-gem-s --checkpoint "$PTH" --precision int8
run model get dinov2-gem-s --checkpoint "$SAFE" --precision fp16 -o "$WORK/fp16.onnx"
run model info "$WORK/fp16.onnx" >/dev/null
run collection create low --model "$WORK/data/models/dinov2-gem-s-int8.onnx"
run collection add low "$ROOT/../shared/data/exif-samples/gps"
# A query in the collection is not its own match (engine/locate.py): look up a re-encoded copy,
# whose nearest photo must be the original.
QUERY="$(ls "$ROOT"/../shared/data/exif-samples/gps/*.jpg | head -1)"
"$VENV/bin/python" -c "import sys; from PIL import Image; Image.open(sys.argv[1]).save(sys.argv[2], quality=80)" \
  "$QUERY" "$WORK/query.jpg"
run locate "$WORK/query.jpg" --collection low --json | "$VENV/bin/python" -c "
import json, sys, os
(result,) = json.load(sys.stdin)
assert not result['in_collection'], result
best = result['matches'][0]['path']
assert os.path.samefile(best, sys.argv[1]), best
print('lowest versions: ok, a re-encoded', sys.argv[1].rsplit('/', 1)[-1], 'found it first')" "$QUERY"
if [ "${TOOLKIT:-0}" = 1 ]; then
  # The toolkit's lowest versions, with the base ones held where they are (scikit-learn, which
  # pytorch-metric-learning pulls, would otherwise lift numpy and threadpoolctl).
  "$VENV/bin/pip" install -q "torch==2.10.0" "torchvision==0.25.0" "onnx==1.18.0" \
    "onnxscript==0.5.0" "pytorch-metric-learning==2.5.0" "openvino==2026.1.0" \
    "numpy==2.0.0" "threadpoolctl==3.1.0" "pytest==8.0.0" "pytest-qt==4.4.0" \
    "pytest-timeout==2.3.1"
  (cd "$ROOT" && PYTHONPATH="$ROOT" QT_QPA_PLATFORM=offscreen "$VENV/bin/python" -m pytest \
    -p no:cacheprovider -q -m "not slow" tests/export tests/model tests/engine/test_onnx_model.py \
    tests/engine/test_tensor_file.py tests/engine/test_pipeline.py tests/engine/test_library.py \
    tests/engine/test_exif.py tests/engine/test_geotag_writer.py tests/engine/test_geotag_gpx.py \
    tests/engine/test_verification.py tests/engine/test_labels.py tests/engine/test_shards.py \
    tests/engine/test_index.py tests/engine/test_index_codes.py tests/engine/test_store.py \
    tests/engine/test_index_fastscan.py tests/engine/test_open_index.py \
    tests/engine/test_library_index_kinds.py \
    tests/engine/test_review.py tests/doctor \
    tests/ui/test_errors_and_first_run.py tests/ui/test_main_flow.py)
  (cd "$ROOT" && PYTHONPATH="$ROOT" QT_QPA_PLATFORM=offscreen "$VENV/bin/python" -m pytest \
    -p no:cacheprovider -q -m slow tests/export/test_model_get.py tests/engine/test_tuning.py \
    tests/engine/test_geotag_cli.py tests/engine/test_index_params.py)
fi
"$VENV/bin/pip" list 2>/dev/null | grep -i -E "^(numpy|onnx|onnxruntime|pillow|faiss-cpu|safetensors|pyside6|pyarrow|folium|exifread|torch|torchvision|onnxscript) "
