"""The CPU target: an ONNX Runtime graph, its attention fused, optimised offline and saved, with its threads.

The build fuses attention (``ort_fuse``), lets ONNX Runtime apply its session fusions (LayerNorm,
SkipLayerNorm, GELU, ...) at level "extended" and saves that graph. The saved graph is gated: its logits
on speech-like clips must match the unfused export's within the export's tolerance, or the build falls
back to the unfused graph and says so in the manifest (``fusion.fallback``).

Why "extended" and not "all": level "all" adds layout rewrites (NCHWc blocked convolutions) chosen for
this CPU's vector width, so a graph saved at "all" is only safe on the same kind of CPU. Runners open
every session at "all" (``ort_session``), so those rewrites still happen at load time on the machine
that runs the artifact: the saved graph stays portable at no cost in speed.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import numpy as np

from ..fileio import first_line
from .artifact_manifest import derive_manifest, load_artifact_manifest, write_manifest
from .ort_run import ort_errors, ort_session

SAVE_LEVEL = "extended"  # portable across CPUs; see the module docstring


def speechlike(batch: int, samples: int, rate: int = 16000, seed: int = 0) -> np.ndarray:
    """Voiced, syllable-modulated clips (harmonics of a gliding pitch, formant-like weights, noise)."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / rate
    out = np.empty((batch, samples), np.float32)
    for b in range(batch):
        f0 = rng.uniform(90, 220) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t))
        phase = 2 * np.pi * np.cumsum(f0) / rate
        formants = rng.uniform([500, 1200, 2400], [900, 2000, 3200])
        voiced = sum(np.exp(-((k * f0[0] - formants[:, None]) ** 2).min(0) / 2e5) * np.sin(k * phase) / k
                     for k in range(1, 30) if k * f0[0] < rate / 2)
        envelope = np.clip(np.sin(2 * np.pi * rng.uniform(3, 5) * t + rng.uniform(0, np.pi)), 0, None) ** 2
        x = voiced * envelope + 0.01 * rng.standard_normal(samples)
        out[b] = 0.3 * x / max(np.abs(x).max(), 1e-6)
    return out


