"""``spc bench``: latency of artifacts (and PyTorch models) side by side at a target's shapes, with accuracy."""

from __future__ import annotations

import json
from pathlib import Path

from ..bench import bench_callables, machine_info, shapes_for
from ..errors import SpcError
from ..targets import get_target


def _callable(item: str, threads: int):
    """(audio -> logits, labels, rate, clip samples, max samples) for an artifact file or a model folder."""
    p = Path(item)
    if p.is_dir():
        from ..evaluate import torch_predictor
        from ..models import load_model

        m = load_model(p)
        return torch_predictor(m), m.labels, m.meta.sampling_rate, m.meta.clip_samples, m.adapter.max_samples(m.hf, m.meta)
    if not p.is_file():
        raise SpcError(f"{item} is neither an artifact file nor a model folder")
    from ..runtime import load_backend

    fn, man = load_backend(p, threads)
    rate = int(man["sampling_rate"])
    return fn, man["labels"], rate, int(round(man["clip_seconds"] * rate)), int(man.get("max_samples", 30 * rate))


def run_bench(items: list[str], target_name: str, *, data_dir=None, split: str = "test", report_dir=None,
              runs: int = 30, warmup: int = 5, threads: int = 0, layout: str = "auto", data_options=None) -> dict:
    target = get_target(target_name)
    if report_dir and not (Path(report_dir) / "report.json").is_file():
        raise SpcError(f"{report_dir} has no report.json (run spc compress first)")
    loaded = {Path(i).name: _callable(i, threads) for i in items}
    first = next(iter(loaded.values()))
    rate, max_samples = first[2], min(v[4] for v in loaded.values())
    shapes = shapes_for(target, rate, max_samples)
    result = {"target": target.name, "machine": machine_info(), "runs": runs, "warmup": warmup, "threads": threads,
              "latency": bench_callables({k: v[0] for k, v in loaded.items()}, shapes, warmup, runs)}
    names = list(loaded)
    base = names[0]
    result["ratios_p50_to_first"] = {
        n: [r["p50_ms"] / next(b["p50_ms"] for b in result["latency"] if b["artifact"] == base
                                and b["batch"] == r["batch"] and b["samples"] == r["samples"])
            for r in result["latency"] if r["artifact"] == n] for n in names}
    if data_dir:
        from ..data import load_clips, map_labels, open_dataset
        from ..evaluate import evaluate

        ds = open_dataset(data_dir, layout, **(data_options or {}))
        accuracy = {}
        for name, (fn, labels, r, clip, _) in loaded.items():
            order = map_labels(labels, ds.labels)
            clips = load_clips(ds, split, rate=r, clip_seconds=clip / r, labels=order, show_progress=False)
            accuracy[name] = evaluate(fn, clips, 32).accuracy
        result["accuracy"] = accuracy
        result["split"] = split
    if report_dir:
        from ..report import write_report

        path = Path(report_dir) / "report.json"
        report = json.loads(path.read_text())
        for name in names:
            report.setdefault("device_results", []).append({
                "artifact": name, "machine": result["machine"], "target": target.name,
                "latency": [r for r in result["latency"] if r["artifact"] == name],
                "accuracy": result.get("accuracy", {}).get(name)})
        write_report(report, Path(report_dir))
    return result
