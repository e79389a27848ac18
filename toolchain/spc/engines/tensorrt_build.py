"""TensorRT engines through the TensorRT 10.3-11.x Python API (builder, ONNX parser, optimisation profile).

Two ways to a network's precisions, chosen by what the ONNX model is and what the TensorRT offers:

- **strongly typed** (the model's own types; ``NetworkDefinitionCreationFlag.STRONGLY_TYPED`` on 10.x, always on
  11.x): an FP16 or mixed FP16 model from ``spc precision`` (fp16.onnx, mixed.onnx: its sensitive layers kept
  FP32 in the graph), and on 11.x everything. TensorRT 11 removed ``BuilderFlag.FP16``, ``INT8`` and
  ``OBEY_PRECISION_CONSTRAINTS`` and ``ILayer.set_output_type`` (NVIDIA's 10.x-to-11.x Python API migration
  reference): FP16 comes from a mixed-precision ONNX model, so an FP32 export is refused there in one line naming
  the model to build instead;
- **weakly typed** (TensorRT 10.x only): an FP32 export with the FP16 flag, chosen layers kept FP32 by ONNX node
  name; a QDQ model (``spc precision``'s int8.onnx: explicit quantisation, one calibration manifest for CPU and
  GPU) with the INT8 and FP16 flags, as ``trtexec --int8 --fp16`` builds it (the quantised layers INT8, the rest
  FP16, so it compares fairly with the FP16 engine). On 11.x a QDQ model is built strongly typed: the rest runs
  in its own FP32, which the manifest and a note say.

The optimisation profile's optimum is the shape the engine will be timed and run at (``opt_batch``; compress
times batch 1), since TensorRT picks kernels for it. The engine is written atomically beside a manifest that ties
it to the GPU, board and TensorRT version; the timing cache is keyed by them.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from ..errors import SpcError
from .cuda_env import import_tensorrt, require_tensorrt_build
from .fp32_layers import pin_fp32
from .artifact_manifest import derive_manifest, read_manifest, write_manifest
from .timing_cache import attach_timing_cache, save_timing_cache, timing_cache_path


def shape_profile(target, rate: int, max_samples: int, opt_batch: int = 0) -> dict[str, tuple[int, int]]:
    """(batch, samples) for min, opt and max, from the target's profile and the model's longest input; ``opt_batch``
    (within the profile's batches) moves the optimum to the batch the engine will be timed at (0: the target's)."""
    p = target.profile

    def samples(sec):
        return min(max_samples, int(round(sec * rate)))

    opt = min(max(opt_batch, p.min_batch), p.max_batch) if opt_batch else p.opt_batch
    return {"min": (p.min_batch, samples(p.min_seconds)), "opt": (opt, samples(p.opt_seconds)),
            "max": (p.max_batch, samples(p.max_seconds))}


def tensorrt_major(trt) -> int:
    """The installed TensorRT's major version (10 or 11)."""
    return int(str(trt.__version__).split(".")[0])


def low_precision(manifest: dict) -> bool:
    """Whether an ONNX artifact already holds its FP16 types (``spc precision``'s fp16.onnx or mixed.onnx)."""
    return str(manifest.get("precision", "fp32")).startswith("fp16")


def typing_plan(trt, manifest: dict, target, fp32_nodes) -> tuple[bool, str | None]:
    """(strongly typed, why not buildable or None) for this model on this TensorRT (see the module)."""
    major = tensorrt_major(trt)
    if low_precision(manifest):
        return True, None
    if major >= 11 and is_qdq(manifest):
        return True, None
    if major >= 11 and target.precision == "fp16":
        return True, (f"TensorRT {trt.__version__} builds strongly typed networks only (it has no FP16 flag): build the "
                      "FP16 ONNX model `spc precision MODEL --data DIR --calib SET --out DIR` writes (fp16.onnx, or "
                      "mixed.onnx with the sensitive layers kept FP32) instead of this FP32 export, or use TensorRT 10.x")
    if fp32_nodes and major >= 11:
        return True, (f"TensorRT {trt.__version__} cannot pin layers to FP32 (ILayer.set_output_type is gone): build "
                      "spc precision's mixed.onnx, which keeps the flagged layers FP32 in the model itself")
    return False, None


def is_qdq(manifest: dict) -> bool:
    """Whether an ONNX artifact is explicitly quantised (Q/DQ nodes: ``spc precision``'s int8.onnx)."""
    return (manifest.get("quantization") or {}).get("format") == "QDQ"


def _note(notes: list[str], text: str) -> None:
    notes.append(text)
    print(f"note: {text}", file=sys.stderr)


