"""Check a built one-folder app: it starts, answers --version, runs doctor, opens its window
offscreen, carries its resources, and holds no torch.

    python packaging/check_bundle.py dist/sciceapp [--model DEMO.onnx --photos FOLDER]

With a model and a folder of geotagged photos it also builds a collection inside the bundle
and looks a photo up in the window (ONNX Runtime, faiss and the map, all frozen); with the
photos alone, a collection of the classical, training-free model kind, located and verified
(OpenCV frozen).

Prints one line per check and exits 1 if any failed. packaging/build.sh runs it after every
build, and tests/test_packaging_frozen.py runs it on a fresh build.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# Anything of the toolkit in the bundle means the exclusions in sciceapp.spec failed.
TOOLKIT_FILE = re.compile(
    r"^(torch|torchvision|triton|libtorch|libc10|onnxscript|pytorch_metric_learning)([._-]|$)",
    re.IGNORECASE,
)
# Ray (the cluster extra) in the bundle means the CLUSTER exclusion in sciceapp.spec failed.
CLUSTER_FILE = re.compile(r"^ray(-[^/]*\.dist-info)?$", re.IGNORECASE)
START_TIMEOUT_S = 120


def _version() -> str:
    text = (REPO_ROOT / "sciceapp" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'__version__ = "([^"]+)"', text)
    assert match, "sciceapp/__init__.py has no __version__"
    return match.group(1)


def _run(command: list[str], data_dir: Path, **kwargs) -> subprocess.CompletedProcess:
    """Run a launcher on a throwaway data folder and settings with an offline map (no tile
    requests leave the machine), never the user's own."""
    config = data_dir / "config"
    settings = config / "sciceapp" / "sciceapp.ini"
    if not settings.exists():
        settings.parent.mkdir(parents=True)
        settings.write_text("[settings]\ntile_url=\n", encoding="utf-8")
    env = {
        **os.environ,
        "SCICEAPP_DATA_DIR": str(data_dir),
        "XDG_CONFIG_HOME": str(config),
        "QT_QPA_PLATFORM": "offscreen",
    }
    return subprocess.run(
        command, capture_output=True, text=True, timeout=START_TIMEOUT_S, env=env, **kwargs
    )


def check_versions(bundle: Path, data_dir: Path) -> str:
    expected = f"sciceapp {_version()}"
    for launcher in ("sciceapp", "sciceapp-gui"):
        result = _run([str(bundle / launcher), "--version"], data_dir)
        assert result.returncode == 0, f"{launcher} --version failed: {result.stderr[-2000:]}"
        assert result.stdout.strip() == expected, f"{launcher} says {result.stdout!r}"
    # how the GUI starts its helper jobs: sys.executable -m sciceapp ...
    result = _run([str(bundle / "sciceapp-gui"), "-m", "sciceapp", "--version"], data_dir)
    assert result.stdout.strip() == expected, f"-m sciceapp says {result.stdout!r}"
    return expected


def check_no_toolkit(bundle: Path, data_dir: Path) -> str:
    found = [str(p.relative_to(bundle)) for p in bundle.rglob("*") if TOOLKIT_FILE.match(p.name)]
    assert not found, f"toolkit files in the bundle: {found[:10]}"
    ray = [str(p.relative_to(bundle)) for p in bundle.rglob("*") if CLUSTER_FILE.match(p.name)]
    assert not ray, f"Ray (the cluster extra) in the bundle: {ray[:10]}"
    return "no torch, torchvision, onnx export code or Ray"


def check_toolkit_commands_explain(bundle: Path, data_dir: Path) -> str:
    out = data_dir / "demo.onnx"
    command = [str(bundle / "sciceapp"), "model", "export", "--preset", "tiny", "--random-init"]
    result = _run([*command, "-o", str(out)], data_dir)
    assert result.returncode == 2, (
        f"model export exited {result.returncode}: {result.stderr[-2000:]}"
    )
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "needs PyTorch" in result.stderr, result.stderr[-2000:]
    return "model export says it needs the toolkit"


