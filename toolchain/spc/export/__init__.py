"""ONNX export with parity checks, and graph simplification."""

from .onnx_export import ExportConfig, ExportReport, export_onnx
from .parity import ParityError, ParityReport, check_parity

__all__ = ["ExportConfig", "ExportReport", "export_onnx", "ParityError", "ParityReport", "check_parity"]
