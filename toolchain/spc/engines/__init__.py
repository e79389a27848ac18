"""Building deployable artifacts for a target: TensorRT engines (GPU) or optimised ONNX Runtime graphs (CPU).

TensorRT and cuda-python are imported lazily, so everything else works where they are absent.
"""

from .build import BuildReport, build_artifact

__all__ = ["BuildReport", "build_artifact"]
