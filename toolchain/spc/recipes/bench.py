"""``spc bench``: latency of artifacts (and PyTorch models) side by side at a target's shapes, with accuracy.

Shapes come from the target's profile (``--target``, else the target the first artifact was built
for), clipped into every artifact's own engine profile; batches beyond an engine's profile are split
by its runner, so accuracy runs at any batch size.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

from ..timing import bench_callables, bench_shapes, machine_info
from ..engines.loader import open_runner
from ..data.config import DataConfig, as_data_config
from ..errors import SpcError
from ..fileio import read_json


@dataclass(frozen=True)
class BenchConfig:
    """How ``spc bench`` times (``runs`` after ``warmup``, ONNX Runtime ``threads``; 0: its default) and which
    ``split`` it scores when given data."""

    runs: int = 30
    warmup: int = 5
    threads: int = 0
    split: str = "test"
    version: int = 1

    def __post_init__(self) -> None:
        if self.runs < 1 or self.warmup < 0:
            raise SpcError(f"bench needs at least one timed run and no negative warm-up, got {self.runs} runs, "
                           f"{self.warmup} warm-up")
        import os

        if not 0 <= self.threads <= (os.cpu_count() or 1):
            raise SpcError(f"threads must be 0 (the default) to {os.cpu_count() or 1} (the cores here), "
                           f"got {self.threads}")
        if self.split not in ("validation", "test"):
            raise SpcError(f"bench scores the validation or the test split, not '{self.split}'")

    def as_dict(self) -> dict:
        return asdict(self)


def run_bench(items: list[str], target_name: str | None = None, *, data: DataConfig | str | Path | None = None,
              report_dir=None, config: BenchConfig = BenchConfig()) -> dict:
    """Time ``items`` (artifact files or model folders) side by side; accuracy with ``data``; add to a report.
    The result records ``config``."""
    from ..targets import get_target

    runs, warmup, threads, split = config.runs, config.warmup, config.threads, config.split
    target = get_target(target_name) if target_name else None
    if report_dir and not (Path(report_dir) / "report.json").is_file():
        raise SpcError(f"{report_dir} has no report.json (run spc compress first)")
    if report_dir:
        check_report(Path(report_dir) / "report.json")  # a damaged, foreign or older report fails before timing
    for item in items:
        if not Path(item).exists():
            raise SpcError(f"{item} is neither an artifact file nor a model folder")
    with ExitStack() as stack:
        runners = {Path(i).name: stack.enter_context(open_runner(i, threads)) for i in items}
        manifests = [r.manifest for r in runners.values()]
        if target is None and not any(isinstance(m.get("target"), dict) for m in manifests):
            target = get_target("cpu")  # PyTorch folders and plain exports record no target
        shapes = bench_shapes(target, manifests)
        target_label = target.name if target else (manifests[0].get("target") or {}).get("name")
        result = {"target": target_label, "machine": machine_info(), "config": config.as_dict(), "runs": runs,
                  "warmup": warmup,
                  "threads": threads, "shapes": shapes, "latency": bench_callables(runners, shapes, warmup, runs)}
        names = list(runners)
        base = names[0]
        result["ratios_p50_to_first"] = {
            n: [r["p50_ms"] / next(b["p50_ms"] for b in result["latency"] if b["artifact"] == base
                                    and b["batch"] == r["batch"] and b["samples"] == r["samples"])
                for r in result["latency"] if r["artifact"] == n] for n in names}
        if data is not None:
            result["accuracy"], result["label_mapping"] = _accuracy(runners, as_data_config(data), split)
            result["split"] = split
    if report_dir:
        _add_to_report(Path(report_dir), names, result)
    return result


#: what ``spc compress`` writes into every report (the layout ``bench --report`` adds to)
REPORT_KEYS = ("schema_version", "run_id", "chosen", "candidates", "final", "analysis", "artifacts", "target")


def check_report(path: Path) -> dict:
    """The compress report at ``path``; one line, before any timing, where it is damaged, was not written by
    ``spc compress``, or was written by an spc whose report layout this one does not render."""
    from ..compress_report import REPORT_SCHEMA

    report = read_json(path, "compress report")
    missing = [k for k in REPORT_KEYS if k not in report]
    if missing:
        raise SpcError(f"{path} is not a report spc compress wrote (no {', '.join(missing)})")
    if report["schema_version"] != REPORT_SCHEMA:
        raise SpcError(f"{path} was written by another spc (report schema {report['schema_version']!r}, this spc "
                       f"writes {REPORT_SCHEMA}): run spc compress again with this spc, or bench without --report")
    return report


def _accuracy(runners: dict, data: DataConfig, split: str) -> tuple[dict, dict]:
    """Each runner's accuracy on ``split`` and how its classes were matched to the data's (``label_mapping``).

    The runner splits the 32-clip batches by its own profile.
    """
    from ..data import load_clips, map_labels
    from ..accuracy import evaluate

    ds = data.open()
    accuracy, mapping = {}, {}
    for name, runner in runners.items():
        m = runner.manifest
        order = map_labels(m["labels"], ds.labels)
        clips = load_clips(ds, split, rate=int(m["sampling_rate"]), clip_seconds=float(m["clip_seconds"]), labels=order,
                           show_progress=False)
        accuracy[name] = evaluate(runner, clips, 32).accuracy
        mapping[name] = order.record()
    return accuracy, mapping


def _add_to_report(report_dir: Path, names: list[str], result: dict) -> None:
    from ..compress_report import write_report

    path = report_dir / "report.json"
    report = read_json(path, "compress report")
    for name in names:
        report.setdefault("device_results", []).append({
            "artifact": name, "machine": result["machine"], "target": result["target"],
            "latency": [r for r in result["latency"] if r["artifact"] == name],
            "accuracy": result.get("accuracy", {}).get(name),
            "label_mapping": result.get("label_mapping", {}).get(name)})
    write_report(report, report_dir)
