"""Reading checkpoint files without PyTorch: tensors and plain containers, nothing else.

Two formats:
- PyTorch's zip format (what ``torch.save`` writes since 1.6): a zip holding ``data.pkl`` and
  one raw file per storage. The pickle is read by an unpickler that resolves only the handful
  of names a file of tensors needs (an ordered dict, the tensor and parameter rebuild
  functions, the typed storages) to our own numpy stand-ins; any other name means the file
  holds code or foreign objects, and it is refused before anything from it runs.
- safetensors, through the ``safetensors`` package's numpy API (a header and raw bytes; no
  code can be in it).

Tensors come back as numpy arrays (bfloat16 widened to float32, which holds it exactly).
"""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from sciceapp.errors import ModelError

SAFETENSORS_SUFFIX = ".safetensors"
MAX_SAFETENSORS_HEADER_BYTES = 100 << 20
REFUSED = "holds code or objects other than tensors, refused for safety"

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16",
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
# Names other than these (and the storages) in a pickle are code or foreign objects.
_PLAIN_GLOBALS = {
    ("collections", "OrderedDict"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"),
}
_PY2_MODULES = {"__builtin__": "builtins"}  # how protocol-2 pickles spell them
_GLOBAL_OPCODES = {"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "EXT1", "EXT2", "EXT4"}


class RefusedCheckpoint(ModelError):
    """The pickle names something other than tensors and plain data: it could run code."""


def refused_message(name: str, detail: str) -> str:
    """One wording for every refused pickle (the toolkit's torch path uses it too)."""
    return (
        f"{name} {REFUSED} ({detail}). It was tampered with or made by other software; use "
        "an official or self-made checkpoint."
    )


def read_tensor_file(path: str | os.PathLike[str]) -> Any:
    """The object in a checkpoint file, with numpy arrays for its tensors.

    ``RefusedCheckpoint`` for a pickle that names anything but tensors and plain containers;
    ``ModelError`` for a file that is neither format, truncated or corrupt.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise ModelError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    if path.suffix.lower() == SAFETENSORS_SUFFIX or _looks_like_safetensors(path, head):
        return _read_safetensors(path)
    if head[:4] == b"PK\x03\x04":
        return _read_torch_zip(path)
    data = path.read_bytes()
    if pickle_globals(data) is not None:
        # The legacy (pre-1.6) format, or a bare pickle: never unpickled here.
        raise _refusal_or_corrupt(path, data, legacy=True)
    raise ModelError(
        f"{path.name} is not a readable PyTorch checkpoint nor a safetensors file (it starts with "
        f"{head[:8]!r}; a web page or a damaged download?). Download or copy it again."
    )


def _looks_like_safetensors(path: Path, head: bytes) -> bool:
    if len(head) < 8:
        return False
    length = struct.unpack("<Q", head)[0]
    if not 2 <= length <= MAX_SAFETENSORS_HEADER_BYTES:
        return False
    with open(path, "rb") as handle:
        handle.seek(8)
        return handle.read(1) == b"{"


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        return dict(load_file(str(path)))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(
            f"{path.name} is not a readable safetensors file ({exc}). Download or copy it again."
        ) from None
    except TypeError as exc:  # bfloat16 and other dtypes numpy lacks
        raise ModelError(f"{path.name}: a tensor type numpy cannot hold ({exc}).") from None


class _Storage:
    """One storage of a zip checkpoint: its raw bytes as a flat numpy array."""

    def __init__(self, archive: zipfile.ZipFile, prefix: str, key: str, kind: str, little: bool):
        dtype = _STORAGE_DTYPES[kind]
        try:
            raw = archive.read(f"{prefix}data/{key}")
        except KeyError:
            raise ModelError(f"storage {key} is missing from the archive") from None
        if dtype == "bfloat16":
            bits = np.frombuffer(raw, dtype="<u2" if little else ">u2").astype(np.uint32)
            self.array = (bits << 16).view(np.float32)
        else:
            self.array = np.frombuffer(
                raw, dtype=np.dtype(dtype).newbyteorder("<" if little else ">")
            )


def _rebuild_tensor(storage: _Storage, offset: int, size: tuple, stride: tuple, *_rest: Any):
    if not isinstance(storage, _Storage):
        raise ModelError("a tensor without a storage")
    flat = storage.array
    itemsize = flat.dtype.itemsize
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    last = offset + sum((s - 1) * st for s, st in zip(size, stride, strict=True))
    if offset < 0 or min((*size, *stride, 0)) < 0 or (all(size) and last >= len(flat)):
        raise ModelError("a tensor reaches outside its storage")
    view = np.lib.stride_tricks.as_strided(
        flat[offset:], shape=tuple(size), strides=tuple(st * itemsize for st in stride)
    )
    return np.array(view, dtype=flat.dtype.newbyteorder("="))


def _rebuild_parameter(data: np.ndarray, *_rest: Any) -> np.ndarray:
    return data


class _TensorUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str, little: bool):
        super().__init__(io.BytesIO(data))
        self.archive, self.prefix, self.little = archive, prefix, little
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        module = _PY2_MODULES.get(module, module)
        if module == "torch" and name in _STORAGE_DTYPES:
            return name  # persistent_load turns the name into a storage
        if (module, name) in _PLAIN_GLOBALS:
            return {
                "OrderedDict": OrderedDict,
                "set": set,
                "frozenset": frozenset,
                "_rebuild_tensor_v2": _rebuild_tensor,
                "_rebuild_parameter": _rebuild_parameter,
            }[name]
        raise RefusedCheckpoint(f"{module}.{name}")

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage"):
            raise RefusedCheckpoint(f"persistent object {str(pid)[:60]}")
        kind, key = pid[1], str(pid[2])
        if kind not in _STORAGE_DTYPES:
            raise RefusedCheckpoint(f"storage type {kind!r}")
        if key not in self.storages:
            self.storages[key] = _Storage(self.archive, self.prefix, key, kind, self.little)
        return self.storages[key]


def _read_torch_zip(path: Path) -> Any:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
            if len(pickles) != 1:
                raise ModelError(f"{path.name} is a zip file but not a PyTorch checkpoint.")
            prefix = pickles[0][: -len("data.pkl")]
            order = archive.read(f"{prefix}byteorder") if f"{prefix}byteorder" in names else b""
            data = archive.read(pickles[0])
            unpickler = _TensorUnpickler(data, archive, prefix, little=order != b"big")
            try:
                return unpickler.load()
            except RefusedCheckpoint as exc:
                raise RefusedCheckpoint(refused_message(path.name, f"it names {exc}")) from None
            except ModelError as exc:
                raise ModelError(f"{path.name} is damaged: {exc}. Download it again.") from None
            except Exception as exc:  # arbitrary bytes fail in many ways inside an unpickler
                raise _refusal_or_corrupt(path, data, error=exc) from None
    except zipfile.BadZipFile as exc:
        raise ModelError(
            f"{path.name} is not a readable PyTorch checkpoint (truncated or corrupt: {exc}). "
            "Download or copy it again."
        ) from None


def _refusal_or_corrupt(
    path: Path, data: bytes, *, legacy: bool = False, error: BaseException | None = None
) -> ModelError:
    """Why a pickle was not read: it names code (found without running it), or it is damaged."""
    named = pickle_globals(data)
    if named is None:
        reason = f"{type(error).__name__}: {error}"[:200] if error else "not a valid pickle"
        return ModelError(
            f"{path.name} is not a readable PyTorch checkpoint (corrupt or truncated: {reason}). "
            "Download or copy it again."
        )
    plain = {f"{m}.{n}" for m, n in _PLAIN_GLOBALS} | {f"torch.{n}" for n in _STORAGE_DTYPES}
    foreign = [n for n in named if n not in plain]
    if foreign:
        return RefusedCheckpoint(refused_message(path.name, f"it names {', '.join(foreign[:3])}"))
    if legacy:
        return ModelError(
            f"{path.name} is in PyTorch's legacy (pre-1.6) format, which is read only with the "
            "toolkit. Re-save it with torch.save, or use the safetensors file."
        )
    return ModelError(f"{path.name} is damaged ({error}). Download or copy it again.")


def pickle_globals(data: bytes) -> list[str] | None:
    """The ``module.name`` of every global a pickle refers to, found by reading its opcodes
    (nothing is executed); None when the bytes are not a well-formed pickle. A name pushed
    by ``STACK_GLOBAL`` is reported as the two strings before it."""
    found: list[str] = []
    strings: list[str] = []
    try:
        for opcode, arg, _pos in pickletools.genops(data):
            if opcode.name == "GLOBAL" or opcode.name == "INST":
                module, _, name = str(arg).partition(" ")
                found.append(f"{_PY2_MODULES.get(module, module)}.{name}")
            elif opcode.name == "STACK_GLOBAL":
                found.append(".".join(strings[-2:]) if len(strings) >= 2 else "a computed name")
            elif opcode.name in _GLOBAL_OPCODES:
                found.append(f"an extension code ({opcode.name})")
            elif isinstance(arg, str):
                strings.append(arg)
    except (ValueError, pickle.UnpicklingError, struct.error, UnicodeDecodeError):
        return None
    return found
