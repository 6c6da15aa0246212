"""The tensors-only checkpoint reader: what torch.save writes reads back exactly, without torch;
anything that names code or foreign objects is refused before it can run."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from sciceapp.engine.tensor_file import RefusedCheckpoint, pickle_globals, read_tensor_file
from sciceapp.errors import ModelError

REPO_ROOT = Path(__file__).resolve().parents[2]


class _Touches:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


class _System:
    def __reduce__(self):
        return (os.system, ("true",))


def test_every_dtype_view_and_container_reads_back_exactly(tmp_path):
    state = OrderedDict(
        f32=torch.randn(3, 4), f16=torch.randn(5).half(), bf16=torch.randn(6).bfloat16(),
        f64=torch.randn(2, dtype=torch.float64), i64=torch.arange(7), i8=torch.arange(3).char(),
        u8=torch.arange(4).byte(), flag=torch.tensor([True, False]), scalar=torch.tensor(2.5),
        transposed=torch.randn(4, 3).t(), sliced=torch.randn(20)[5:9], empty=torch.zeros(0, 3),
        param=torch.nn.Parameter(torch.ones(2)),
    )  # fmt: skip
    shared = torch.randn(10)
    obj = {"model_state_dict": state, "a": shared[:5], "b": shared[5:], "epoch_num": 3,
           "recalls": [91.5, 96.0], "nothing": None, "pair": (1, "x"), "tags": {1, 2}}  # fmt: skip
    torch.save(obj, tmp_path / "ok.pth")
    got = read_tensor_file(tmp_path / "ok.pth")
    for key, tensor in state.items():
        expected = tensor.detach().float() if tensor.dtype == torch.bfloat16 else tensor.detach()
        assert got["model_state_dict"][key].shape == tuple(tensor.shape), key
        assert np.array_equal(got["model_state_dict"][key], expected.numpy()), key
    assert np.array_equal(np.concatenate([got["a"], got["b"]]), shared.numpy())
    assert (got["epoch_num"], got["recalls"], got["nothing"]) == (3, [91.5, 96.0], None)
    assert got["pair"] == (1, "x") and got["tags"] == {1, 2}


def test_safetensors_files_read_through_the_numpy_api(tmp_path):
    from safetensors.numpy import save_file

    arrays = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(2, np.float16)}
    save_file(arrays, str(tmp_path / "w.safetensors"))
    save_file(arrays, str(tmp_path / "named-wrongly.pth"))  # recognised by content too
    for name in ("w.safetensors", "named-wrongly.pth"):
        got = read_tensor_file(tmp_path / name)
        assert set(got) == set(arrays) and all(np.array_equal(got[k], arrays[k]) for k in arrays)


@pytest.mark.parametrize(
    "write",
    [
        lambda p, m: torch.save({"model_state_dict": {}, "x": _Touches(m)}, p),
        lambda p, m: torch.save({"x": _System()}, p),
        lambda p, m: torch.save({"x": _Touches}, p),  # a class object
        lambda p, m: p.write_bytes(pickle.dumps({"x": _Touches(m)}, protocol=4)),
        lambda p, m: p.write_bytes(pickle.dumps({"x": _Touches(m)}, protocol=0)),
    ],
    ids=["reduce-in-zip", "os-system", "class", "bare-pickle", "protocol-0"],
)
def test_code_or_objects_are_refused_and_never_run(tmp_path, write):
    marker, path = tmp_path / "code-ran", tmp_path / "evil.pth"
    write(path, marker)
    with pytest.raises(RefusedCheckpoint, match="refused for safety") as refused:
        read_tensor_file(path)
    assert "weights_only" not in str(refused.value)
    assert not marker.exists()


def test_damaged_and_foreign_files_are_clear_errors(tmp_path):
    torch.save({"w": torch.randn(100, 100)}, tmp_path / "good.pth")
    data = (tmp_path / "good.pth").read_bytes()
    (tmp_path / "truncated.pth").write_bytes(data[: len(data) // 2])
    (tmp_path / "page.pth").write_bytes(b"<!DOCTYPE html><html>Not Found</html>")
    (tmp_path / "empty.pth").write_bytes(b"")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as archive:
        archive.writestr("readme.txt", "hello")
    for name, words in [
        ("truncated.pth", "truncated or corrupt"),
        ("page.pth", "not a readable PyTorch checkpoint"),
        ("empty.pth", "not a readable PyTorch checkpoint"),
        ("other.zip", "not a PyTorch checkpoint"),
    ]:
        with pytest.raises(ModelError, match=words):
            read_tensor_file(tmp_path / name)


def test_pickle_globals_lists_names_without_running_anything():
    data = pickle.dumps(_System(), protocol=2)
    assert pickle_globals(data) == ["posix.system"] or pickle_globals(data) == ["nt.system"]
    assert pickle_globals(b"<html>") is None


def test_the_reader_needs_no_torch(tmp_path):
    torch.save({"w": torch.arange(6.0).reshape(2, 3)}, tmp_path / "w.pth")
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from sciceapp.engine.tensor_file import read_tensor_file\n"
        f"print(read_tensor_file({str(tmp_path / 'w.pth')!r})['w'].sum())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "15.0"
