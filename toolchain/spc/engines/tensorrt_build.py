"""TensorRT FP16 engines through the TensorRT 10 Python API (builder, ONNX parser, optimisation profile).

The engine is written atomically beside a manifest that ties it to the GPU and TensorRT version it
was built with; the timing cache is reused between builds on the same machine.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..errors import SpcError
from .cuda_env import gpu_info, import_tensorrt
from .manifest import read_manifest, write_manifest


def shape_profile(target, rate: int, max_samples: int) -> dict[str, tuple[int, int]]:
    """(batch, samples) for min, opt and max, from the target's profile and the model's longest input."""
    p = target.profile

    def samples(sec):
        return min(max_samples, int(round(sec * rate)))

    return {"min": (p.min_batch, samples(p.min_seconds)), "opt": (p.opt_batch, samples(p.opt_seconds)),
            "max": (p.max_batch, samples(p.max_seconds))}


def build_tensorrt(onnx_path: Path, target, out_path: Path, *, fp32_norms: bool = True,
                   timing_cache: Path | None = None, fp32_layer_names: tuple[str, ...] = (),
                   int8_calibration: tuple | None = None) -> dict:
    """Build an engine for ``target`` from ``onnx_path``; returns the manifest written beside it.

    ``fp32_norms`` keeps LayerNorm and softmax layers in FP32 (precision constraints obeyed);
    ``fp32_layer_names`` pins further layers (by ONNX node name prefix) to FP32.
    ``int8_calibration`` = (audio N x S, manifest hash) adds INT8 with an entropy calibrator whose
    cache (beside the engine) is keyed by the ONNX hash, TensorRT version and manifest hash.
    """
    trt = import_tensorrt()
    gpu = gpu_info()
    src = read_manifest(onnx_path)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise SpcError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, target.workspace_mb << 20)
    if target.precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    pinned = []
    if fp32_norms or fp32_layer_names:
        config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
        keep = {trt.LayerType.NORMALIZATION, trt.LayerType.SOFTMAX} if fp32_norms else set()
        for i in range(network.num_layers):
            layer = network.get_layer(i)
            if layer.type in keep or any(layer.name.startswith(n) for n in fp32_layer_names):
                layer.precision = trt.float32
                for j in range(layer.num_outputs):
                    layer.set_output_type(j, trt.float32)
                pinned.append(layer.name)
    int8_info = None
    if int8_calibration is not None:
        from .int8_calibrator import cache_key, make_calibrator

        audio, manifest_hash = int8_calibration
        cache = out_path.with_name(out_path.name + ".calib")
        key = cache_key(src["sha256"], trt.__version__, manifest_hash)
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = make_calibrator(audio, src["input"], 8, cache, key)
        int8_info = {"cache": cache.name, "key": key}
    if target.use_dla:
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = 0
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
    shapes = shape_profile(target, src["sampling_rate"], src["max_samples"])
    profile = builder.create_optimization_profile()
    profile.set_shape(src["input"], shapes["min"], shapes["opt"], shapes["max"])
    config.add_optimization_profile(profile)
    cache_bytes = timing_cache.read_bytes() if timing_cache and timing_cache.is_file() else b""
    cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(cache, ignore_mismatch=False)
    t0 = time.perf_counter()
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise SpcError(f"TensorRT could not build an engine for {target.name} from {onnx_path}")
    seconds = time.perf_counter() - t0
    tmp = out_path.with_name(out_path.name + ".tmp")
    tmp.write_bytes(bytes(engine))
    os.replace(tmp, out_path)
    if timing_cache:
        tc_tmp = timing_cache.with_name(timing_cache.name + ".tmp")
        tc_tmp.write_bytes(bytes(config.get_timing_cache().serialize()))
        os.replace(tc_tmp, timing_cache)
    manifest = {
        **{k: v for k, v in src.items() if k not in ("export", "file", "sha256")},
        "kind": "tensorrt", "file": out_path.name, "source_onnx": str(onnx_path), "source_sha256": src["sha256"],
        "target": target.as_dict(), "precision": "int8" if int8_info else target.precision,
        "int8": int8_info, "profiles": shapes,
        "fp32_layers": pinned, "tensorrt": trt.__version__, **gpu, "build_seconds": round(seconds, 2),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_manifest(out_path, manifest)
    return manifest
