"""ONNX export of the SciceVPR student, parity checks, fp16 and int8 variants (needs torch)."""

from sciceapp.export.onnx_export import ExportReport, export_onnx

__all__ = ["ExportReport", "export_onnx"]
