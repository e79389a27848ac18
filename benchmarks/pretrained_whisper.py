"""Compression on a real pre-trained encoder: OpenAI Whisper tiny.en's encoder on FSDD (issue 11).

    python benchmarks/pretrained_whisper.py --work WORK            # every step, about 45 min on 2 cores
    python benchmarks/pretrained_whisper.py --work WORK --only readme   # rewrite the README section from the JSON

Steps (each writes results/whisper_fsdd/STEP.json; `readme` rewrites the section of benchmarks/README.md
between its markers from those files):
  teachers  the head-only teacher (encoder frozen, --train-layers 0) and a fully fine-tuned one
  prune     every order without healing, with head healing and with distillation healing, on both teachers
  mimic     the default 1-block mimic (a teacher layer, standardised MSE, soft labels) on both teachers, and the
            paper's recipe (a fresh transformer block, plain MSE, labels, mimic frozen; epochs shortened) on the
            head-only one
  compress  `spc compress --target cpu` on the head-only teacher
  latency   ONNX Runtime latency of the teacher, the pruned and the mimic models, side by side in one run
  tiny      the tiny student (its own front end, 12.5 ms STFT windows) on both teachers (tiny_student.py's
            measurements; its README section), about 25 minutes with both teachers to train
  compress_beyond  compress on the head-only teacher with the tiny student and the INT8 CPU variants among its
            candidates, from nothing (about 20 minutes)
  int8      the FP32 CPU build of every trained model in WORK (teachers, tiny students, compress's candidates)
            against its two INT8 CPU variants (int8_cpu.py's measurements; its README section)
  profile   where wav2vec2-base spends its CPU time (cpu_profile.py part 1; its README section)

Issue 25's figures come from one run:
    python benchmarks/pretrained_whisper.py --work WORK --only teachers tiny compress_beyond int8 profile readme
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared"
WHISPER = SHARED / "models" / "whisper-tiny.en-encoder"
FSDD = SHARED / "data" / "fsdd"
RESULTS = HERE / "results" / "whisper_fsdd"
ORDERS = ("bi", "bi-iterative", "backward", "forward", "greedy", "random")


def _save(name: str, data) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2, default=str))


def _load(name: str):
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def teacher_configs() -> dict:
    """The two teachers' fine-tuning settings: the head alone on the frozen encoder, and everything."""
    from spc.training.finetuning import FinetuneConfig
    from spc.training.loop import TrainConfig

    return {
        "head": FinetuneConfig(train=TrainConfig(epochs=20, batch_size=64, lr=1e-3, patience=5, max_grad_norm=1.0),
                               train_layers=0),
        "full": FinetuneConfig(train=TrainConfig(epochs=4, batch_size=32, lr=2e-4, warmup_ratio=0.1, max_grad_norm=1.0),
                               augment=True),
    }


def train_teacher(work: Path, name: str) -> dict:
    """Fine-tune teacher ``name`` ("head" or "full") into WORK/teacher-NAME; its summary."""
    from spc.data import DataConfig
    from spc.recipes.finetune import run_finetune

    return run_finetune(str(WHISPER), DataConfig(str(FSDD)), work / f"teacher-{name}", config=teacher_configs()[name])


def teachers(work: Path, which: tuple[str, ...] = ("head", "full")) -> dict:
    out = _load("teachers") or {}
    for name in which:
        s = train_teacher(work, name)
        out[name] = {k: s[k] for k in ("val_accuracy", "test_accuracy", "best_epoch", "train_seconds", "seconds",
                                        "config", "params")}
        print(name, out[name]["val_accuracy"], out[name]["test_accuracy"], out[name]["seconds"], flush=True)
    _save("teachers", out)
    return out


def teacher_head(work: Path) -> dict:
    """The head-only teacher alone (the full one takes 15 minutes here)."""
    return teachers(work, ("head",))


def teacher_full(work: Path) -> dict:
    """The fully fine-tuned teacher alone (15 minutes here)."""
    return teachers(work, ("full",))


