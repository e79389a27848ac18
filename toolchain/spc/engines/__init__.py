"""Building and running deployable artifacts: TensorRT engines (GPU), optimised ONNX Runtime graphs (CPU).

TensorRT, cuda-python, onnxruntime and torch are imported lazily, so everything works where they are
absent and ``spc.runtime`` stays torch-free.
"""

from .build import BuildReport, artifact_name, build_artifact
from .device import BuildCheck, BuildDeferred, build_check
from .loader import open_runner
from .runner import Runner
from .target_latency import TargetLatency, time_built

__all__ = ["BuildCheck", "BuildDeferred", "BuildReport", "Runner", "TargetLatency", "artifact_name", "build_artifact",
           "build_check", "open_runner", "time_built"]
