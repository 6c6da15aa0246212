#!/usr/bin/env bash
# Check that the lowest versions pyproject.toml allows for the app's non-Qt dependencies work:
# a throwaway environment with exactly those versions builds a model without torch (int8 and
# fp16 from .pth and .safetensors), builds a collection of the sample photos and looks one up.
#
#   bash packaging/check_lowest_versions.sh BACKBONE.pth BACKBONE.safetensors
#
# The backbone files: a dinov2_vits14 layout (tests/export/official_files.py writes random
# ones). Results are recorded in docs/DEVELOPING.md ("Lowest supported versions").
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PTH="$1"; SAFE="$2"
VENV="${VENV:-/tmp/sciceapp-lowest}"
WORK="$(mktemp -d)"
[ -x "$VENV/bin/python" ] || python3.11 -m venv "$VENV"
"$VENV/bin/pip" install -q "numpy==1.26.0" "pillow==10.3.0" "pillow-heif==0.18.0" \
  "exifread==3.0.0" "onnxruntime==1.23.0" "onnx==1.16.0" "safetensors==0.4.3" \
  "faiss-cpu==1.8.0" "folium==0.17.0" "xstatic-leaflet==1.9.3.0" \
  "xstatic-leaflet-markercluster==1.4.1.1" "platformdirs==4.0.0" "filelock==3.13.0" "tqdm==4.66.0"
run() { SCICEAPP_DATA_DIR="$WORK/data" PYTHONPATH="$ROOT" "$VENV/bin/python" -m sciceapp "$@"; }
run model get dinov2-gem-s --checkpoint "$PTH" --precision int8
run model get dinov2-gem-s --checkpoint "$SAFE" --precision fp16 -o "$WORK/fp16.onnx"
run model info "$WORK/fp16.onnx" >/dev/null
run collection create low --model "$WORK/data/models/dinov2-gem-s-int8.onnx"
run collection add low "$ROOT/../shared/data/exif-samples/gps"
QUERY="$(ls "$ROOT"/../shared/data/exif-samples/gps/*.jpg | head -1)"
run locate "$QUERY" --collection low --json | "$VENV/bin/python" -c "
import json, sys, os
(result,) = json.load(sys.stdin)
best = result['matches'][0]['path']
assert os.path.samefile(best, sys.argv[1]), best
print('lowest versions: ok,', sys.argv[1].rsplit('/', 1)[-1], 'found itself first')" "$QUERY"
"$VENV/bin/pip" list 2>/dev/null | grep -i -E "^(numpy|onnx|onnxruntime|pillow|faiss|safetensors) "
rm -rf "$WORK"
