"""Read an ONNX file's metadata properties without loading the model.

An ONNX file is one protobuf ``ModelProto``. Its metadata (field 14, ``metadata_props``) sits
beside the graph (field 7), which holds the weights and can be hundreds of megabytes. Walking
the top-level fields and seeking over the big ones reads the metadata in microseconds,
where an ONNX Runtime session would load and optimise the whole network, and it needs neither
the ``onnx`` package (a toolkit dependency) nor torch. The walk also checks the file is
well-formed at the top level: a truncated or overwritten file fails here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import BinaryIO

from sciceapp.reading import open_regular

MODEL_IR_VERSION = 1
MODEL_GRAPH = 7
MODEL_OPSET_IMPORT = 8
MODEL_METADATA_PROPS = 14
ENTRY_KEY = 1
ENTRY_VALUE = 2
WIRE_VARINT, WIRE_I64, WIRE_LEN, WIRE_I32 = 0, 1, 2, 5
MAX_METADATA_BYTES = 16 << 20


class NotOnnxError(ValueError):
    """The bytes are not a well-formed ONNX ``ModelProto``; the message says where it broke."""


def _varint(handle: BinaryIO) -> int | None:
    """The next varint, or None at a clean end of file."""
    value = 0
    for shift in range(0, 70, 7):
        byte = handle.read(1)
        if not byte:
            if shift == 0:
                return None
            raise NotOnnxError("file ends inside a field header (truncated)")
        value |= (byte[0] & 0x7F) << shift
        if byte[0] < 0x80:
            return value
    raise NotOnnxError("malformed varint")


def _read_exact(handle: BinaryIO, size: int) -> bytes:
    data = handle.read(size)
    if len(data) != size:
        raise NotOnnxError("file ends inside a field (truncated)")
    return data


def _parse_entry(data: bytes) -> tuple[str, str]:
    """Key and value of one ``StringStringEntryProto``."""
    import io

    fields: dict[int, str] = {}
    handle = io.BytesIO(data)
    while (tag := _varint(handle)) is not None:
        field, wire = tag >> 3, tag & 7
        if wire != WIRE_LEN:
            raise NotOnnxError("metadata entry has a non-string field")
        fields[field] = _read_exact(handle, _varint(handle) or 0).decode("utf-8", "replace")
    return fields.get(ENTRY_KEY, ""), fields.get(ENTRY_VALUE, "")


def read_metadata_props(path: str | os.PathLike[str]) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file as a dict; ``NotOnnxError`` if it is not one."""
    size = os.path.getsize(path)
    seen: set[int] = set()
    props: dict[str, str] = {}
    with open_regular(path) as handle:
        for field, wire, length in _walk(handle, size):
            if field == MODEL_METADATA_PROPS and wire == WIRE_LEN:
                if length > MAX_METADATA_BYTES:
                    raise NotOnnxError("metadata entry is implausibly large")
                key, value = _parse_entry(_read_exact(handle, length))
                props[key] = value
            seen.add(field)
    missing = {MODEL_IR_VERSION, MODEL_GRAPH, MODEL_OPSET_IMPORT} - seen
    if missing:
        raise NotOnnxError(f"no {'graph' if MODEL_GRAPH in missing else 'ONNX header'} in the file")
    return props


MODEL_GRAPH_INITIALIZER = 5
TENSOR_EXTERNAL_DATA = 13
EXTERNAL_LOCATION = "location"


def _walk(handle: BinaryIO, end: int) -> Iterator[tuple[int, int, int]]:
    """``(field, wire, length)`` of each field of the message that ends at offset ``end``;
    for a length-delimited field the handle is left at its first byte (the caller reads it
    or not: the walk seeks past it either way), other fields are skipped."""
    while handle.tell() < end:
        tag = _varint(handle)
        if tag is None:
            raise NotOnnxError("file ends inside a message (truncated)")
        field, wire = tag >> 3, tag & 7
        if field == 0:
            raise NotOnnxError("field number 0 (not a protobuf message)")
        if wire == WIRE_VARINT:
            if _varint(handle) is None:
                raise NotOnnxError("file ends inside a field (truncated)")
        elif wire in (WIRE_I64, WIRE_I32):
            _read_exact(handle, 8 if wire == WIRE_I64 else 4)
        elif wire == WIRE_LEN:
            length = _varint(handle)
            start = handle.tell()
            if length is None or start + length > end:
                raise NotOnnxError(f"field {field} runs past the end of its message (truncated)")
            yield field, wire, length
            handle.seek(start + length)
            continue
        else:
            raise NotOnnxError(f"unknown protobuf wire type {wire}")
        yield field, wire, 0


def external_data_files(path: str | os.PathLike[str]) -> list[str]:
    """The files (as written in the model, relative to its folder) that the initializers of
    its main graph keep their weights in; empty for a self-contained model."""
    size = os.path.getsize(path)
    found: list[str] = []
    with open_regular(path) as handle:
        for field, wire, length in _walk(handle, size):
            if field != MODEL_GRAPH or wire != WIRE_LEN:
                continue
            graph_end = handle.tell() + length
            for g_field, g_wire, g_length in _walk(handle, graph_end):
                if g_field != MODEL_GRAPH_INITIALIZER or g_wire != WIRE_LEN:
                    continue
                tensor_end = handle.tell() + g_length
                for t_field, t_wire, t_length in _walk(handle, tensor_end):
                    if t_field == TENSOR_EXTERNAL_DATA and t_wire == WIRE_LEN:
                        key, value = _parse_entry(_read_exact(handle, t_length))
                        if key == EXTERNAL_LOCATION and value not in found:
                            found.append(value)
    return found
