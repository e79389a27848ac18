"""Running a TensorRT engine with cuda-python (no torch): numpy audio in, numpy logits out."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import SpcError
from .cuda_env import check, gpu_info, import_cudart, import_tensorrt
from .manifest import read_manifest


def check_engine_compatible(manifest: dict, here: dict, trt_version: str) -> None:
    """Refuse an engine built for another GPU or TensorRT version, saying what to rebuild."""
    problems = []
    if manifest.get("compute_capability") != here["compute_capability"] or manifest.get("gpu") != here["gpu"]:
        problems.append(f"it was built on {manifest.get('gpu')} (sm {manifest.get('compute_capability')}), "
                        f"this is {here['gpu']} (sm {here['compute_capability']})")
    if manifest.get("tensorrt") != trt_version:
        problems.append(f"it was built with TensorRT {manifest.get('tensorrt')}, this has {trt_version}")
    if problems:
        raise SpcError(f"cannot load {manifest.get('file')}: " + " and ".join(problems)
                       + f"; rebuild it here with: spc build {manifest.get('source_onnx')} "
                         f"--target {manifest.get('target', {}).get('name', 'TARGET')}")


class TensorRTRunner:
    """Deserialises an engine and runs batches on one CUDA stream; a context manager frees the buffers."""

    def __init__(self, engine_path: str | Path):
        trt = import_tensorrt()
        self._cudart = import_cudart()
        self.manifest = read_manifest(engine_path)
        check_engine_compatible(self.manifest, gpu_info(), trt.__version__)
        self._trt = trt
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
        if self.engine is None:
            raise SpcError(f"TensorRT could not load {engine_path}")
        self.context = self.engine.create_execution_context()
        self.input = self.manifest["input"]
        self.outputs = list(self.manifest["outputs"])
        self.stream = check(self._cudart.cudaStreamCreate())
        self._buffers: dict[str, tuple[int, int]] = {}  # name -> (device pointer, bytes)

    def _buffer(self, name: str, nbytes: int) -> int:
        ptr, size = self._buffers.get(name, (0, 0))
        if size < nbytes:
            if ptr:
                check(self._cudart.cudaFree(ptr))
            ptr = check(self._cudart.cudaMalloc(nbytes))
            self._buffers[name] = (ptr, nbytes)
        return ptr

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """Logits (B x C) for audio (B x S float32); also sets ``self.last_outputs``."""
        cu = self._cudart
        x = np.ascontiguousarray(audio, dtype=np.float32)
        self.context.set_input_shape(self.input, x.shape)
        d_in = self._buffer(self.input, x.nbytes)
        check(cu.cudaMemcpyAsync(d_in, x.ctypes.data, x.nbytes, cu.cudaMemcpyKind.cudaMemcpyHostToDevice, self.stream))
        self.context.set_tensor_address(self.input, d_in)
        hosts = {}
        for name in self.outputs:
            shape = tuple(self.context.get_tensor_shape(name))
            dtype = self._trt.nptype(self.engine.get_tensor_dtype(name))
            hosts[name] = np.empty(shape, dtype=dtype)
            self.context.set_tensor_address(name, self._buffer(name, hosts[name].nbytes))
        if not self.context.execute_async_v3(self.stream):
            raise RuntimeError("TensorRT execution failed")
        for name, host in hosts.items():
            check(cu.cudaMemcpyAsync(host.ctypes.data, self._buffers[name][0], host.nbytes,
                                     cu.cudaMemcpyKind.cudaMemcpyDeviceToHost, self.stream))
        check(cu.cudaStreamSynchronize(self.stream))
        self.last_outputs = hosts
        return hosts[self.outputs[0]].astype(np.float32)

    def close(self) -> None:
        for ptr, _ in self._buffers.values():
            self._cudart.cudaFree(ptr)
        self._buffers.clear()
        if self.stream is not None:
            self._cudart.cudaStreamDestroy(self.stream)
            self.stream = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