def prune(work: Path, which: tuple[str, ...] | None = None) -> dict:
    from spc.data import DataConfig
    from spc.prune import HealConfig, PruneConfig
    from spc.recipes.prune_layers import run_prune

    out = (_load("prune") or {}) if which else {}
    for teacher in ("head", "full"):
        for heal in ("none", "head", "distill"):
            if which and f"{teacher}/{heal}" not in which:
                continue
            cfg = PruneConfig(orders=ORDERS, random_seeds=(0,), heal=HealConfig(heal))
            dest = work / f"prune-{teacher}-{heal}"
            s = run_prune(work / f"teacher-{teacher}", DataConfig(str(FSDD)), dest, config=cfg, overwrite=True,
                          latency_runs=0)
            best = next(r for r in s["orders"] if r["name"] == s["best"])
            out[f"{teacher}/{heal}"] = {
                "teacher": teacher, "heal": heal, "best": s["best"], "kept": s["kept_layers"],
                "removed": len(s["removed_layers"]), "n_layers": s["n_layers"],
                "baseline_val": s["baseline_val_accuracy"], "target_val": s["target_val_accuracy"],
                "original_test": s["original"]["test_accuracy"], "pruned_test": s["pruned_test_accuracy"],
                "test_retention": s["pruned_test_accuracy"] / s["original"]["test_accuracy"],
                "val_accuracy": best["val_accuracy"], "heal_seconds": s["heal_seconds"], "seconds": s["seconds"],
                "orders": {r["name"]: {"removal": r["removal"], "val_curve": r["val_curve"],
                                       "healed_curve": r["healed_curve"], "removed_at_target": r["removed_at_target"],
                                       "test_accuracy": r["test_accuracy"]} for r in s["orders"]},
                "model": s["pruned_model"],
                # the interval rule: every healed depth that passes, the safe choice and a deeper point-only cut
                "depths": s.get("depths"), "safe": s.get("safe"), "point": s.get("point"), "rule": "interval",
            }
            (RESULTS / "curves").mkdir(parents=True, exist_ok=True)
            (RESULTS / "curves" / f"{teacher}-{heal}.png").write_bytes((dest / "curves.png").read_bytes())
            print(teacher, heal, out[f"{teacher}/{heal}"]["removed"], out[f"{teacher}/{heal}"]["test_retention"],
                  s["seconds"], flush=True)
            _save("prune", out)
    return out


def prune_head(work: Path) -> dict:
    """Healed pruning of the head-only teacher (what compress does), by the interval rule."""
    return prune(work, ("head/head",))


def prune_healed(work: Path) -> dict:
    """Healed (head) pruning of both teachers by the interval rule (what compress does)."""
    return prune(work, ("head/head", "full/head"))


def _mimic(work: Path, which: tuple[str, ...]) -> dict:
    from spc.data import DataConfig
    from spc.distill import DistillConfig, MimicConfig
    from spc.recipes.distill_student import run_distill
    from spc.training.loop import TrainConfig

    paper = DistillConfig.paper(stage1=TrainConfig(epochs=20, batch_size=128, lr=1e-3, weight_decay=0.0,
                                                   warmup_ratio=0.0, schedule="constant"),
                                stage2=TrainConfig(epochs=10, batch_size=128, lr=1e-3, weight_decay=0.0,
                                                   warmup_ratio=0.0, schedule="constant"))
    runs = [("head", "default", MimicConfig(), DistillConfig()),
            ("full", "default", MimicConfig(), DistillConfig()),
            ("head", "paper-shortened", MimicConfig("transformer", 1, heads=6, ffn=1536), paper)]
    out = _load("mimic") or {}
    for teacher, recipe, design, cfg in runs:
        if f"{teacher}/{recipe}" not in which:
            continue
        dest = work / f"mimic-{teacher}-{recipe}"
        done = json.loads((dest / "distill.json").read_text()) if (dest / "distill.json").is_file() else None
        if done and done.get("config") == cfg.as_dict() and done.get("mimic") == design.__dict__:
            s = done  # a finished student of this design in WORK (a resumed benchmark)
        else:
            s = run_distill(work / f"teacher-{teacher}", DataConfig(str(FSDD)), dest, mimic=design, config=cfg,
                            overwrite=True, latency_runs=0)
        out[f"{teacher}/{recipe}"] = {
            "teacher": teacher, "recipe": recipe, "mimic": s["mimic"], "config": s["config"],
            "teacher_test": s["teacher_test_accuracy"], "student_test": s["student_test_accuracy"],
            "teacher_val": s["teacher_val_accuracy"], "student_val": s["student_val_accuracy"],
            "retention_test": s["retention_test"], "whole_reduction": s["params"]["whole_reduction"],
            "params_teacher": s["params"]["teacher"]["total"], "params_student": s["params"]["student"]["total"],
            "epochs": {"stage1": sum(r["stage"] == "mimic" for r in s["history"]),
                       "stage2": sum(r["stage"] == "labels" for r in s["history"])},
            "seconds": s["seconds"], "model": s["student"],
        }
        print(teacher, recipe, s["retention_test"], s["seconds"], flush=True)
        _save("mimic", out)
    return out


