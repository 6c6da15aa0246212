"""Shared model fixtures (tiny ONNX models built at test time). Owned by the export work."""
