"""Running a TensorRT engine with cuda-python (no torch): numpy audio in, numpy logits out.

Batches are split by the engine's profile (from its manifest), every TensorRT and CUDA return value
is checked, host staging buffers are pinned (page-locked) so copies are truly asynchronous on the
runner's stream, and ``close()`` frees every buffer, event and the stream.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from ..errors import SpcError, SpcInternalError
from .cuda_env import check, gpu_info, import_cudart, import_tensorrt
from .runner import Runner


def stale_reason(manifest: dict, here: dict, trt_version: str) -> str:
    """Why an engine's manifest does not fit this GPU, board and TensorRT ("" where it does). TensorRT engines
    are specific to the GPU model and the TensorRT version that built them (TensorRT developer guide, "Engine
    compatibility"); every Orin reports "Orin" and sm 8.7, so the SM count and the board tell a Nano from an AGX."""
    problems = []
    built = (manifest.get("gpu"), manifest.get("compute_capability"), manifest.get("sm_count"), manifest.get("board") or "")
    this = (here.get("gpu"), here.get("compute_capability"), here.get("sm_count"), here.get("board") or "")
    if built != this:
        def name(g):
            return f"{g[0]} (sm {g[1]}, {g[2]} SMs{', ' + g[3] if g[3] else ''})"

        problems.append(f"it was built on {name(built)}, this is {name(this)}")
    if manifest.get("tensorrt") != trt_version:
        problems.append(f"it was built with TensorRT {manifest.get('tensorrt')}, this has {trt_version}")
    return " and ".join(problems)


def check_engine_compatible(manifest: dict, here: dict, trt_version: str) -> None:
    """Refuse an engine built for another GPU, board or TensorRT version, saying what to rebuild."""
    why = stale_reason(manifest, here, trt_version)
    if why:
        raise SpcError(f"cannot load {manifest.get('file')}: {why}; rebuild it here with: spc build "
                       f"{manifest.get('source_onnx')} --target {manifest.get('target', {}).get('name', 'TARGET')}")


def engine_profile(manifest: dict) -> dict[str, tuple[int, int]]:
    """The engine's (batch, samples) for min/opt/max, as the build recorded them."""
    try:
        return {k: (int(manifest["profiles"][k][0]), int(manifest["profiles"][k][1])) for k in ("min", "opt", "max")}
    except (KeyError, TypeError, IndexError):
        raise SpcError(f"{manifest.get('file')}'s manifest has no shape profile: build it again with spc build") from None


class _Buffers:
    """Device (cudaMalloc) and pinned host (cudaMallocHost) buffers by name, grown on demand."""

    def __init__(self, cudart):
        self.cu = cudart
        self.device: dict[str, tuple[int, int]] = {}
        self.host: dict[str, tuple[int, int]] = {}

    def get_device(self, name: str, nbytes: int) -> int:
        ptr, size = self.device.get(name, (0, 0))
        if size < nbytes:
            if ptr:
                check(self.cu.cudaFree(ptr))
            ptr = int(check(self.cu.cudaMalloc(nbytes)))
            self.device[name] = (ptr, nbytes)
        return ptr

    def get_host(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        """A numpy view over pinned host memory of at least ``shape``."""
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape)) * dtype.itemsize
        ptr, size = self.host.get(name, (0, 0))
        if size < nbytes:
            if ptr:
                check(self.cu.cudaFreeHost(ptr))
            ptr = int(check(self.cu.cudaMallocHost(nbytes)))
            self.host[name] = (ptr, nbytes)
        raw = (ctypes.c_byte * nbytes).from_address(ptr)
        return np.frombuffer(raw, dtype=dtype, count=int(np.prod(shape))).reshape(shape)

    def free(self) -> None:
        for ptr, _ in self.device.values():
            check(self.cu.cudaFree(ptr))
        for ptr, _ in self.host.values():
            check(self.cu.cudaFreeHost(ptr))
        self.device.clear()
        self.host.clear()