def mimic(work: Path) -> dict:
    """Every mimic run: the default recipe on both teachers, the paper's on the head-only one."""
    return _mimic(work, ("head/default", "full/default", "head/paper-shortened"))


def mimic_default(work: Path) -> dict:
    return _mimic(work, ("head/default", "full/default"))


def mimic_paper(work: Path) -> dict:
    return _mimic(work, ("head/paper-shortened",))


def compress(work: Path, name: str = "compress", config=None, overwrite: bool = True) -> dict:
    from spc.data import DataConfig
    from spc.recipes.compress import CompressConfig, run_compress

    r = run_compress(work / "teacher-head", DataConfig(str(FSDD)), work / f"{name}-head", "cpu",
                     config=config or CompressConfig(), overwrite=overwrite)
    out = summarise(r)
    _save(name, out)
    print(out["chosen"], out["verdict"], out["speedup_p50"], flush=True)
    return out


def _thread_choice(candidate: dict) -> dict | None:
    """The thread count a candidate's CPU build timed and chose (its manifest's record), where it was built."""
    from spc.engines.artifact_manifest import read_manifest

    built = candidate.get("latency_target_ms")
    return read_manifest(built["artifact"]).get("thread_choice") if built else None


def summarise(r: dict) -> dict:
    """What the benchmark records of a compress report (report.json)."""
    f = r["final"]
    out = {"chosen": r["chosen"], "verdict": f["verdict"], "retention": f["retention"],
           "retention_ci": f["retention_ci"], "mcnemar_p": f["mcnemar_p"], "test_accuracy": f["test_accuracy"],
           "original_test_accuracy": f["original_test_accuracy"], "speedup_p50": f["speedup_p50"],
           "latency_ms": f["latency_ms"], "original_latency_ms": f["original_latency_ms"],
           "candidates": {n: {k: c.get(k) for k in ("method", "model", "val_accuracy", "val_retention",
                                                     "val_retention_ci", "latency_ratio", "latency_x_floor",
                                                     "latency_target_ms", "latency_target_ratio", "params")}
                          for n, c in r["candidates"].items()},
           "latency_floor": r.get("latency_floor"), "choice": r["choice"], "stages": r["stages"],
           "seconds": r["seconds"], "config": r.get("config"), "warnings": r.get("warnings", [])}
    for n, c in r["candidates"].items():
        out["candidates"][n]["thread_choice"] = _thread_choice(c)
    return out


def compress_beyond(work: Path) -> dict:
    """compress on the head-only teacher with the tiny student (2 blocks, 12.5 ms STFT) and the INT8 CPU variants
    among its candidates (issue 25): what it chooses and why."""
    from spc.models.mimic import MimicConfig
    from spc.recipes.compress import CompressConfig

    config = CompressConfig(tiny=MimicConfig(kind="tiny", n_layers=2, n_fft=200), int8_cpu=True)
    return compress(work, "compress_beyond", config)


def int8(work: Path) -> dict:
    """Every trained model in WORK against its INT8 CPU variants (int8_cpu.py), recorded with its README section."""
    import int8_cpu

    result = {**int8_cpu.measure(work, runs=30),
              "run": "pretrained_whisper.py, its int8 step (results/whisper_fsdd/run.json)"}
    int8_cpu.RESULTS.write_text(json.dumps(result, indent=2, default=str))
    int8_cpu.readme(result)
    return result


def profile(work: Path) -> dict:
    """wav2vec2-base's CPU profile and what buys its time back (cpu_profile.py part 1), with its README section."""
    import cpu_profile
    from spc.timing import machine_info

    result = {"machine": machine_info(), "base": cpu_profile.profile_base(10),
              "run": "pretrained_whisper.py, its profile step (results/whisper_fsdd/run.json)",
              "date": time.strftime("%Y-%m-%d")}
    cpu_profile.RESULTS.write_text(json.dumps(result, indent=2))
    cpu_profile.readme()
    return result