def build_tensorrt(onnx_path: Path, target, out_path: Path, *, fp32_nodes: list[str] | tuple[str, ...] = (),
                   timing_cache_dir: Path | None = None, opt_batch: int = 0) -> dict:
    """Build an engine for ``target`` from ``onnx_path``; returns the manifest written beside it.

    ``fp32_nodes``: ONNX node names whose layers stay FP32 (precision constraints obeyed; TensorRT 10.x);
    ``opt_batch``: the batch the profile is tuned for (0: the target's).
    """
    trt = import_tensorrt()
    src = read_manifest(onnx_path)
    qdq = is_qdq(src)
    strongly_typed, refusal = typing_plan(trt, src, target, fp32_nodes)
    if refusal:
        raise SpcError(refusal)
    gpu = require_tensorrt_build(target).gpu
    notes: list[str] = []
    if strongly_typed and qdq and not low_precision(src):
        _note(notes, f"TensorRT {trt.__version__} builds the QDQ model strongly typed: its layers outside the Q/DQ "
                     "pairs run in the model's FP32, not FP16")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network, parser = _parse(trt, builder, logger, onnx_path, strongly_typed)  # parser: held until the build ends
    config, fp32 = _builder_config(trt, builder, network, target, strongly_typed, qdq, fp32_nodes, notes)
    shapes = _add_profile(builder, config, target, src, opt_batch)
    cache_path = timing_cache_path(timing_cache_dir or out_path.parent, gpu, trt.__version__)
    attach_timing_cache(config, cache_path, lambda t: _note(notes, t))
    t0 = time.perf_counter()
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise SpcError(f"TensorRT could not build an engine for {target.name} from {onnx_path} (see its log above)")
    seconds = time.perf_counter() - t0
    del parser  # it owns the weights the network points to: freed only once the builder has copied them
    tmp = out_path.with_name(out_path.name + ".tmp")
    tmp.write_bytes(bytes(engine))
    os.replace(tmp, out_path)
    cache_saved = save_timing_cache(config, cache_path, lambda t: _note(notes, t))
    manifest = derive_manifest(
        out_path, src, parent_path=onnx_path, made_by={"recipe": "build", "target": target.name},
        kind="tensorrt", target=target.as_dict(),
        precision=(str(src.get("precision")) if low_precision(src) else
                   f"int8-qdq+{'fp32' if strongly_typed else target.precision}" if qdq else target.precision),
        strongly_typed=strongly_typed, profiles=shapes, tuned_for_batch=shapes["opt"][0], fp32_layers=fp32, dla=target.use_dla,
        timing_cache=cache_path.name if cache_saved else None, notes=notes, tensorrt=trt.__version__, **gpu,
        build_seconds=round(seconds, 2), built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    write_manifest(out_path, manifest)
    return manifest


def _parse(trt, builder, logger, onnx_path: Path, strongly_typed: bool):
    """(the network definition parsed from the ONNX file, the parser); a parse failure is one line with its errors.

    The parser owns the memory of the weights the network points to, so the caller keeps it until the builder has
    run (TensorRT developer guide, "Importing a Model Using the ONNX Parser")."""
    # explicit batch is the only mode from TensorRT 10 on (its flag deprecated in 10, removed in 11); strong typing
    # is asked for by its flag's bit (its value differs between 10.x and 11.x, where it is always on)
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if strongly_typed else 0
    network = builder.create_network(flags)
    if network is None:
        raise RuntimeError("TensorRT could not create a network definition")
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise SpcError(f"TensorRT cannot parse {onnx_path}: {errors}")
    return network, parser


def _builder_config(trt, builder, network, target, strongly_typed: bool, qdq: bool, fp32_nodes, notes: list[str]):
    """(the builder config: workspace, precision flags, FP32 pins, DLA; what was pinned FP32, or None)."""
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, target.workspace_mb << 20)
    if target.precision == "fp16" and not strongly_typed:
        config.set_flag(trt.BuilderFlag.FP16)
    if qdq and not strongly_typed:
        config.set_flag(trt.BuilderFlag.INT8)  # Q/DQ layers run INT8 (without the flag the weak build fails)
    fp32 = None
    if fp32_nodes and strongly_typed:
        _note(notes, "the model is strongly typed: its own types decide each layer's precision (--fp32-layers unused)")
    elif fp32_nodes:
        fp32 = pin_fp32(trt, network, list(fp32_nodes))
        if fp32["pinned_layers"]:
            config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
    if target.use_dla:  # targets.py guarantees a static profile
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = 0
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
    return config, fp32


def _add_profile(builder, config, target, src: dict, opt_batch: int) -> dict:
    """The target's shape profile (min/opt/max of the audio input) added to ``config``; returns the shapes."""
    shapes = shape_profile(target, src["sampling_rate"], src["max_samples"], opt_batch)
    profile = builder.create_optimization_profile()
    profile.set_shape(src["input"], shapes["min"], shapes["opt"], shapes["max"])  # raises on inconsistent shapes
    if config.add_optimization_profile(profile) < 0:
        raise SpcError(f"TensorRT refused the shape profile {shapes} of {target.name} for '{src['input']}'")
    return shapes