def check_resources(bundle: Path, data_dir: Path) -> str:
    data = bundle / "_internal" / "sciceapp" / "_data"
    for rel in ("resources/sciceapp.desktop", "resources/icons/sciceapp.svg"):
        assert (data / rel).is_file(), f"missing {rel}"
    manifests = sorted(p.name for p in (REPO_ROOT / "models").glob("*.json"))
    shipped = sorted(p.name for p in (data / "models").glob("*.json"))
    assert shipped == manifests, f"manifests {shipped} != {manifests}"
    leaflet = list((bundle / "_internal").rglob("leaflet.js"))
    assert leaflet, "Leaflet's JavaScript is missing (xstatic-leaflet)"
    return f"icons, desktop entry, {len(shipped)} manifests, Leaflet"


def check_doctor(bundle: Path, data_dir: Path) -> str:
    result = _run([str(bundle / "sciceapp"), "doctor", "--json", "--offline"], data_dir)
    assert result.stdout.strip(), f"doctor printed nothing: {result.stderr[-2000:]}"
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    versions = checks["versions"]["details"]
    assert versions["frozen"] is True, "doctor does not know it is frozen"
    assert versions["torch"] is None, f"the frozen app can import torch {versions['torch']}"
    for name in ("versions", "onnxruntime", "QtWebEngine", "data folder"):
        assert checks[name]["status"] in ("ok", "warning"), f"{name}: {checks[name]}"
    return f"doctor: {checks['QtWebEngine']['summary']}"


def check_window(bundle: Path, data_dir: Path) -> str:
    shot = data_dir / "window.png"
    result = _run([str(bundle / "sciceapp-gui"), "--screenshot", str(shot)], data_dir)
    assert result.returncode == 0, (
        f"window failed (exit {result.returncode}): {result.stderr[-3000:]}"
    )
    assert shot.is_file() and shot.stat().st_size > 1000, "no screenshot written"
    return f"window opened offscreen, screenshot {shot.stat().st_size} bytes"