def tiny(work: Path) -> dict:
    """The tiny student (2 x 96 wide, 12.5 ms STFT windows) on both teachers, measured by tiny_student.py's
    ``measure`` (training time, parameters, retention, latency against the teacher and its floor); a teacher
    missing from WORK is trained first with the settings of ``teachers`` (not recorded over teachers.json, whose
    teachers the other steps measured)."""
    import tiny_student

    out = {}
    for name in ("head", "full"):
        teacher = work / f"teacher-{name}"
        if not (teacher / "config.json").is_file():
            train_teacher(work, name)
        r = tiny_student.measure(teacher, FSDD, f"whisper-tiny-en-fsdd-digits-{name}-stft200", width=96, layers=2,
                                 runs=30, work=work, epochs=(30, 60), n_fft=200)
        r["run"] = "pretrained_whisper.py, its tiny step (results/whisper_fsdd/run.json)"
        tiny_student.save(r)
        out[name] = {k: r[k] for k in ("params", "retention", "retention_ci", "latency_p50_ms", "train_seconds")}
        print(name, json.dumps(out[name]), flush=True)
    tiny_student.readme()
    return out


def latency(work: Path) -> dict:
    """Teacher, pruned (head heal) and default mimic of the head-only teacher, exported and timed side by side."""
    from spc.timing import bench_callables
    from spc.export import ExportConfig, export_onnx
    from spc.models import load_model
    from spc.params import count_parameters
    from contextlib import ExitStack

    from spc.engines import open_runner

    prune_res, mimic_res = _load("prune") or {}, _load("mimic") or {}
    models = {"teacher": work / "teacher-head"}
    if "head/head" in prune_res:
        models["pruned (head heal)"] = Path(prune_res["head/head"]["model"])
    if "head/default" in mimic_res:
        models["mimic (default)"] = Path(mimic_res["head/default"]["model"])
    if "head/paper-shortened" in mimic_res:
        models["mimic (paper)"] = Path(mimic_res["head/paper-shortened"]["model"])
    fns, params = {}, {}
    with ExitStack() as stack:
        for name, path in models.items():
            m = load_model(path)
            params[name] = count_parameters(m).total
            onnx = work / "onnx" / f"{name.split()[0]}-{abs(hash(name)) % 10**6}.onnx"
            export_onnx(m, onnx, ExportConfig())
            fns[name] = stack.enter_context(open_runner(onnx))
        rows = bench_callables(fns, [(1, 16000), (8, 16000)], warmup=5, runs=30)
    base = {r["batch"]: r["p50_ms"] for r in rows if r["artifact"] == "teacher"}
    out = {"rows": [{**r, "ratio_to_teacher": r["p50_ms"] / base[r["batch"]], "params": params[r["artifact"]]}
                    for r in rows],
           "setup": "ONNX Runtime on the CPU (2 cores), interleaved rounds, 30 runs after 5 warm-up, 1 s clips"}
    _save("latency", out)
    return out


START, END = "<!-- whisper-fsdd:start -->", "<!-- whisper-fsdd:end -->"