class TensorRTRunner(Runner):
    """Deserialises an engine and runs batches on one CUDA stream; ``close()`` (or ``with``) frees everything."""

    def __init__(self, engine_path: str | Path, manifest: dict | None = None):
        from .artifact_manifest import load_artifact_manifest

        trt = import_tensorrt()
        self._cu = import_cudart()
        self._trt = trt
        self.path = Path(engine_path)
        self.manifest = manifest if manifest is not None else load_artifact_manifest(engine_path)
        check_engine_compatible(self.manifest, gpu_info(), trt.__version__)
        self.profile = engine_profile(self.manifest)
        self.max_batch = self.profile["max"][0]
        self.input = self.manifest["input"]
        self.outputs = list(self.manifest["outputs"])
        self.stream = None
        self._events: list = []
        self._buffers = _Buffers(self._cu)
        self.runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = self.runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            raise SpcError(f"TensorRT could not load {engine_path}: the file is damaged or was built by another "
                           "TensorRT version; build it again here")
        self.input_dtype = self._check_io()
        self.context = self.engine.create_execution_context()
        if self.context is None:
            raise RuntimeError(f"TensorRT could not create an execution context for {engine_path} (out of GPU memory?)")
        self.stream = check(self._cu.cudaStreamCreate())
        self.last_outputs: dict[str, np.ndarray] = {}

    def _check_io(self):
        """The engine's own I/O against its manifest (tensor names, directions, the input's type): a manifest that
        disagrees with its engine is one user error here, not a wrong buffer on the board. Returns the numpy type
        the input is fed in (FP32, or FP16 where the engine was built from an FP16 model with FP16 I/O)."""
        e, trt = self.engine, self._trt
        names = [e.get_tensor_name(i) for i in range(e.num_io_tensors)]
        inputs = [n for n in names if e.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if e.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if inputs != [self.input] or not set(self.outputs) <= set(outputs):
            raise SpcError(f"the manifest of {self.path.name} does not describe its engine (manifest: input "
                           f"{self.input!r}, outputs {self.outputs}; engine: inputs {inputs}, outputs {outputs}): build "
                           "it again with spc build")
        dtype = np.dtype(trt.nptype(e.get_tensor_dtype(self.input)))
        if dtype not in (np.float32, np.float16):
            raise SpcError(f"{self.path.name}'s input '{self.input}' is {dtype}, not audio samples (float32/float16): "
                           "build it again with spc build")
        return dtype

    def check_shape(self, shape: tuple[int, int]) -> None:
        lo, hi = self.profile["min"][1], self.profile["max"][1]
        if not lo <= shape[1] <= hi:
            raise SpcError(f"input shape {tuple(shape)} is outside {self.path.name}'s profile: clips of {lo}-{hi} "
                           f"samples (batch {self.profile['min'][0]}-{self.max_batch}); crop or pad the audio, "
                           "or build with a target whose profile covers it")

    def _set_input(self, shape: tuple[int, int]) -> None:
        if not self.context.set_input_shape(self.input, shape):
            raise SpcError(f"TensorRT refused input shape {tuple(shape)} for '{self.input}': {self.path.name}'s profile "
                           f"is min {self.profile['min']}, opt {self.profile['opt']}, max {self.profile['max']} "
                           "(batch, samples)")

    def _bind(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Stage ``x`` in pinned memory, set shapes and addresses; the pinned output views by name."""
        self._set_input(x.shape)
        host_in = self._buffers.get_host(self.input, x.shape, self.input_dtype)
        np.copyto(host_in, x, casting="same_kind")
        d_in = self._buffers.get_device(self.input, host_in.nbytes)
        check(self._cu.cudaMemcpyAsync(d_in, host_in.ctypes.data, host_in.nbytes,
                                       self._cu.cudaMemcpyKind.cudaMemcpyHostToDevice, self.stream))
        self._address(self.input, d_in)
        hosts = {}
        for name in self.outputs:
            shape = tuple(int(d) for d in self.context.get_tensor_shape(name))
            if any(d < 0 for d in shape):
                raise SpcInternalError(f"TensorRT left the shape of '{name}' unresolved ({shape}) for input {x.shape}")
            dtype = np.dtype(self._trt.nptype(self.engine.get_tensor_dtype(name)))
            hosts[name] = self._buffers.get_host(name, shape, dtype)
            self._address(name, self._buffers.get_device(name, hosts[name].nbytes))
        return hosts

    def _address(self, name: str, ptr: int) -> None:
        if not self.context.set_tensor_address(name, ptr):
            raise SpcInternalError(f"TensorRT refused the buffer address of '{name}'")

    def _execute(self) -> None:
        if not self.context.execute_async_v3(int(self.stream)):
            raise RuntimeError(f"TensorRT execution of {self.path.name} failed (see the TensorRT log above)")

    def _infer_batch(self, audio: np.ndarray) -> np.ndarray:
        """Logits (B x C) for one batch within the profile; also sets ``self.last_outputs``."""
        cu = self._cu
        hosts = self._bind(audio)
        self._execute()
        for name, host in hosts.items():
            check(cu.cudaMemcpyAsync(host.ctypes.data, self._buffers.device[name][0], host.nbytes,
                                     cu.cudaMemcpyKind.cudaMemcpyDeviceToHost, self.stream))
        check(cu.cudaStreamSynchronize(self.stream))
        self.last_outputs = {k: v.copy() for k, v in hosts.items()}
        return self.last_outputs[self.outputs[0]].astype(np.float32)

    def device_times_ms(self, audio: np.ndarray, warmup: int = 10, runs: int = 50) -> list[float]:
        """GPU time of the engine alone (CUDA events on the runner's stream around enqueue), one batch."""
        cu = self._cu
        x = np.ascontiguousarray(audio, dtype=np.float32)
        self.check_shape(x.shape)
        if len(x) > self.max_batch:
            raise SpcError(f"batch {len(x)} is over {self.path.name}'s profile max batch {self.max_batch}")
        self._bind(x)
        check(cu.cudaStreamSynchronize(self.stream))
        if not self._events:
            self._events = [check(cu.cudaEventCreate()), check(cu.cudaEventCreate())]
        start, end = self._events
        for _ in range(warmup):
            self._execute()
        times = []
        for _ in range(runs):
            check(cu.cudaEventRecord(start, self.stream))
            self._execute()
            check(cu.cudaEventRecord(end, self.stream))
            check(cu.cudaEventSynchronize(end))
            times.append(float(check(cu.cudaEventElapsedTime(start, end))))
        return times

    def close(self) -> None:
        """Free device and pinned buffers, events and the stream; drop the context before the engine."""
        if getattr(self, "_buffers", None) is None:
            return
        if self.stream is not None:
            check(self._cu.cudaStreamSynchronize(self.stream))
        self._buffers.free()
        for ev in self._events:
            check(self._cu.cudaEventDestroy(ev))
        self._events = []
        if self.stream is not None:
            check(self._cu.cudaStreamDestroy(self.stream))
            self.stream = None
        self.context = None
        self.engine = None
        self._buffers = None
