"""TensorRT engines through the TensorRT 10 Python API (builder, ONNX parser, optimisation profile).

FP16 engines from an FP32 export (chosen layers optionally kept in FP32, by ONNX node name), and
INT8 engines from the QDQ model ``spc precision`` writes: explicit quantisation, so one calibration
manifest drives INT8 on the CPU and the GPU alike (TensorRT's implicit calibrators are deprecated since
10.1). A QDQ model is FP32 outside its Q/DQ pairs, so it is built weakly typed with the INT8 and FP16
flags (what ``trtexec --int8 --fp16`` does; a Q/DQ network needs the INT8 flag there): the quantised
layers run INT8 and the rest FP16, as in an FP16 engine, so the two compare fairly. A strongly typed
network would run the rest in FP32, the QDQ model's own types. The engine is written atomically beside a
manifest that ties it to the GPU, board and TensorRT version; the timing cache is keyed by them.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from ..errors import SpcError
from .cuda_env import import_tensorrt
from .device import require_build
from .fp32_layers import pin_fp32
from .artifact_manifest import derive_manifest, read_manifest, write_manifest
from .timing_cache import attach_timing_cache, save_timing_cache, timing_cache_path


def shape_profile(target, rate: int, max_samples: int) -> dict[str, tuple[int, int]]:
    """(batch, samples) for min, opt and max, from the target's profile and the model's longest input."""
    p = target.profile

    def samples(sec):
        return min(max_samples, int(round(sec * rate)))

    return {"min": (p.min_batch, samples(p.min_seconds)), "opt": (p.opt_batch, samples(p.opt_seconds)),
            "max": (p.max_batch, samples(p.max_seconds))}


def is_qdq(manifest: dict) -> bool:
    """Whether an ONNX artifact is explicitly quantised (Q/DQ nodes: ``spc precision``'s int8.onnx)."""
    return (manifest.get("quantization") or {}).get("format") == "QDQ"


def _note(notes: list[str], text: str) -> None:
    notes.append(text)
    print(f"note: {text}", file=sys.stderr)


def build_tensorrt(onnx_path: Path, target, out_path: Path, *, fp32_nodes: list[str] | tuple[str, ...] = (),
                   timing_cache_dir: Path | None = None) -> dict:
    """Build an engine for ``target`` from ``onnx_path``; returns the manifest written beside it.

    ``fp32_nodes``: ONNX node names whose layers stay FP32 (precision constraints obeyed).
    """
    trt = import_tensorrt()
    gpu = require_build(target).gpu
    src = read_manifest(onnx_path)
    qdq = is_qdq(src)
    notes: list[str] = []
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode; 0 = weakly typed
    if network is None:
        raise RuntimeError("TensorRT could not create a network definition")
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise SpcError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, target.workspace_mb << 20)
    if target.precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    if qdq:
        config.set_flag(trt.BuilderFlag.INT8)  # Q/DQ layers run INT8 (without the flag the build fails)
    fp32 = None
    if fp32_nodes:
        fp32 = pin_fp32(trt, network, list(fp32_nodes))
        if fp32["pinned_layers"]:
            config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
    if target.use_dla:  # targets.py guarantees a static profile
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = 0
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
    shapes = shape_profile(target, src["sampling_rate"], src["max_samples"])
    profile = builder.create_optimization_profile()
    profile.set_shape(src["input"], shapes["min"], shapes["opt"], shapes["max"])  # raises on inconsistent shapes
    if config.add_optimization_profile(profile) < 0:
        raise SpcError(f"TensorRT refused the shape profile {shapes} of {target.name} for '{src['input']}'")
    cache_path = timing_cache_path(timing_cache_dir or out_path.parent, gpu, trt.__version__)
    attach_timing_cache(config, cache_path, lambda t: _note(notes, t))
    t0 = time.perf_counter()
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise SpcError(f"TensorRT could not build an engine for {target.name} from {onnx_path} (see its log above)")
    seconds = time.perf_counter() - t0
    tmp = out_path.with_name(out_path.name + ".tmp")
    tmp.write_bytes(bytes(engine))
    os.replace(tmp, out_path)
    cache_saved = save_timing_cache(config, cache_path, lambda t: _note(notes, t))
    manifest = derive_manifest(
        out_path, src, parent_path=onnx_path, made_by={"recipe": "build", "target": target.name},
        kind="tensorrt", target=target.as_dict(), precision=f"int8-qdq+{target.precision}" if qdq else target.precision,
        strongly_typed=False, profiles=shapes, fp32_layers=fp32, dla=target.use_dla,
        timing_cache=cache_path.name if cache_saved else None, notes=notes, tensorrt=trt.__version__, **gpu,
        build_seconds=round(seconds, 2), built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    write_manifest(out_path, manifest)
    return manifest
