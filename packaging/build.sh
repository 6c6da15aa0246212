#!/usr/bin/env bash
# Build the desktop app (GUI + engine, no torch) as one folder: dist/sciceapp/.
#
#   bash packaging/build.sh            # from a fresh clone, needs python3.11 and PyPI
#   bash packaging/build.sh --archive  # also pack dist/sciceapp-<version>-linux-<arch>.tar.gz
#
# It makes a clean build environment (build/packaging-venv) with the app's dependencies but
# without torch, runs PyInstaller on packaging/sciceapp.spec, and checks the result with
# packaging/check_bundle.py (starts, --version, doctor, window offscreen, no torch).
# Environment: PYTHON (default python3.11); BUILD_VENV to use an existing environment instead
# (it must have sciceapp's dependencies and pyinstaller; torch there is excluded anyway).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python3.11}"
ARCHIVE=0
for arg in "$@"; do
  case "$arg" in
    --archive) ARCHIVE=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done

if [ -z "${BUILD_VENV:-}" ]; then
  BUILD_VENV="$ROOT/build/packaging-venv"
  if [ ! -x "$BUILD_VENV/bin/python" ]; then
    echo "== creating the build environment in $BUILD_VENV"
    "$PYTHON" -m venv "$BUILD_VENV"
  fi
  echo "== installing sciceapp (without torch) and PyInstaller"
  "$BUILD_VENV/bin/python" -m pip install --quiet --upgrade pip
  "$BUILD_VENV/bin/python" -m pip install --quiet "$ROOT" "pyinstaller>=6.10"
  # The bundle carries ONNX Runtime's CUDA build (it runs on the CPU too, and uses an NVIDIA
  # GPU where the user has CUDA and cuDNN); it replaces the CPU package, never beside it.
  "$BUILD_VENV/bin/python" -m pip uninstall --quiet -y onnxruntime
  "$BUILD_VENV/bin/python" -m pip install --quiet "$(grep -o 'onnxruntime-gpu[^;]*>=[0-9.]*' "$ROOT/pyproject.toml" | sed 's/\[[a-z,]*\]//')"
fi

echo "== building with PyInstaller"
"$BUILD_VENV/bin/python" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$ROOT/dist" --workpath "$ROOT/build/pyinstaller" "$ROOT/packaging/sciceapp.spec"
cp "$ROOT/packaging/install-desktop.sh" "$ROOT/dist/sciceapp/"

echo "== checking the bundle"
"$BUILD_VENV/bin/python" "$ROOT/packaging/check_bundle.py" "$ROOT/dist/sciceapp"

if [ "$ARCHIVE" = 1 ]; then
  VERSION="$("$ROOT/dist/sciceapp/sciceapp" --version | cut -d' ' -f2)"
  TARBALL="$ROOT/dist/sciceapp-$VERSION-linux-$(uname -m).tar.gz"
  tar -C "$ROOT/dist" -czf "$TARBALL" sciceapp
  echo "== archive: $TARBALL"
fi
echo "== done: $ROOT/dist/sciceapp (run dist/sciceapp/sciceapp-gui)"
