"""Small fakes of ``tensorrt`` (10.3 Python API) and cuda-python 12 (``cuda.bindings.runtime``) for CPU tests.

They record calls and return what the real APIs return: cuda-python calls give ``(cudaError_t, value...)``
tuples, ``set_input_shape`` / ``set_tensor_address`` / ``execute_async_v3`` / ``set_timing_cache`` give
bools, ``create_timing_cache`` / ``get_timing_cache`` / ``deserialize_cuda_engine`` may give None,
``add_optimization_profile`` gives an index or -1. They refuse what the real library refuses, each with its
documented source: the ONNX parser reports errors (an INT32 ``DequantizeLinear``: onnx-tensorrt's operator
table, onnx-tensorrt#850; a file that is not ONNX); TensorRT 8.6 has no ``STRONGLY_TYPED`` flag and
``create_network(0)`` is implicit batch there (8.6 Python API); a weakly typed Q/DQ network does not build
without the INT8 flag and a strongly typed one refuses precision flags (TensorRT developer guide, "Explicit
quantization"); an engine from another TensorRT deserialises to None (developer guide, "Engine
compatibility"); ``set_tensor_address`` refuses unknown names and addresses without 256-byte alignment
(IExecutionContext::setTensorAddress); ``get_tensor_shape`` answers per tensor name. Memory is real
(ctypes, device buffers aligned like cudaMalloc's), so data really flows:
the fake engine computes ``logits[b, c] = mean(audio[b]) * (c + 1)``, the same function as the
tiny ONNX model the tests build, so the engine path can be compared with ONNX Runtime.
"""

from __future__ import annotations

import ctypes
import enum
import json
import sys
import types
from dataclasses import dataclass, field

import numpy as np

N_CLASSES = 3


# ---------------------------------------------------------------- cuda-python


class cudaError_t(enum.IntEnum):
    cudaSuccess = 0
    cudaErrorMemoryAllocation = 2
    cudaErrorInsufficientDriver = 35
    cudaErrorNoDevice = 100


class cudaMemcpyKind(enum.IntEnum):
    cudaMemcpyHostToHost = 0
    cudaMemcpyHostToDevice = 1
    cudaMemcpyDeviceToHost = 2


class _Handle:
    _next = 1000

    def __init__(self):
        _Handle._next += 1
        self.value = _Handle._next

    def __int__(self):
        return self.value


class cudaStream_t(_Handle):
    pass


class cudaEvent_t(_Handle):
    pass


@dataclass
class cudaDeviceProp:
    name: bytes
    major: int
    minor: int
    multiProcessorCount: int
    totalGlobalMem: int


GIB = 1 << 30
#: what cudaGetDeviceProperties reports, and the board's /proc/device-tree/model ("" on a desktop)
GPUS = {
    "orin": (cudaDeviceProp(b"Orin", 8, 7, 8, int(7.4 * GIB)), "NVIDIA Jetson Orin Nano Developer Kit"),
    "orin-nx": (cudaDeviceProp(b"Orin", 8, 7, 8, int(15.3 * GIB)), "NVIDIA Jetson Orin NX Engineering Reference Developer Kit"),
    "agx-orin": (cudaDeviceProp(b"Orin", 8, 7, 16, int(61.4 * GIB)), "Jetson AGX Orin Developer Kit"),
    "rtx-4090": (cudaDeviceProp(b"NVIDIA GeForce RTX 4090", 8, 9, 128, int(23.6 * GIB)), ""),
}
ALIGN = 256


