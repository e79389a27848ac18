"""TensorRT INT8 entropy calibration fed from a calibration manifest, with a cache that cannot go stale.

The cache file sits beside the engine; its key (the ONNX file's sha256, the TensorRT version and the
manifest's hash) is stored next to it, and a cache whose key differs is refused rather than reused.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import SpcError
from .cuda_env import check, import_cudart, import_tensorrt


def cache_key(onnx_sha256: str, trt_version: str, manifest_hash: str) -> dict:
    return {"onnx_sha256": onnx_sha256, "tensorrt": trt_version, "calibration": manifest_hash}


def read_cache(path: Path, key: dict) -> bytes | None:
    """The cached calibration table if its key matches; a user error if a stale one is there."""
    key_file = path.with_name(path.name + ".key.json")
    if not path.is_file():
        return None
    stored = json.loads(key_file.read_text()) if key_file.is_file() else None
    if stored != key:
        raise SpcError(f"INT8 calibration cache {path} was made for {stored}, not {key}; delete it to recalibrate")
    return path.read_bytes()


def write_cache(path: Path, key: dict, table: bytes) -> None:
    path.write_bytes(table)
    path.with_name(path.name + ".key.json").write_text(json.dumps(key, indent=2))


def make_calibrator(audio: np.ndarray, input_name: str, batch: int, cache: Path, key: dict):
    """An ``IInt8EntropyCalibrator2`` over ``audio`` (N x S float32) in batches of ``batch``."""
    trt = import_tensorrt()
    cudart = import_cudart()

    class Calibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            super().__init__()
            self.i = 0
            self.nbytes = batch * audio.shape[1] * 4
            self.device = check(cudart.cudaMalloc(self.nbytes))

        def get_batch_size(self):
            return batch

        def get_batch(self, names):
            if self.i + batch > len(audio):
                return None
            x = np.ascontiguousarray(audio[self.i : self.i + batch], dtype=np.float32)
            check(cudart.cudaMemcpy(self.device, x.ctypes.data, self.nbytes, cudart.cudaMemcpyKind.cudaMemcpyHostToDevice))
            self.i += batch
            return [int(self.device)]

        def read_calibration_cache(self):
            return read_cache(cache, key)

        def write_calibration_cache(self, table):
            write_cache(cache, key, bytes(table))

    return Calibrator()
