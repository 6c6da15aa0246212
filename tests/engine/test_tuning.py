"""The CPU calibration: it measures the candidates on real photos, refuses unfaithful ones,
records the choice per model file, machine and runtime versions, and the app runs the choice."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sciceapp.commands.doctor import cpu_paths
from sciceapp.engine import calibration, runtimes, tuning
from sciceapp.engine.onnx_model import Embedder, read_model_info

PLACES = Path(__file__).resolve().parents[3] / "shared" / "data" / "places"
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _tuning_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(tuning.OFF_ENV, raising=False)
    monkeypatch.setattr(calibration, "PAUSE_S", 0.0)  # no idle between timed calls here
    monkeypatch.setattr(calibration, "REPEATS", 1)


@pytest.fixture()
def photos() -> list[Path]:
    found = sorted((PLACES / "sacre_coeur").glob("*.jpg"))
    assert len(found) >= calibration.CALIBRATION_PHOTOS, f"real photos missing in {PLACES}"
    return found


@pytest.fixture()
def model(tiny_onnx_model: Path, data_dir: Path) -> Path:
    folder = data_dir / "models"
    folder.mkdir()
    target = folder / "tiny.onnx"
    target.write_bytes(tiny_onnx_model.read_bytes())
    return target


def _images(model: Path, photos: list[Path]) -> np.ndarray:
    return calibration.calibration_images(read_model_info(model), photos)[0]


def _calibrate(model: Path, photos: list[Path], data_dir: Path, **kwargs):
    return calibration.calibrate(
        read_model_info(model), _images(model, photos), data_dir, pause_s=0.0, **kwargs
    )


@pytest.mark.slow
def test_calibration_picks_the_fastest_faithful_path_and_caches_it(model, photos, data_dir):
    record, runners = _calibrate(model, photos, data_dir)
    chosen = record.candidate(record.chosen)
    assert chosen is not None and chosen.status == tuning.OK
    assert chosen.min_cosine >= tuning.MIN_COSINE
    passed = [m for m in record.candidates if m.status == tuning.OK]
    assert {"onnxruntime-fp32", "openvino-fp32"} <= {m.name for m in passed}
    fastest = max(m.images_per_s.get(record.batch_size, 0.0) for m in passed)
    assert chosen.images_per_s[record.batch_size] == fastest
    assert record.batch_size in calibration.INDEXING_BATCH_SIZES
    assert record.photos == calibration.CALIBRATION_PHOTOS
    assert set(runners) == {m.name for m in passed}
    # cached: the same record comes back, and a new embedder runs it without calibrating
    loaded, why = tuning.load(data_dir, read_model_info(model).sha256)
    assert why == "" and loaded is not None and loaded.chosen == record.chosen
    embedder = Embedder(model, tuning_dir=data_dir)
    assert embedder.runtime == record.chosen and embedder.batch_size == record.batch_size
    images = _images(model, photos)
    reference = Embedder(model).embed(images)
    assert np.min(np.sum(reference * embedder.embed(images), axis=1)) >= tuning.MIN_COSINE


@pytest.mark.slow
def test_embedder_calibrates_on_its_first_batch(model, photos, data_dir):
    embedder = Embedder(model, tuning_dir=data_dir)
    assert embedder.runtime == "" and "calibrating on the first photos" in embedder.provider_report
    sha = read_model_info(model).sha256
    assert not tuning.record_path(data_dir, sha).exists()
    embedder.embed(_images(model, photos))
    record, _ = tuning.load(data_dir, sha)
    assert record is not None
    assert embedder.runtime == record.chosen
    assert embedder.batch_size == record.batch_size
    assert embedder.provider_report.startswith(f"Using {record.chosen} ")


def _noisy(real_open):
    """An opener whose openvino-fp32 is the fastest possible and wrong: random descriptors."""

    def opener(candidate, path, **kwargs):
        if candidate.name != "openvino-fp32":
            return real_open(candidate, path, **kwargs)
        rng = np.random.default_rng(0)
        return lambda images: rng.standard_normal((len(images), 1344)).astype(np.float32)

    return opener


@pytest.mark.slow
def test_a_path_below_the_cosine_floor_is_refused_however_fast(
    model, photos, data_dir, monkeypatch
):
    monkeypatch.setattr(runtimes, "open_runner", _noisy(runtimes.open_runner))
    record, runners = _calibrate(model, photos, data_dir)
    refused = record.candidate("openvino-fp32")
    assert refused.status == tuning.REFUSED and refused.min_cosine < tuning.MIN_COSINE
    assert "below 0.999" in refused.reason and not refused.images_per_s
    assert record.chosen != "openvino-fp32" and "openvino-fp32" not in runners
    with pytest.raises(ValueError, match="openvino-fp32 cannot be used"):
        tuning.set_override(data_dir, record.model_sha256, "openvino-fp32")


@pytest.mark.slow
def test_without_openvino_the_app_falls_back_and_doctor_says_why(
    model, photos, data_dir, monkeypatch
):
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino raises ImportError
    runtimes._openvino.cache_clear()
    try:
        record, _ = _calibrate(model, photos, data_dir)
        for name in ("openvino-fp32", "openvino-bf16", "openvino-int8"):
            measured = record.candidate(name)
            assert measured.status == tuning.UNAVAILABLE
            assert "sciceapp[openvino]" in measured.reason
        assert record.chosen.startswith("onnxruntime-")
        check = cpu_paths.check_cpu_paths(data_dir)
        assert "openvino-fp32 left out: OpenVINO is not installed" in check.summary
        assert f"tiny.onnx: using {record.chosen}" in check.summary
        assert "sciceapp[openvino]" in check.details["left_out"]["openvino-bf16"]
    finally:
        runtimes._openvino.cache_clear()


def test_choose_takes_the_fastest_passed_candidate_and_a_larger_batch_only_when_it_pays():
    def m(name, status, speeds):
        return tuning.Measured(name, status, min_cosine=1.0, images_per_s=speeds)

    measured = [
        m("a", tuning.OK, {8: 10.0, 16: 10.4}),  # 16 is under 5% faster: batch 8
        m("b", tuning.REFUSED, {}),
        m("c", tuning.OK, {8: 9.0, 16: 12.0}),  # fastest at 16
        m("d", tuning.UNAVAILABLE, {}),
    ]
    assert calibration.choose(measured) == ("c", 16)
    assert calibration.choose(measured[:2]) == ("a", 8)


@pytest.mark.slow
def test_the_choice_survives_a_restart_and_is_invalidated_by_a_changed_runtime_or_file(
    model, photos, data_dir, monkeypatch
):
    record, _ = _calibrate(model, photos, data_dir)
    tuning.set_override(data_dir, record.model_sha256, "onnxruntime-fp32")
    # a new process (a restart) runs the recorded choice without calibrating again
    script = (
        "import sys; from sciceapp.engine.onnx_model import Embedder; "
        "e = Embedder(sys.argv[1], tuning_dir=sys.argv[2]); print(e.runtime, e.batch_size)"
    )
    env = {"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin", "HOME": str(data_dir)}
    out = subprocess.run(
        [sys.executable, "-c", script, str(model), str(data_dir)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout.split()
    assert out == ["onnxruntime-fp32", str(record.batch_size)]
    # another ONNX Runtime version: the record no longer holds, and says why
    real = runtimes.runtime_versions()
    monkeypatch.setattr(runtimes, "runtime_versions", lambda: {**real, "onnxruntime": "9.9.9"})
    loaded, why = tuning.load(data_dir, record.model_sha256)
    assert loaded is None and f"onnxruntime {real['onnxruntime']} -> 9.9.9" in why
    assert Embedder(model, tuning_dir=data_dir).runtime == ""  # back to ONNX Runtime, pending
    monkeypatch.setattr(runtimes, "runtime_versions", lambda: real)
    # a changed model file at the same path is another model: not calibrated
    import onnx

    proto = onnx.load(str(model))
    proto.doc_string = "changed"
    onnx.save(proto, str(model))
    changed = Embedder(model, tuning_dir=data_dir)
    assert changed.runtime == "" and "not calibrated on this machine yet" in changed.tuning_note


@pytest.mark.slow
def test_model_tune_command_measures_reports_and_overrides(model, photos, data_dir):
    def tune(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "sciceapp", "--data-dir", str(data_dir), "model", "tune", *args],
            capture_output=True,
            text=True,
            env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin", "HOME": str(data_dir)},
        )

    no_photos = tune("tiny")
    assert no_photos.returncode != 0 and "--photos" in no_photos.stderr
    assert "Traceback" not in no_photos.stderr
    measured = tune("tiny", "--photos", str(PLACES / "sacre_coeur"), "--json")
    assert measured.returncode == 0, measured.stderr
    record = json.loads(measured.stdout)
    assert record["photos"] == calibration.CALIBRATION_PHOTOS
    assert record["chosen"] in {c["name"] for c in record["candidates"] if c["status"] == "ok"}
    overridden = tune("tiny", "--use", "onnxruntime-fp32")
    assert (
        overridden.returncode == 0 and "using onnxruntime-fp32 (your choice)" in overridden.stdout
    )
    assert Embedder(model, tuning_dir=data_dir).runtime == "onnxruntime-fp32"
    bogus = tune("tiny", "--use", "bogus")
    assert bogus.returncode != 0 and "bogus cannot be used" in bogus.stderr
    assert "Traceback" not in bogus.stderr
    back = tune("tiny", "--use", "auto")
    assert f"using {record['chosen']}," in back.stdout


@pytest.mark.slow
def test_openvino_compiled_models_go_when_the_model_is_retuned_or_removed(model, photos, data_dir):
    record, _ = _calibrate(model, photos, data_dir)
    sha = record.model_sha256
    compiled = tuning.compiled_dir(data_dir, sha)

    def run_openvino() -> None:
        tuning.set_override(data_dir, sha, "openvino-fp32")
        embedder = Embedder(model, tuning_dir=data_dir)
        assert embedder.runtime == "openvino-fp32"
        embedder.embed(_images(model, photos)[:1])
        assert any(compiled.iterdir()), "OpenVINO kept no compiled model"

    run_openvino()
    tuning.set_override(data_dir, sha, None)  # another path: its compiled model is of no use
    assert not compiled.exists()
    run_openvino()
    _calibrate(model, photos, data_dir)  # retuned: compiled for the old choice, deleted
    assert not compiled.exists()
    run_openvino()
    # the model file is removed; calibrating another model prunes all the first one left
    other = model.with_name("other.onnx")
    import onnx

    proto = onnx.load(str(model))
    proto.doc_string = "another model file"
    onnx.save(proto, str(other))
    model.unlink()
    _calibrate(other, photos, data_dir)
    assert not compiled.exists() and not tuning.record_path(data_dir, sha).exists()
    assert tuning.record_path(data_dir, read_model_info(other).sha256).exists()


def _record(
    data_dir: Path, versions: dict, sha: str = "ab" * 32, chosen: str = "onnxruntime-fp32"
) -> tuning.Tuning:
    """A record written by hand: ``chosen`` measured fastest, ONNX Runtime fp32 beside it."""
    names = dict.fromkeys(["onnxruntime-fp32", chosen])
    record = tuning.Tuning(
        model_sha256=sha,
        machine=tuning.machine(),
        runtimes=versions,
        calibrated="2026-12-01 12:00 UTC",
        photos=8,
        chosen=chosen,
        batch_size=8,
        candidates=[
            tuning.Measured(name, tuning.OK, "", 1.0, {8: 5.0 + (name == chosen)}) for name in names
        ],
    )
    tuning.save(data_dir, record)
    return record


def test_a_record_is_checked_without_importing_openvino(data_dir: Path):
    """Every indexing run checks its record at start: importing OpenVINO (seconds under load)
    only to read its version would slow every run where ONNX Runtime is the path in use."""
    pytest.importorskip("openvino")  # without it there is no import to avoid
    _record(data_dir, runtimes.runtime_versions())
    script = (
        "import sys; from pathlib import Path; from sciceapp.engine import tuning; "
        "from sciceapp.engine.onnx_model import Embedder; "
        "print(tuning.load(Path(sys.argv[1]), 'ab' * 32)[1] or 'holds', 'openvino' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin", "HOME": str(data_dir)},
    ).stdout.split()
    assert out == ["holds", "False"]


def test_a_record_naming_openvino_by_its_build_holds_for_that_release_only(
    data_dir: Path, monkeypatch
):
    now = {runtimes.ORT: "1.31.1", runtimes.OPENVINO: "2026.4.1"}
    built = {**now, runtimes.OPENVINO: "2026.4.1-22982-e213a147257-releases/2026/4"}
    assert runtimes.same_versions(built, now)  # as records made before the release was read
    assert not runtimes.same_versions({**now, runtimes.OPENVINO: "2026.4.10-1"}, now)
    assert not runtimes.same_versions({**now, runtimes.OPENVINO: None}, now)
    assert not runtimes.same_versions({**now, runtimes.ORT: "1.30.0"}, now)
    assert not runtimes.same_versions({runtimes.ORT: "1.31.1"}, now)
    monkeypatch.setattr(runtimes, "runtime_versions", lambda: now)
    _record(data_dir, built)
    assert tuning.load(data_dir, "ab" * 32)[0] is not None
    monkeypatch.setattr(runtimes, "runtime_versions", lambda: {**now, "openvino": "2026.5.0"})
    loaded, why = tuning.load(data_dir, "ab" * 32)
    assert loaded is None and "openvino 2026.4.1-22982" in why and "-> 2026.5.0" in why


def test_a_recorded_openvino_path_that_cannot_start_now_falls_back_and_doctor_says_why(
    model, photos, data_dir, monkeypatch
):
    """OpenVINO was the measured choice, and now it cannot be imported (a broken install
    whose package record stays, so the versions still match): the model runs on ONNX Runtime
    as it is, says why, and doctor says that the recorded choice cannot run here now."""
    versions = {**runtimes.runtime_versions(), runtimes.OPENVINO: "2026.4.1"}
    _record(data_dir, versions, read_model_info(model).sha256, chosen="openvino-fp32")
    monkeypatch.setattr(runtimes, "runtime_versions", lambda: versions)
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino raises ImportError
    runtimes._openvino.cache_clear()
    try:
        embedder = Embedder(model, tuning_dir=data_dir)
        assert embedder.runtime == "" and embedder.provider == "CPUExecutionProvider"
        assert "openvino-fp32 failed to start" in embedder.tuning_note
        assert "using ONNX Runtime" in embedder.provider_report
        images = _images(model, photos)
        np.testing.assert_allclose(embedder.embed(images), Embedder(model).embed(images), atol=1e-5)
        check = cpu_paths.check_cpu_paths(data_dir)
        assert "tiny.onnx: its measured choice openvino-fp32 cannot run here now" in check.summary
        assert "OpenVINO is not installed" in check.summary.split("cannot run here now")[1]
        assert "sciceapp model tune" in check.summary
    finally:
        runtimes._openvino.cache_clear()


def _at_cosine(real_open, cosines: dict[str, float], photo: np.ndarray):
    """An opener whose candidates in ``cosines`` give, for ``photo`` only, a descriptor at
    exactly that cosine to their true one (every other photo exact)."""

    def opener(candidate, path, **kwargs):
        run = real_open(candidate, path, **kwargs)
        if candidate.name not in cosines:
            return run
        c = cosines[candidate.name]

        def tilted(images: np.ndarray) -> np.ndarray:
            out = np.array(run(images), dtype=np.float64)
            for row in np.flatnonzero([np.array_equal(image, photo) for image in images]):
                v = out[row] / np.linalg.norm(out[row])
                u = np.roll(v, 1) - np.dot(np.roll(v, 1), v) * v  # orthogonal to v
                out[row] = c * v + np.sqrt(1 - c * c) * u / np.linalg.norm(u)
            return out.astype(np.float32)

        return tilted

    return opener


@pytest.mark.slow
def test_the_floor_is_the_minimum_over_photos_at_0_999(model, photos, data_dir, monkeypatch):
    """One photo at cosine 0.998 refuses a path whose other photos are exact (their mean
    would pass); one at 0.9995 keeps it."""
    cosines = {"openvino-fp32": 0.998, "openvino-int8": 0.9995}
    one = _images(model, photos)[3]
    monkeypatch.setattr(runtimes, "open_runner", _at_cosine(runtimes.open_runner, cosines, one))
    record, runners = _calibrate(model, photos, data_dir)
    below, above = record.candidate("openvino-fp32"), record.candidate("openvino-int8")
    assert below.status == tuning.REFUSED and abs(below.min_cosine - 0.998) < 2e-4
    assert "openvino-fp32" not in runners
    assert above.status == tuning.OK and abs(above.min_cosine - 0.9995) < 2e-4