class FakeCudart(types.ModuleType):
    """``cuda.bindings.runtime``: every call recorded in ``calls``; device and pinned memory tracked."""

    cudaError_t = cudaError_t
    cudaMemcpyKind = cudaMemcpyKind

    def __init__(self, gpu: str = "orin", count_error: cudaError_t = cudaError_t.cudaSuccess, runtime: int = 12060,
                 driver: int = 12060):
        super().__init__("cuda.bindings.runtime")
        self.props, self.board = GPUS[gpu]
        self.count_error = count_error
        #: cuda-bindings 12.9+ link the runtime statically, so ``runtime`` is the cuda-python's own CUDA; a runtime
        #: newer than the driver fails its first call with cudaErrorInsufficientDriver, as on an Orin with
        #: cuda-python 12.9 over JetPack 6's 12.6 driver (jetpack-nixos#328, FoundationStereo#209)
        self.runtime, self.driver = runtime, driver
        self.calls: list[tuple] = []
        self.device: dict[int, ctypes.Array] = {}
        self.host: dict[int, ctypes.Array] = {}
        self.streams: set[int] = set()
        self.events: set[int] = set()
        self.ok = cudaError_t.cudaSuccess

    def _rec(self, *call):
        self.calls.append(call)

    def cudaGetDeviceCount(self):
        self._rec("cudaGetDeviceCount")
        if self.count_error:
            return self.count_error, 0
        if self.runtime > self.driver:
            return cudaError_t.cudaErrorInsufficientDriver, 0
        return self.ok, 1

    def cudaGetDeviceProperties(self, i):
        return self.ok, self.props

    def cudaRuntimeGetVersion(self):
        return self.ok, self.runtime

    def cudaDriverGetVersion(self):
        return self.ok, self.driver

    def _alloc(self, table, n):
        buf = ctypes.create_string_buffer(int(n) + ALIGN)  # cudaMalloc returns 256-byte aligned memory
        ptr = -(-ctypes.addressof(buf) // ALIGN) * ALIGN
        table[ptr] = buf
        return ptr

    def cudaMalloc(self, n):
        self._rec("cudaMalloc", n)
        return self.ok, self._alloc(self.device, n)

    def cudaMallocHost(self, n):
        self._rec("cudaMallocHost", n)
        return self.ok, self._alloc(self.host, n)

    def cudaFree(self, ptr):
        self._rec("cudaFree", ptr)
        self.device.pop(int(ptr))
        return (self.ok,)

    def cudaFreeHost(self, ptr):
        self._rec("cudaFreeHost", ptr)
        self.host.pop(int(ptr))
        return (self.ok,)

    def cudaMemcpyAsync(self, dst, src, n, kind, stream):
        self._rec("cudaMemcpyAsync", kind)
        assert int(stream) in self.streams
        known = self.host if kind == cudaMemcpyKind.cudaMemcpyHostToDevice else self.device
        assert int(src) in known, "copies go through pinned host / device buffers"
        ctypes.memmove(int(dst), int(src), int(n))
        return (self.ok,)

    def cudaStreamCreate(self):
        s = cudaStream_t()
        self.streams.add(int(s))
        return self.ok, s

    def cudaStreamSynchronize(self, s):
        return (self.ok,)

    def cudaStreamDestroy(self, s):
        self.streams.remove(int(s))
        return (self.ok,)

    def cudaEventCreate(self):
        e = cudaEvent_t()
        self.events.add(int(e))
        return self.ok, e

    def cudaEventRecord(self, e, s):
        self._rec("cudaEventRecord", int(e), int(s))
        return (self.ok,)

    def cudaEventSynchronize(self, e):
        return (self.ok,)

    def cudaEventElapsedTime(self, a, b):
        return self.ok, 0.25

    def cudaEventDestroy(self, e):
        self.events.remove(int(e))
        return (self.ok,)


# ---------------------------------------------------------------- tensorrt


class DataType(enum.IntEnum):
    FLOAT = 0
    HALF = 1
    INT8 = 2
    INT32 = 3
    INT64 = 9


class BuilderFlag(enum.IntEnum):
    FP16 = 0
    INT8 = 2
    GPU_FALLBACK = 4
    OBEY_PRECISION_CONSTRAINTS = 9


class NetworkDefinitionCreationFlag(enum.IntEnum):
    EXPLICIT_BATCH = 0
    STRONGLY_TYPED = 1


class BuilderFlag11(enum.IntEnum):
    """TensorRT 11: FP16, INT8, OBEY_PRECISION_CONSTRAINTS (and the other precision flags) are gone (NVIDIA's
    "TensorRT 10.x to 11.x Python API migration reference"); strong typing decides precisions."""

    GPU_FALLBACK = 4


class NetworkDefinitionCreationFlag11(enum.IntEnum):
    """TensorRT 11: EXPLICIT_BATCH is gone; STRONGLY_TYPED is kept for compatibility, value 0, and ignored (every
    network is strongly typed: TensorRT 11.1 NvInfer.h and pyCoreDoc.h)."""

    STRONGLY_TYPED = 0


class TensorIOMode(enum.IntEnum):
    NONE = 0
    INPUT = 1
    OUTPUT = 2


class NetworkDefinitionCreationFlag86(enum.IntEnum):
    """TensorRT 8.6: explicit batch must be asked for; strong typing does not exist yet."""

    EXPLICIT_BATCH = 0
    EXPLICIT_PRECISION = 1


class MemoryPoolType(enum.IntEnum):
    WORKSPACE = 0


class DeviceType(enum.IntEnum):
    GPU = 0
    DLA = 1


class Logger:
    WARNING = 2

    def __init__(self, level=None):
        self.level = level


@dataclass
class Tensor:
    dtype: DataType


@dataclass
class Layer:
    name: str
    outputs: list
    precision: DataType = DataType.FLOAT
    output_types: dict = field(default_factory=dict)
    strongly_typed: bool = False
    major: int = 10

    @property
    def num_outputs(self):
        return len(self.outputs)

    def get_output(self, j):
        return self.outputs[j]

    def set_output_type(self, j, dtype):
        if self.major >= 11:  # TensorRT 11 Python: ILayer.set_output_type is gone (pyGraph.cpp, 11.1 against 10.3)
            raise AttributeError("'tensorrt.ILayer' object has no attribute 'set_output_type'")
        assert not self.strongly_typed, "strongly typed networks reject set_output_type"
        self.output_types[j] = dtype


@dataclass
class Network:
    flags: int
    layers: list = field(default_factory=list)
    explicit_batch: bool = True
    strongly_typed: bool = False
    has_qdq: bool = False
    parser: object = None  # a weak reference to the parser that filled it

    @property
    def num_layers(self):
        return len(self.layers)

    def get_layer(self, i):
        return self.layers[i]


class OnnxParser:
    """Parses the ONNX file with ``onnx``: one layer per node (named after it), a ``_1`` extra for MatMul
    (as the real parser adds helper layers), integer outputs for shape arithmetic."""

    def __init__(self, network, logger):
        import weakref

        self.network = network
        self.errors: list[str] = []
        # the parser owns the weights the network points to (TensorRT developer guide, "Importing a Model Using the
        # ONNX Parser": do not delete it until the builder has run); the fake's builder checks it is still alive
        network.parser = weakref.ref(self)

    def parse_from_file(self, path):
        import onnx

        net = self.network
        if not net.explicit_batch:  # TensorRT 8.6 with create_network(0)
            self.errors.append("ModelImporter.cpp: The ONNX parser only supports networks with an explicit batch dimension")
            return False
        try:
            model = onnx.load(path)
        except Exception as exc:  # noqa: BLE001 - the real parser reports any unreadable file the same way
            self.errors.append(f"ModelImporter.cpp:773: Failed to parse ONNX model from file: {path} ({type(exc).__name__})")
            return False
        types = {i.name: i.data_type for i in model.graph.initializer}
        typed = net.strongly_typed
        for node in model.graph.node:
            if node.op_type == "DequantizeLinear" and types.get(node.input[0]) == onnx.TensorProto.INT32:
                self.errors.append(f"In node {node.name} (importDequantizeLinear): only activation types allowed "
                                   "as input to this layer.")
                return False
            net.has_qdq |= node.op_type in ("QuantizeLinear", "DequantizeLinear")
            dtype = DataType.INT64 if node.op_type in ("Shape", "Gather", "Concat") else DataType.FLOAT
            major = int(sys.modules["tensorrt"].__version__.split(".")[0])
            net.layers.append(Layer(node.name, [Tensor(dtype)], strongly_typed=typed, major=major))
            if node.op_type == "MatMul":
                net.layers.append(Layer(node.name + "_1", [Tensor(DataType.FLOAT)], strongly_typed=typed, major=major))
        return True

    @property
    def num_errors(self):
        return len(self.errors)

    def get_error(self, i):
        return self.errors[i]


class OptimizationProfile:
    def __init__(self):
        self.shapes = {}

    def set_shape(self, name, mn, opt, mx):
        if not (tuple(mn) <= tuple(opt) and all(a <= b <= c for a, b, c in zip(mn, opt, mx))):
            raise RuntimeError("Shape provided for min is inconsistent with other shapes.")
        self.shapes[name] = (tuple(mn), tuple(opt), tuple(mx))


class TimingCache:
    def __init__(self, blob: bytes, key: str):
        self.blob = blob
        self.key = key

    def serialize(self):
        return memoryview(b"cache-for-" + self.key.encode())


class BuilderConfig:
    def __init__(self, trt):
        self.trt = trt
        self.flags: set = set()
        self.profiles: list = []
        self.cache = None
        self.default_device_type = DeviceType.GPU
        self.DLA_core = -1
        self.pool = {}

    def set_memory_pool_limit(self, pool, size):
        self.pool[pool] = size

    def set_flag(self, flag):
        self.flags.add(flag)

    def add_optimization_profile(self, p):
        self.profiles.append(p)
        return len(self.profiles) - 1

    def create_timing_cache(self, blob):
        blob = bytes(blob)
        self.trt.calls.append(("create_timing_cache", blob))
        if blob.startswith(b"garbage"):
            return None
        return TimingCache(blob, self.trt.cache_key)

    def set_timing_cache(self, cache, ignore_mismatch):
        ok = not cache.blob or cache.blob == b"cache-for-" + self.trt.cache_key.encode()
        self.trt.calls.append(("set_timing_cache", cache.blob, ignore_mismatch, ok))
        if ok:
            self.cache = cache
        return ok

    def get_timing_cache(self):
        return None if self.trt.no_timing_cache else self.cache


class Builder:
    def __init__(self, logger):
        self.trt = sys.modules["tensorrt"]

    def create_network(self, flags=0):
        self.trt.calls.append(("create_network", flags))
        major = int(self.trt.__version__.split(".")[0])
        explicit = major >= 10 or bool(flags & (1 << int(self.trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)))
        typed = major >= 11 or (major >= 10 and bool(flags & (1 << int(NetworkDefinitionCreationFlag.STRONGLY_TYPED))))
        return Network(flags, explicit_batch=explicit, strongly_typed=typed)

    def create_builder_config(self):
        self.trt.last_config = BuilderConfig(self.trt)
        return self.trt.last_config

    def create_optimization_profile(self):
        return OptimizationProfile()

    def build_serialized_network(self, network, config):
        if self.trt.fail_build:
            return None
        if network.parser is not None and network.parser() is None:  # real TensorRT reads freed weights here
            raise RuntimeError("the ONNX parser that owns the network's weights was freed before the build")
        precision = {int(BuilderFlag.FP16), int(BuilderFlag.INT8), int(BuilderFlag.OBEY_PRECISION_CONSTRAINTS)}
        if network.strongly_typed and {int(f) for f in config.flags} & precision:
            self.trt.log.append("Error: precision flags are not allowed on a strongly typed network")
            return None
        if network.has_qdq and not network.strongly_typed and BuilderFlag.INT8 not in config.flags:
            self.trt.log.append("Error: Q/DQ layers in a network built without the INT8 flag")
            return None
        (name, (mn, opt, mx)), = config.profiles[0].shapes.items()
        plan = {"input": name, "min": mn, "opt": opt, "max": mx, "flags": sorted(int(f) for f in config.flags),
                "pinned": [l.name for l in network.layers if l.output_types], "version": self.trt.__version__,
                "strongly_typed": network.strongly_typed, "outputs": list(self.trt.engine_outputs)}
        return memoryview(b"ENGINE" + json.dumps(plan).encode())


class Context:
    def __init__(self, engine):
        self.engine = engine
        self.shapes = {}
        self.addresses = {}
        self.shape_calls: list[tuple] = []

    def set_input_shape(self, name, shape):
        shape = tuple(shape)
        self.shape_calls.append(shape)
        plan = self.engine.plan
        ok = (name == plan["input"] and not self.engine.trt.refuse_shapes
              and all(a <= s <= b for a, s, b in zip(plan["min"], shape, plan["max"])))
        if ok:
            self.shapes[name] = shape
        return ok

    def get_tensor_shape(self, name):
        inp = self.engine.plan["input"]
        if name == inp:
            return self.shapes.get(inp, (-1, -1))
        if name == "logits":
            return (self.shapes[inp][0], N_CLASSES) if inp in self.shapes else (-1, N_CLASSES)
        return ()  # not a tensor of this engine (the real call logs an error and returns empty Dims)

    def set_tensor_address(self, name, ptr):
        if name not in (self.engine.plan["input"], "logits") or int(ptr) % ALIGN:
            return False
        self.addresses[name] = int(ptr)
        return True

    def execute_async_v3(self, stream_handle):
        assert isinstance(stream_handle, int), "the stream handle goes to TensorRT as an integer"
        inp = self.engine.plan["input"]
        for name in [inp, *self.engine.plan["outputs"]]:  # IExecutionContext::enqueueV3 checks every I/O tensor
            if name not in self.addresses:
                self.engine.trt.log.append(f"IExecutionContext::enqueueV3: Error Code 3: API Usage Error (Address is "
                                           f"not set for tensor {name}. Call setTensorAddress before enqueue)")
                return False
        b, s = self.shapes[inp]
        x = np.ctypeslib.as_array((ctypes.c_float * (b * s)).from_address(self.addresses[inp])).reshape(b, s)
        out = np.ctypeslib.as_array((ctypes.c_float * (b * N_CLASSES)).from_address(self.addresses["logits"]))
        out[:] = (x.mean(axis=1, keepdims=True) * np.arange(1, N_CLASSES + 1, dtype=np.float32)).ravel()
        self.engine.trt.executions.append((b, s))
        return True


class Engine:
    def __init__(self, trt, plan):
        self.trt = trt
        self.plan = plan

    def create_execution_context(self):
        self.trt.contexts.append(Context(self))
        return self.trt.contexts[-1]

    def get_tensor_dtype(self, name):
        return DataType.FLOAT

    @property
    def num_io_tensors(self):
        return 1 + len(self.plan["outputs"])

    def get_tensor_name(self, i):
        return [self.plan["input"], *self.plan["outputs"]][i]

    def get_tensor_mode(self, name):
        if name == self.plan["input"]:
            return TensorIOMode.INPUT
        return TensorIOMode.OUTPUT if name in self.plan["outputs"] else TensorIOMode.NONE


class Runtime:
    def __init__(self, logger):
        self.trt = sys.modules["tensorrt"]

    def deserialize_cuda_engine(self, blob):
        blob = bytes(blob)
        if not blob.startswith(b"ENGINE"):
            return None
        plan = json.loads(blob[len(b"ENGINE"):])
        if plan.get("version") != self.trt.__version__:  # "The engine plan file is not compatible with this version"
            self.trt.log.append("Error: engine plan built by another TensorRT version")
            return None
        return Engine(self.trt, plan)


def _nptype(dt):
    return {DataType.FLOAT: np.float32, DataType.HALF: np.float16, DataType.INT32: np.int32,
            DataType.INT64: np.int64, DataType.INT8: np.int8}[dt]


def make_tensorrt(version: str = "10.3.0", gpu_key: str = "orin") -> types.ModuleType:
    """A fresh fake ``tensorrt`` module with its own call log and switches."""
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    for obj in (Logger, Builder, Runtime, OnnxParser, BuilderFlag, NetworkDefinitionCreationFlag, MemoryPoolType,
                DeviceType, DataType):
        setattr(trt, obj.__name__, obj)
    if int(version.split(".")[0]) < 10:
        trt.NetworkDefinitionCreationFlag = NetworkDefinitionCreationFlag86
    if int(version.split(".")[0]) >= 11:
        trt.BuilderFlag = BuilderFlag11
        trt.NetworkDefinitionCreationFlag = NetworkDefinitionCreationFlag11
    trt.TensorIOMode = TensorIOMode
    trt.engine_outputs = ["logits"]  # what the fake engine's outputs are called (a manifest can disagree)
    trt.float32, trt.float16, trt.int32, trt.int64, trt.int8 = (DataType.FLOAT, DataType.HALF, DataType.INT32,
                                                                 DataType.INT64, DataType.INT8)
    trt.nptype = _nptype
    trt.calls, trt.contexts, trt.executions, trt.log = [], [], [], []
    trt.cache_key = f"{gpu_key}-{version}"
    trt.no_timing_cache = False
    trt.refuse_shapes = False
    trt.fail_build = False
    trt.last_config = None
    return trt


def install(monkeypatch, gpu: str = "orin", count_error=cudaError_t.cudaSuccess, with_tensorrt: bool = True,
            version: str = "10.3.0", system_runtime: str | None = None, runtime: int = 12060, driver: int = 12060,
            board: str | None = None, tegra: str | None = None):
    """Put the fakes in ``sys.modules`` (undone after the test), the board's model (``board`` overrides the GPU's:
    "" as inside a container without the mount), the L4T release line (``tegra``; default: a Jetson's for a Jetson
    GPU) and the system's CUDA runtime (None: no libcudart found) in place; returns (trt or None, cudart)."""
    from spc.engines import cuda_env

    cudart = FakeCudart(gpu, count_error, runtime, driver)
    if board is not None:
        cudart.board = board
    jetson = GPUS[gpu][1] != ""
    release = tegra if tegra is not None else ("R36 (release), REVISION: 4.3" if jetson else "")
    monkeypatch.setattr(cuda_env, "board_model", lambda path=None: cudart.board)
    monkeypatch.setattr(cuda_env, "tegra_release", lambda path=None: release)
    monkeypatch.setattr(cuda_env, "system_cuda_runtime",
                        lambda names=(): (system_runtime, "libcudart.so") if system_runtime else (None, ""))
    cuda = types.ModuleType("cuda")
    bindings = types.ModuleType("cuda.bindings")
    bindings.runtime = cudart
    cuda.bindings = bindings
    monkeypatch.setitem(sys.modules, "cuda", cuda)
    monkeypatch.setitem(sys.modules, "cuda.bindings", bindings)
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", cudart)
    trt = None
    if with_tensorrt:
        trt = make_tensorrt(version, gpu_key=gpu)
        monkeypatch.setitem(sys.modules, "tensorrt", trt)
    else:
        monkeypatch.setitem(sys.modules, "tensorrt", None)  # import tensorrt -> ImportError
    return trt, cudart


def tiny_onnx(path, *, max_samples: int = 32000, manifest_extra: dict | None = None, qdq: bool = False,
              int32_bias: bool = False, labels: tuple[str, ...] = ("a", "b", "c")):
    """A runnable ONNX model (audio B x S -> logits B x 3 = mean(audio) * [1, 2, 3]) with an spc manifest.

    Node names follow the exporter's ``/layers.N/`` scopes; ``/layers.0/Shape`` is integer arithmetic.
    ``qdq``: the MatMul weight goes through an INT8 DequantizeLinear (what ``spc precision`` writes);
    ``int32_bias``: a bias added behind an INT32 DequantizeLinear (ONNX Runtime's default bias quantisation).
    """
    import onnx
    from onnx import TensorProto, helper

    from spc.engines.artifact_manifest import write_manifest
    from spc.fileio import sha256_file

    inits = []
    nodes = [
        helper.make_node("ReduceMean", ["audio"], ["m"], name="/layers.0/ReduceMean", axes=[1], keepdims=1),
        helper.make_node("Shape", ["audio"], ["shape"], name="/layers.0/Shape"),
    ]
    if qdq:  # w = 127 * (1/127, 2/127, 3/127) -> [1, 2, 3] exactly
        inits += [helper.make_tensor("w_q", TensorProto.INT8, [1, N_CLASSES], [1, 2, 3]),
                  helper.make_tensor("w_scale", TensorProto.FLOAT, [], [1.0]),
                  helper.make_tensor("w_zero", TensorProto.INT8, [], [0])]
        nodes.append(helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zero"], ["w"], name="/layers.1/DQ_w"))
    else:
        inits.append(helper.make_tensor("w", TensorProto.FLOAT, [1, N_CLASSES], [1.0, 2.0, 3.0]))
    nodes.append(helper.make_node("MatMul", ["m", "w"], ["h"], name="/layers.1/MatMul"))
    if int32_bias:
        inits += [helper.make_tensor("b_q", TensorProto.INT32, [N_CLASSES], [0, 0, 0]),
                  helper.make_tensor("b_scale", TensorProto.FLOAT, [], [1.0])]
        nodes += [helper.make_node("DequantizeLinear", ["b_q", "b_scale"], ["b"], name="/classifier/DQ_bias"),
                  helper.make_node("Add", ["h", "b"], ["logits"], name="/classifier/Add")]
    else:
        nodes.append(helper.make_node("Identity", ["h"], ["logits"], name="/classifier/Identity"))
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["batch", "samples"])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", N_CLASSES])],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    write_manifest(path, {"kind": "onnx", "file": path.name, "sha256": sha256_file(path), "input": "audio",
                          "outputs": ["logits"], "labels": list(labels), "sampling_rate": 16000,
                          "clip_seconds": 1.0, "max_samples": max_samples, **(manifest_extra or {})})
    return path


def expected_logits(audio: np.ndarray) -> np.ndarray:
    return (audio.mean(axis=1, keepdims=True) * np.arange(1, N_CLASSES + 1, dtype=np.float32)).astype(np.float32)