def readme(work: Path | None = None) -> str:
    """The README section, from the recorded JSON only."""
    pct = lambda x: "-" if x is None else f"{100 * x:.1f}%"  # noqa: E731
    t, p, m, c, lat = (_load(n) for n in ("teachers", "prune", "mimic", "compress", "latency"))  # and compress_beyond
    lines = [START, "## Pre-trained Whisper tiny.en on FSDD (`pretrained_whisper.py`)", "",
             "OpenAI Whisper tiny.en's encoder (4 layers, 384 wide, `../shared/models/whisper-tiny.en-encoder`) with a "
             "10-digit head, FSDD split by take (300 validation, 300 test, 2,400 train clips), 2 CPU cores. "
             "Command: `python benchmarks/pretrained_whisper.py --work WORK`.", ""] + _run_lines(_load("run"))
    unrecorded = [n for n in ("teachers", "prune", "mimic", "latency", "compress", "compress_beyond") if _load(n) is None]
    if unrecorded:
        lines += [f"Not recorded for the current code: {', '.join(unrecorded)} (a step's record is removed when the "
                  "code it measures changes and the 2 cores had no time to run it again; `--only STEP` writes it).", ""]
    if t:
        lines += ["### Teachers", "", "| teacher | trained | validation | test | time |", "| --- | --- | ---: | ---: | ---: |"]
        for name, what in (("head", "head only (`--train-layers 0`, encoder frozen, features cached)"),
                           ("full", "every layer (CNN frozen), 4 epochs")):
            if name in t:
                r = t[name]
                lines.append(f"| {name} | {what} | {pct(r['val_accuracy'])} | {pct(r['test_accuracy'])} | "
                             f"{r['seconds']:.0f} s |")
        lines.append("")
    if p:
        lines += ["### Pruning: layers removed at 95% (validation target), without and with healing", "",
                  "| teacher | heal | best order | kept layers | removed | test acc | test retention | heal time | total |",
                  "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
        for key, r in p.items():
            rule = "" if r.get("rule") == "interval" else " (old rule)"
            lines.append(f"| {r['teacher']} | {r['heal']}{rule} | {r['best']} | {r['kept']} | {r['removed']} of {r['n_layers']} | "
                         f"{pct(r['pruned_test'])} | {r['test_retention']:.3f} | {r['heal_seconds']:.0f} s | "
                         f"{r['seconds']:.0f} s |")
        if any(r.get("rule") != "interval" for r in p.values()):
            lines += ["", "(old rule): recorded before the interval rule, with the deepest cut whose *point* estimate "
                      "cleared the target; not rerun since (time on the 2 cores)."]
        missing = [f"{t}/{h}" for t in ("head", "full") for h in ("none", "head", "distill") if f"{t}/{h}" not in p]
        if missing:
            lines += ["", f"Not run in the recorded session (time on the 2 cores): {', '.join(missing)}."]
        lines += ["", "Validation accuracy after removing 0, 1, 2, 3 layers (no heal / healed; `-`: not healed, past "
                  "the first miss):", ""]
        for key, r in p.items():
            if r["heal"] == "none":
                continue
            for name, o in r["orders"].items():
                if name.startswith("random"):
                    continue
                curve = " ".join(f"{a:.2f}" for a in o["val_curve"])
                healed = " ".join("-" if a is None else f"{a:.2f}" for a in o["healed_curve"])
                lines.append(f"- {r['teacher']}, {r['heal']} heal, {name}: {curve} / {healed}")
        lines += ["", "Curves: `results/whisper_fsdd/curves/TEACHER-HEAL.png`.", ""]
        with_depths = [r for r in p.values() if r.get("depths")]
        if with_depths:
            lines += ["Every healed depth that passes the target on validation, by the interval rule (the deepest "
                      "**safe** cut is the pruned model; a cut passing on the point estimate only is flagged; each is "
                      "a `pruned-k` candidate of compress):", "",
                      "| teacher | heal | removed | order | val retention [95% interval] | passed by (clips) | standing | "
                      "test retention |", "| --- | --- | ---: | --- | ---: | ---: | --- | ---: |"]
            for r in with_depths:
                for d in r["depths"]:
                    lo, hi = d["interval"]
                    test_ret = d["test_accuracy"] / r["original_test"] if d.get("test_accuracy") is not None else None
                    lines.append(f"| {r['teacher']} | {r['heal']} | {d['removed']} of {r['n_layers']} | {d['order']} | "
                                 f"{d['retention']:.3f} [{lo:.3f}, {hi:.3f}] | {d['margin_clips']:+d} | {d['standing']} | "
                                 f"{'-' if test_ret is None else f'{test_ret:.3f}'} |")
            lines.append("")
    if m:
        lines += ["### Mimic (the whole stack replaced by one block)", "",
                  "| teacher | recipe | design | epochs (stage 1 + 2) | student test | teacher test | test retention | "
                  "whole model smaller by | time |", "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in m.values():
            design = r["mimic"]["kind"] + (f" (teacher layer {r['mimic']['init_layer']})" if r["mimic"]["kind"] == "layer"
                                           else f" ({r['mimic']['heads']} heads, FFN {r['mimic']['ffn']})")
            lines.append(f"| {r['teacher']} | {r['recipe']} | {design} | {r['epochs']['stage1']} + {r['epochs']['stage2']} | "
                         f"{pct(r['student_test'])} | {pct(r['teacher_test'])} | {r['retention_test']:.3f} | "
                         f"{pct(r['whole_reduction'])} | {r['seconds']:.0f} s |")
        lines.append("")
    if lat:
        lines += ["### ONNX Runtime latency, side by side in one run", "", f"{lat['setup']}.", "",
                  "| model | parameters | batch | p50 ms | vs teacher |", "| --- | ---: | ---: | ---: | ---: |"]
        for r in lat["rows"]:
            lines.append(f"| {r['artifact']} | {r['params'] / 1e6:.2f} M | {r['batch']} | {r['p50_ms']:.2f} | "
                         f"{r['ratio_to_teacher']:.2f} |")
        lines.append("")
    if c:
        lo, hi = c["retention_ci"]
        lines += ["### `spc compress --target cpu` on the head-only teacher", "",
                  f"Chosen: **{c['chosen']}**; verdict **{c['verdict']}**: test {pct(c['test_accuracy'])} against "
                  f"{pct(c['original_test_accuracy'])} (retention {c['retention']:.3f}, 95% interval "
                  f"{lo if lo is None else round(lo, 3)}-{hi if hi is None else round(hi, 3)}, McNemar p = "
                  f"{c['mcnemar_p']:.3g}), {c['speedup_p50']:.2f}x lower ONNX Runtime latency (p50 "
                  f"{c['latency_ms']['p50_ms']:.2f} ms against {c['original_latency_ms']['p50_ms']:.2f} ms); "
                  f"{c['seconds']:.0f} s in all ({', '.join(c['stages'])})." + _floor_text(c), ""]
    b = _load("compress_beyond")
    if b:
        lo, hi = b["retention_ci"]
        lines += ["### compress with the tiny student and the INT8 CPU variants among its candidates", "",
                  "`spc compress TEACHER --data FSDD --target cpu --tiny --int8-cpu` (the tiny student: 2 blocks, "
                  "12.5 ms STFT windows, via `--config`; the default distillation epochs). Chosen: "
                  f"**{b['chosen']}**; verdict **{b['verdict']}**: retention {b['retention']:.3f} [{lo:.3f}, {hi:.3f}], "
                  f"{b['speedup_p50']:.2f}x lower ONNX Runtime latency (the built artifacts, each on the threads its "
                  f"build chose); {b['seconds']:.0f} s from nothing ({', '.join(b['stages'])}). Why: "
                  f"{b['choice'].get('reason', '-') if isinstance(b.get('choice'), dict) else '-'}. Candidates passing "
                  "on validation are built for the CPU and ranked by their latency as built; the ONNX exports are "
                  "also timed at ONNX Runtime's default threads beside the floor.", "",
                  "| candidate | parameters | validation retention [95% interval] | as built: latency vs teacher | "
                  "as built: threads (its build's p50 ms on 1 / 2) | export: latency vs teacher | export: x floor |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for name, cand in b["candidates"].items():
            ci = cand.get("val_retention_ci") or [None, None]
            ci_s = "" if ci[0] is None else f" [{ci[0]:.3f}, {ci[1]:.3f}]"
            ratio, xf = cand.get("latency_ratio"), cand.get("latency_x_floor")
            params_s = f"{cand['params']['total'] / 1e6:.2f} M" if cand.get("params") else "-"
            built = cand.get("latency_target_ratio")
            lines.append(f"| {name} | {params_s} | {cand['val_retention']:.3f}{ci_s} | "
                         f"{'-' if built is None else f'{built:.2f}'} | {_threads_text(cand.get('thread_choice'))} | "
                         f"{'-' if ratio is None else f'{ratio:.2f}'} | {'-' if xf is None else f'{xf:.2f}'} |")
        slow = [(n, c) for n, c in b["candidates"].items() if c.get("latency_target_ratio") and c.get("latency_ratio")
                and c["latency_target_ratio"] > 1.2 * c["latency_ratio"]]
        for n, c in slow:  # a thread pick that timing on a shared machine got wrong, said where it shows
            lines += ["", f"{n} runs slower as built than as exported ({c['latency_target_ratio']:.2f} against "
                      f"{c['latency_ratio']:.2f} of the teacher): its build timed "
                      + ", ".join(f"{v:.2f} ms on {k}" for k, v in (c["thread_choice"] or {}).get("p50_ms", {}).items())
                      + f" threads and kept {(c['thread_choice'] or {}).get('threads')} (the fewest within 5% of the "
                      "fastest), but side by side it ran slower on that count than its export on ONNX Runtime's "
                      "default threads: a pick the build's 15 timed runs got wrong on this noisy machine "
                      "(`spc build --threads N` fixes a count)."]
        if b.get("warnings"):
            lines += ["", "Warnings: " + "; ".join(b["warnings"])]
        lines.append("")
    from readme_section import replace_section

    return replace_section(HERE / "README.md", START, END, "\n".join(lines[1:]))


def _with_run(record: dict | None, run: dict) -> dict:
    """run.json: every recorded run (this one replacing its own earlier entry), so each table can be traced to the
    run that wrote it; a step a later run repeated belongs to the later one."""
    runs = [r for r in (record or {}).get("runs", []) if r["started"] != run["started"]]
    return {"runs": runs + [run]}


def _threads_text(choice: dict | None) -> str:
    """"2 (11.18 / 8.14)": the count a build chose and the p50s it chose by."""
    if not choice:
        return "-"
    p50 = choice.get("p50_ms") or {}
    return f"{choice['threads']}" + (f" ({' / '.join(f'{v:.2f}' for v in p50.values())})" if p50 else "")


def _run_lines(record: dict | None) -> list[str]:
    """Which run recorded which tables (run.json); tables no recorded run wrote are older."""
    runs = (record or {}).get("runs", [])
    if not runs:
        return []
    made = {"teachers": "the teachers", "prune": "pruning", "mimic": "mimic", "compress": "compress",
            "latency": "latency", "compress_beyond": "compress with the tiny student and INT8",
            "tiny": "the tiny-student section", "int8": "the INT8 section", "profile": "the CPU-profile section"}
    lines, done = [], set()
    for run in runs:
        steps = ", ".join(f"{k} {v / 60:.1f} min" for k, v in run["step_seconds"].items())
        mine = [made[k] for k in run["step_seconds"] if k in made]
        done |= set(run["step_seconds"])
        lines.append(f"Recorded run: `{run['command']}`, started {run['started']} ({steps}): {', '.join(mine)}.")
    older = [made[k] for k in ("prune", "mimic", "compress", "latency") if k not in done]
    if older:
        lines.append(f"The {', '.join(older)} tables below are from earlier runs of the same steps, on teachers "
                     "trained earlier with the same settings.")
    return [" ".join(lines), ""]


def _floor_text(c: dict) -> str:
    """The latency floor (the teacher with no stack) beside the chosen candidate, where the run timed it."""
    f = c.get("latency_floor")
    if not f:
        return ""
    x = (c["candidates"].get(c["chosen"]) or {}).get("latency_x_floor")
    return (f" The latency floor (the teacher with no transformer layer: front end and head) is {f['p50_ms']:.2f} ms, "
            f"{f['vs_original']:.2f} of the teacher's" + (f"; the chosen model runs at {x:.2f}x it." if x else "."))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, required=True, help="Folder for the models (not committed).")
    ap.add_argument("--only", nargs="*", default=["teachers", "prune", "mimic", "compress", "latency", "readme"])
    args = ap.parse_args()
    if not (WHISPER / "model.safetensors").is_file() or not (FSDD / "recordings").is_dir():
        raise SystemExit(f"needs {WHISPER} and {FSDD} (see their READMEs)")
    run = {"command": "python benchmarks/pretrained_whisper.py --work WORK --only " + " ".join(args.only),
           "started": time.strftime("%Y-%m-%d %H:%M"), "step_seconds": {}}
    for step in args.only:
        t0 = time.perf_counter()
        globals()[step](args.work)
        run["step_seconds"][step] = round(time.perf_counter() - t0)
        print(f"{step}: {run['step_seconds'][step]} s", flush=True)
        if set(args.only) != {"readme"}:  # rewriting the README from the records measures nothing
            _save("run", _with_run(_load("run"), {**run, "ended": time.strftime("%Y-%m-%d %H:%M")}))


if __name__ == "__main__":
    main()