def parity_cases(manifest: dict) -> list[np.ndarray]:
    """Clips the gate runs: batch 1 and 3, at the model's clip length and at half of it."""
    rate = int(manifest.get("sampling_rate", 16000))
    full = min(int(manifest.get("max_samples", 30 * rate)), int(round(float(manifest.get("clip_seconds", 1.0)) * rate)))
    return [speechlike(b, n, rate, seed=b) for b in (1, 3) for n in (full, max(full // 2, rate // 4))]


def compare_graphs(candidate: Path, reference: Path, cases: list[np.ndarray], atol: float, rtol: float) -> dict:
    """Worst logit difference of ``candidate`` against ``reference`` and whether every case is within
    ``atol + rtol * max|reference|``; a case that fails to run fails."""
    ref = ort_session(reference, level="basic")
    cand = ort_session(candidate)
    name = ref.get_inputs()[0].name
    worst, passed = 0.0, True
    for x in cases:
        want = ref.run(None, {name: x})[0]
        try:
            got = cand.run(None, {name: x})[0]
        except ort_errors() as exc:
            return {"passed": False, "max_abs_diff": float("inf"), "error": first_line(exc)[:200]}
        diff = float(np.abs(got - want).max())
        worst = max(worst, diff)
        passed = passed and diff <= atol + rtol * float(np.abs(want).max())
    return {"passed": passed, "max_abs_diff": worst, "atol": atol, "rtol": rtol, "cases": len(cases)}


def op_counts_of(path: Path) -> dict[str, int]:
    import onnx

    from .ort_fuse import op_counts

    return op_counts(onnx.load(str(path), load_external_data=False))


def fusion_errors() -> tuple[type[Exception], ...]:
    """What a fusion may fail with and still fall back to the unfused graph: ONNX Runtime refusing the fused graph,
    ONNX's checker or shape inference refusing it, or spc's own refusal. Anything else is a bug in the fusion and
    is raised, not hidden behind a fallback."""
    import onnx.checker
    import onnx.shape_inference

    from ..errors import SpcError

    return (*ort_errors(), onnx.checker.ValidationError, onnx.shape_inference.InferenceError, SpcError)


def fused_build(onnx_path: Path, tmp: Path, threads: int, src: dict) -> dict:
    """Save the fused, optimised graph as ``tmp`` (the unfused one where the gate refuses it); the manifest's
    ``fusion`` record."""
    from .ort_fuse import FUSED_OPS, fuse_graph

    cfg = src.get("config") or {}
    atol, rtol = float(cfg.get("atol", 1e-3)), float(cfg.get("rtol", 1e-3))
    work = tmp.with_name(tmp.name + ".fused.onnx")
    record: dict = {"save_level": SAVE_LEVEL, "ops_before": op_counts_of(onnx_path)}
    try:
        record["spc_attention"] = fuse_graph(onnx_path, work)
        ort_session(work, threads, level=SAVE_LEVEL, optimized_path=tmp)
        record["parity"] = compare_graphs(tmp, onnx_path, parity_cases(src), atol, rtol)
    except fusion_errors() as exc:  # a graph ONNX or ONNX Runtime refuses falls back like one that disagrees
        record["parity"] = {"passed": False, "error": f"{type(exc).__name__}: {first_line(exc)[:200]}"}
    finally:
        work.unlink(missing_ok=True)
    record["fallback"] = not record["parity"]["passed"]
    if record["fallback"]:
        why = record["parity"].get("error") or f"max |diff| {record['parity']['max_abs_diff']:.3g}"
        record["note"] = f"the fused graph disagreed with the unfused export ({why}); saved the unfused graph"
        record["spc_attention"] = {}
        ort_session(onnx_path, threads, level=SAVE_LEVEL, optimized_path=tmp)
    after = op_counts_of(tmp)
    record["ops_after"] = after
    record["fused"] = {op: after[op] - record["ops_before"].get(op, 0) for op in FUSED_OPS
                       if after.get(op, 0) > record["ops_before"].get(op, 0)}
    return record


def choose_threads(graph: Path, target, src: dict, threads: int = 0) -> dict:
    """The artifact's intra-op thread count: ``threads`` where set, else the target's, else timed on ``graph``
    at the target's opt shape (``ort_threads``)."""
    from ..timing import bench_shapes
    from .ort_threads import fixed_threads, time_threads

    if threads:
        return fixed_threads(threads, "build config")
    if target.threads:
        return fixed_threads(target.threads, f"target {target.name}")
    return time_threads(graph, bench_shapes(target, [src])[0])


def build_ort(onnx_path: Path, target, out_path: Path, threads: int = 0) -> dict:
    """Save ONNX Runtime's fused, optimised graph for the CPU as ``out_path``, with its thread count
    (``choose_threads``; ``threads`` 0: the target's or timed); returns its manifest."""
    import onnxruntime as ort

    src = load_artifact_manifest(onnx_path)
    t0 = time.perf_counter()
    tmp = out_path.with_name(out_path.name + ".tmp")
    try:
        fusion = fused_build(Path(onnx_path), tmp, target.threads, src)
        thread_choice = choose_threads(tmp, target, src, threads)
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    manifest = derive_manifest(
        out_path, src, parent_path=onnx_path, made_by={"recipe": "build", "target": target.name},
        kind="onnxruntime", target=target.as_dict(), precision=src.get("precision", target.precision),
        onnxruntime=ort.__version__, threads=thread_choice["threads"], thread_choice=thread_choice, fusion=fusion,
        cpu=platform.processor() or platform.machine(), build_seconds=round(time.perf_counter() - t0, 2))
    write_manifest(out_path, manifest)
    return manifest
