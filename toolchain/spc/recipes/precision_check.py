"""Precision on calibration clips: FP32 vs FP16 layer by layer (with a mixed ONNX), and INT8 on the CPU.

Stages: load the model and the calibration manifest -> FP16 check (flagged layers) -> export FP32
ONNX -> mixed-precision ONNX with the flagged layers in FP32 -> INT8 (QDQ) calibrated on the
manifest -> accuracy of FP32, FP16, mixed and INT8 on the test split and CPU latency side by side.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ..calib import load_clips_from_manifest, load_manifest, manifest_hash
from ..data import DataConfig, as_data_config, load_clips, map_labels
from ..accuracy import evaluate
from ..export import ExportConfig, export_onnx
from ..errors import SpcError
from ..fileio import check_output_dir, refuse_overlap
from ..models import load_model
from ..precision.fp16 import fp16_check, mixed_precision_onnx
from ..precision.int8 import quantize_int8


INT8_METHODS = ("minmax", "entropy")


@dataclass(frozen=True)
class PrecisionConfig:
    """How ``spc precision`` calibrates INT8 (``int8_method``) and how long it times each variant."""

    int8_method: str = "minmax"
    latency_runs: int = 20  # timed CPU runs per variant (0: skip the timing)
    version: int = 1

    def __post_init__(self) -> None:
        if self.int8_method not in INT8_METHODS:
            raise SpcError(f"unknown INT8 calibration '{self.int8_method}'; choose {', '.join(INT8_METHODS)}")
        if self.latency_runs < 0:
            raise SpcError(f"latency runs must be 0 or more, got {self.latency_runs}")

    def as_dict(self) -> dict:
        return asdict(self)


def run_precision(model_src, data: DataConfig | str | Path, calib, out_dir, config: PrecisionConfig = PrecisionConfig()
                  ) -> dict:
    """FP16 check, mixed-precision and INT8 variants of ``model_src``, their test accuracy and CPU latency;
    writes ``out_dir/precision.json`` (which records ``config``)."""
    from contextlib import ExitStack

    from ..timing import bench_callables
    from ..engines.artifact_manifest import derive_manifest, read_manifest, write_manifest
    from ..engines.loader import open_runner

    data = as_data_config(data)
    refuse_overlap({"output folder": out_dir}, {"model": model_src, "data folder": data.root, "calibration manifest": calib})
    out = check_output_dir(out_dir)  # before any work; created once the inputs are read
    model = load_model(model_src)
    ds = data.open(show_notes=True)
    order = map_labels(model.labels, ds.labels)
    manifest = load_manifest(calib)
    info = {"manifest": str(calib), "hash": manifest_hash(manifest), "clips": len(manifest["clips"])}
    cal = load_clips_from_manifest(manifest, data.root, rate=model.meta.sampling_rate,
                                   clip_seconds=model.meta.clip_seconds, labels=order)
    out.mkdir(parents=True, exist_ok=True)
    check = fp16_check(model, cal.audio, cal.targets)
    fp32 = out / "fp32.onnx"
    # unsimplified: onnxconverter-common's FP16 pass mistypes convolutions in onnxsim's folded graph
    export_onnx(model, fp32, ExportConfig(simplify=False), audio=cal.audio[:8])
    mixed = out / "mixed.onnx"
    mixed_info = mixed_precision_onnx(fp32, mixed, check.flagged)
    made_by = {"recipe": "precision", "calibration": info}
    write_manifest(mixed, derive_manifest(mixed, read_manifest(fp32), parent_path=fp32, made_by=made_by, kind="onnx",
                                          precision="fp16-mixed", **mixed_info))
    fp16 = out / "fp16.onnx"
    fp16_info = mixed_precision_onnx(fp32, fp16, [])
    write_manifest(fp16, derive_manifest(fp16, read_manifest(fp32), parent_path=fp32, made_by=made_by, kind="onnx",
                                         precision="fp16", **fp16_info))
    int8 = out / "int8.onnx"
    quantize_int8(fp32, int8, cal.audio, info, method=config.int8_method)
    test = load_clips(ds, "test", rate=model.meta.sampling_rate, clip_seconds=model.meta.clip_seconds, labels=order,
                      show_progress=False)
    with ExitStack() as stack:
        fns = {name: stack.enter_context(open_runner(p))
               for name, p in (("fp32", fp32), ("fp16", fp16), ("mixed", mixed), ("int8", int8))}
        acc = {name: evaluate(fn, test, 32).accuracy for name, fn in fns.items()}
        lat = (bench_callables(fns, [(1, model.meta.clip_samples)], warmup=3, runs=config.latency_runs)
               if config.latency_runs else [])
    summary = {"model": str(model_src), "config": config.as_dict(), "calibration": info, "fp16_check": check.as_dict(), "test_accuracy": acc,
               "retention": {k: v / acc["fp32"] if acc["fp32"] else None for k, v in acc.items()},
               "latency_cpu": lat, "artifacts": {k: str(out / f"{k}.onnx") for k in fns},
               "notes": [f"the FP16 converter warned {n} time{'s' * (n != 1)} on {name}.onnx (counted in its manifest: "
                         "converter_warnings; constants clipped to the FP16 range)"
                         for name, info in (("mixed", mixed_info), ("fp16", fp16_info))
                         for n in [sum(info["converter_warnings"].values())] if n]}
    (out / "precision.json").write_text(json.dumps(summary, indent=2))
    return summary