def check_demo_lookup(bundle: Path, data_dir: Path, model: Path, photos: Path) -> str:
    """Import a model, build a collection and look a photo up in the window, all frozen."""
    cli = str(bundle / "sciceapp")
    steps = [
        [cli, "model", "import", str(model)],
        [cli, "model", "info", str(model)],
        [cli, "collection", "create", "demo", "--model", str(data_dir / "models" / model.name)],
        [cli, "collection", "add", "demo", str(photos)],
    ]
    for step in steps:
        result = _run(step, data_dir)
        assert result.returncode == 0, f"{' '.join(step[1:3])} failed: {result.stderr[-3000:]}"
    result = _run([cli, "collection", "show", "demo", "--json"], data_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    shown = json.loads(result.stdout)
    assert shown["indexed"] > 0, f"nothing indexed: {shown}"
    # HEIC goes through pillow-heif's compiled library: it must be in the bundle and work
    skipped = {str(Path(entry[0]).name) for entry in shown["skipped_files"]}
    heic = [p.name for p in photos.rglob("*") if p.suffix.lower() in (".heic", ".heif")]
    assert not skipped & set(heic), f"HEIC photos skipped: {shown['skipped_files']}"
    jpegs = sorted(p for p in photos.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    query = jpegs[0]
    # a photo of the collection finds itself first (when asked to), with its own GPS position
    locate = [cli, "locate", str(query), "--collection", "demo", "--json", "--include-self"]
    result = _run(locate, data_dir)
    assert result.returncode == 0, f"locate failed: {result.stderr[-3000:]}"
    (located,) = json.loads(result.stdout)
    assert located["in_collection"] is True, f"not seen as in the collection: {located}"
    assert located["place"], f"no place name (GeoNames data missing?): {located}"
    best = located["matches"][0]
    assert Path(best["path"]).resolve() == query.resolve(), f"best match {best}"
    assert best["score"] > 0.99, f"self-similarity {best['score']}"
    # local features and the two-view fit run on OpenCV's compiled library: in the bundle too
    assert best["verified"] and best["inliers"] >= 100, f"not verified frozen: {best}"
    # Parquet shards go through pyarrow's compiled library: export the collection and import
    # it into another, all frozen, and the copy holds every photo
    shards = data_dir / "shards"
    copy = [cli, "collection", "create", "copy", "--model", str(data_dir / "models" / model.name)]
    for step in (
        [cli, "collection", "export-shards", "demo", str(shards), "-q"],
        copy,
        [cli, "collection", "import", "copy", str(shards), "-q"],
    ):
        result = _run(step, data_dir)
        assert result.returncode == 0, f"{' '.join(step[1:3])} failed: {result.stderr[-3000:]}"
    result = _run([cli, "collection", "show", "copy", "--json"], data_dir)
    copied = json.loads(result.stdout)
    assert (copied["indexed"], copied["total"]) == (shown["indexed"], shown["total"]), copied
    shot = data_dir / "lookup.png"
    gui = [str(bundle / "sciceapp-gui"), "--collection", "demo", "--query", str(query)]
    result = _run([*gui, "--screenshot", str(shot)], data_dir)
    assert result.returncode == 0, f"lookup in the window failed: {result.stderr[-3000:]}"
    assert shot.is_file(), "no screenshot written"
    return (
        f"{shown['indexed']} photos indexed ({len(heic)} HEIC), {len(shown['skipped_files'])} "
        f"skipped, {query.name} found itself with locate and in the window, and the "
        "collection went through Parquet shards into another"
    )


def _random_backbone(folder: Path) -> Path:
    """A random-weight dinov2_vits14 in the official names and shapes, as safetensors (this
    script runs where torch is not installed); the bundle recognises it by its content."""
    import numpy as np
    from safetensors.numpy import save_file

    sys.path.insert(0, str(REPO_ROOT))
    from sciceapp.model.layout import backbone_shapes, official_backbone

    rng = np.random.default_rng(0)
    shapes = backbone_shapes(official_backbone("dinov2_vits14"))
    state = {
        name: (0.05 * rng.standard_normal(shape)).astype(np.float32)
        for name, shape in shapes.items()
    }
    path = folder / "dinov2_vits14_pretrain.pth"
    save_file(state, str(path))
    return path


def check_model_get(bundle: Path, data_dir: Path, backbone: Path | None = None) -> str:
    """`model get` inside the bundle (no torch): download from a server on 127.0.0.1, build,
    convert to int8, check, register."""
    import functools
    import http.server
    import threading

    served = data_dir / "served"
    served.mkdir()
    source = backbone or _random_backbone(served)
    if backbone is not None:
        (served / "dinov2_vits14_pretrain.pth").write_bytes(backbone.read_bytes())

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/dinov2_vits14_pretrain.pth"
        command = [str(bundle / "sciceapp"), "model", "get", "dinov2-gem-s", "--url", url]
        result = _run([*command, "--precision", "int8", "--json"], data_dir)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
    assert result.returncode == 0, f"model get failed: {result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    done = json.loads(result.stdout.splitlines()[-1])
    model = Path(done["output"])
    assert model.parent == data_dir / "models" and model.is_file(), done
    info = _run([str(bundle / "sciceapp"), "model", "info", str(model), "--json"], data_dir)
    assert info.returncode == 0, info.stderr[-2000:]
    fields = json.loads(info.stdout)
    assert (fields["variant"], fields["precision"], fields["random_init"]) == (
        "dinov2-gem-s",
        "int8",
        False,
    ), fields
    return f"model get built {model.name} ({done['size_bytes'] / 1e6:.0f} MB) from {source.name}"


def check_classical_lookup(bundle: Path, data_dir: Path, photos: Path) -> str:
    """The classical, training-free model kind frozen: create a collection with it (the first
    add learns its vocabulary), locate a photo and verify it, all on OpenCV in the bundle."""
    cli = str(bundle / "sciceapp")
    for step in (
        [cli, "collection", "create", "classic", "--model", "classical"],
        [cli, "collection", "add", "classic", str(photos), "-q"],
    ):
        result = _run(step, data_dir)
        assert result.returncode == 0, f"{' '.join(step[1:3])} failed: {result.stderr[-3000:]}"
    result = _run([cli, "collection", "show", "classic", "--json"], data_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    shown = json.loads(result.stdout)
    assert "classical, training-free" in shown["model_label"], f"model named {shown}"
    assert shown["indexed"] > 0 and shown["local_features"], f"nothing indexed: {shown}"
    query = sorted(p for p in photos.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))[0]
    locate = [cli, "locate", str(query), "--collection", "classic", "--json", "--include-self"]
    result = _run(locate, data_dir)
    assert result.returncode == 0, f"locate failed: {result.stderr[-3000:]}"
    (located,) = json.loads(result.stdout)
    best = located["matches"][0]
    assert Path(best["path"]).resolve() == query.resolve(), f"best match {best}"
    assert best["verified"] and best["inliers"] >= 100, f"not verified frozen: {best}"
    assert located["verified"], f"prediction not from a verified match: {located}"
    return (
        f"{shown['indexed']} photos indexed with {shown['model_label']}; {query.name} found "
        f"itself first, verified with {best['inliers']} inliers"
    )


def check_geotag(bundle: Path, data_dir: Path) -> str:
    """exiv2 and gpxpy are frozen: write a position into a photo, read a GPX, undo the write."""
    import hashlib

    from PIL import Image

    photo = data_dir / "photo.jpg"
    Image.new("RGB", (32, 24), (90, 140, 200)).save(photo, "JPEG")
    before = hashlib.sha256(photo.read_bytes()).hexdigest()
    cli = str(bundle / "sciceapp")
    result = _run(
        [cli, "geotag", "set", str(photo), "--lat", "43.5", "--lon", "11.9", "-q"], data_dir
    )
    assert result.returncode == 0, f"geotag set failed: {result.stderr[-2000:]}"
    assert hashlib.sha256(photo.read_bytes()).hexdigest() != before, "geotag set wrote nothing"
    track = data_dir / "track.gpx"
    track.write_text(
        '<gpx version="1.1" creator="check"><trk><trkseg><trkpt lat="43.5" lon="11.9">'
        "<time>2024-01-01T10:00:00Z</time></trkpt></trkseg></trk></gpx>",
        encoding="utf-8",
    )
    result = _run([cli, "geotag", "gpx", str(track), str(photo), "--dry-run"], data_dir)
    assert result.returncode == 0 and "1 track points" in result.stdout, (
        f"geotag gpx failed: {result.stdout[-1000:]} {result.stderr[-2000:]}"
    )
    result = _run([cli, "geotag", "undo"], data_dir)
    assert result.returncode == 0, f"geotag undo failed: {result.stderr[-2000:]}"
    assert hashlib.sha256(photo.read_bytes()).hexdigest() == before, "undo did not restore"
    return "wrote GPS with exiv2, read a GPX track, undo restored the bytes"


CHECKS: list[Callable[[Path, Path], str]] = [
    check_versions,
    check_no_toolkit,
    check_toolkit_commands_explain,
    check_resources,
    check_doctor,
    check_window,
    check_model_get,
    check_geotag,
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path, help="the built folder (dist/sciceapp)")
    parser.add_argument("--model", type=Path, help="an ONNX model for the lookup check")
    parser.add_argument("--photos", type=Path, help="geotagged photos for the lookup check")
    parser.add_argument(
        "--backbone", type=Path, help="a dinov2_vits14-layout .pth for the model get check"
    )
    args = parser.parse_args(argv)
    checks = list(CHECKS)
    if args.backbone:
        backbone = args.backbone.resolve()

        def check_model_get_from_file(bundle: Path, data_dir: Path) -> str:
            return check_model_get(bundle, data_dir, backbone)

        check_model_get_from_file.__name__ = "check_model_get"
        checks[checks.index(check_model_get)] = check_model_get_from_file
    if args.model and args.photos:
        model, photos = args.model.resolve(), args.photos.resolve()
        checks.append(lambda b, d: check_demo_lookup(b, d, model, photos))
        checks[-1].__name__ = "check_demo_lookup"
    if args.photos:
        photos = args.photos.resolve()
        checks.append(lambda b, d: check_classical_lookup(b, d, photos))
        checks[-1].__name__ = "check_classical_lookup"
    failed = 0
    for check in checks:
        with tempfile.TemporaryDirectory(prefix="sciceapp-check-") as data_dir:
            try:
                print(f"ok    {check.__name__}: {check(args.bundle.resolve(), Path(data_dir))}")
            except (AssertionError, subprocess.TimeoutExpired, OSError, ValueError) as exc:
                failed += 1
                print(f"FAIL  {check.__name__}: {exc}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
