"""spc on one CUDA GPU, in one prepared run of at most 8 minutes: training side by side with the CPU recipe,
inference in FP32/FP16 with and without CUDA graphs, and what it cannot measure. One JSON, one Markdown table.

Examples:
    # here (no GPU): copy the Whisper tiny.en encoder and FSDD (lossless FLAC, ~45 MB in all) into a gitignored folder
    python benchmarks/gpu_measure.py --pack work/gpu-pack
    # on the GPU box (only the checkout and the pack; torch with CUDA, onnxruntime for the CPU, no TensorRT)
    python3 benchmarks/gpu_measure.py --model work/gpu-pack/whisper-tiny.en-encoder --data work/gpu-pack/fsdd \\
        --out benchmarks/results/gpu
    # the same code path on the CPU: a tiny Whisper-shaped model, a few synthetic FSDD-named clips, 1-2 epochs
    python benchmarks/gpu_measure.py --dry-run --out /tmp/gpu-dry

Parts (each timed; the JSON is rewritten after each, so a killed run still leaves what it had):
  1 training   the head-only teacher (`spc finetune --train-layers 0`, the recorded CPU run's FinetuneConfig) and
               `compress --target cpu` on it, every training stage on CUDA; each stage's time, the verdict, the
               retention and the chosen candidate next to the CPU run recorded in benchmarks/results/whisper_fsdd/
  2 inference  teacher, pruned and mimic students and `preset:wav2vec2-base` (random weights) in PyTorch FP32 and
               FP16, batch 1 and 32, 1 s clips: device time (CUDA events, one stream), end-to-end time (pinned host
               buffers: copy in, forward, copy out), eager and CUDA graph; FP16-vs-FP32 agreement on the FSDD test clips
  3 not_measured  TensorRT, Jetson latency, power, ..., each with its reason
A global time guard (--budget-s) stops the run cleanly: what is done is written, the rest is marked 'time budget'.
Exit codes: 0 done, 1 a part failed, 2 no CUDA GPU (without --dry-run), 3 stopped by the time budget.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Callable, Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "toolchain"))  # `import spc` from the checkout, installed or not

import numpy as np  # noqa: E402

SHARED = ROOT.parent / "shared"
CPU_REF = ROOT / "benchmarks" / "results" / "whisper_fsdd"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "gpu"
SEED = 0
REQUIRED = ("torch", "transformers", "onnx", "onnxruntime", "numpy", "scipy", "soundfile", "click", "rich",
            "matplotlib", "safetensors")
OPTIONAL = ("onnxsim", "onnxslim", "onnxconverter_common", "tensorrt", "cuda", "pynvml", "espeakng_loader")
SPC_MODULES = ("spc", "spc.cli", "spc.recipes.finetune", "spc.recipes.compress", "spc.export", "spc.models")
DEVICE_FIELDS = ("prune.device", "prune.heal.head.device", "prune.heal.stage1.device", "prune.heal.stage2.device",
                 "distill.stage1.device", "distill.stage2.device")
DRY_TEACHER = {"train.epochs": 2, "train.batch_size": 16}
DRY_COMPRESS = {"analysis_clips": 16, "prune.orders": ("bi", "backward"), "prune.min_steps": 2, "prune.batch_size": 32,
                "prune.heal.head.epochs": 1, "prune.max_remove": 1, "distill.stage1.epochs": 1,
                "distill.stage2.epochs": 1, "latency_runs": 2}
CELL_MARGIN_S = 5.0  # no new inference cell with less of the budget left
DRY_CUDA_NOTE = "dry run on CPU: CUDA events/graphs not measured"
TINY_W2V = dict(model_type="wav2vec2", hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                intermediate_size=64, conv_dim=(16,) * 7, conv_stride=(5, 2, 2, 2, 2, 2, 2),
                conv_kernel=(10, 3, 3, 3, 3, 2, 2), num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2,
                classifier_proj_size=16)
TINY_WHISPER = dict(d_model=32, encoder_layers=4, encoder_attention_heads=2, encoder_ffn_dim=64, decoder_layers=1,
                    decoder_attention_heads=2, num_mel_bins=80, max_source_positions=1500, classifier_proj_size=16)


# ------------------------------------------------------------------ the time guard
class TimeBudget(BaseException):
    """Raised by the alarm when a part runs past its deadline (BaseException: no library's `except Exception` eats it)."""


class Budget:
    """Seconds since the script started against --budget-s; `alarm` raises TimeBudget at a deadline."""

    def __init__(self, budget_s: float, start: float | None = None):
        self.budget_s, self.stopped = budget_s, False
        self.start = time.monotonic() if start is None else start

    def spent(self) -> float:
        """Seconds since the script started."""
        return time.monotonic() - self.start

    def left(self, reserve_s: float = 0.0) -> float:
        """Seconds left before the budget, less ``reserve_s``."""
        return self.budget_s - reserve_s - self.spent()

    @contextlib.contextmanager
    def alarm(self, reserve_s: float = 0.0) -> Iterator[None]:
        """Raise TimeBudget inside the block when only ``reserve_s`` seconds of the budget are left."""
        left = self.left(reserve_s)
        if left <= 0:
            self.stopped = True
            raise TimeBudget(f"no time left ({self.spent():.0f} s of {self.budget_s:.0f} s spent)")

        def ring(signum, frame):
            self.stopped = True
            raise TimeBudget(f"stopped at {self.spent():.0f} s of the {self.budget_s:.0f} s budget")

        old = signal.signal(signal.SIGALRM, ring)
        signal.setitimer(signal.ITIMER_REAL, left)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)


# ------------------------------------------------------------------ environment and imports
def offline_env() -> None:
    """The GPU box reaches nothing: never wait on the hub; figures without a display."""
    for key, value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("MPLBACKEND", "Agg")):
        os.environ.setdefault(key, value)


def simulate_absent(names: list[str]) -> None:
    """Make ``import NAME`` fail for each name (to run here what a GPU box without them would run)."""
    for name in names:
        sys.modules[name] = None  # type: ignore[assignment]


def module_version(name: str) -> dict:
    """{'version': ...} when ``name`` imports, else {'absent': the error}."""
    import importlib

    import importlib.metadata as md
    import warnings

    try:
        mod = importlib.import_module(name)
    except Exception as exc:  # ImportError, or a broken install raising something else: say which
        return {"absent": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]}
    try:
        return {"version": md.version(md.packages_distributions().get(name.split(".")[0], [name])[0])}
    except Exception:  # not an installed distribution (spc from the checkout): the module's own attribute
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return {"version": str(getattr(mod, "__version__", "?"))}


def check_imports() -> dict:
    """Every package spc needs (required), those it can do without (optional), and spc's own modules."""
    out = {"required": {m: module_version(m) for m in REQUIRED}, "optional": {m: module_version(m) for m in OPTIONAL},
           "spc": {m: module_version(m) for m in SPC_MODULES}}
    out["ok"] = all("version" in v for group in ("required", "spc") for v in out[group].values())
    return out


def loaded_third_party() -> list[str]:
    """Top-level non-standard-library modules this process imported (what the run really needed)."""
    std = set(getattr(sys, "stdlib_module_names", ()))
    names = {n.split(".")[0] for n, m in list(sys.modules.items()) if m is not None}
    return sorted(n for n in names if n not in std and not n.startswith("_") and n not in ("spc", "__main__"))


def driver_versions() -> dict:
    """The CUDA driver API version torch sees and the NVIDIA driver nvidia-smi reports (None where unknown)."""
    import torch

    out: dict = {"cuda_driver_api": None, "nvidia_driver": None}
    get = getattr(torch._C, "_cuda_getDriverVersion", None)
    if get is not None:
        with contextlib.suppress(Exception):
            v = int(get())
            out["cuda_driver_api"] = f"{v // 1000}.{(v % 1000) // 10}"
    with contextlib.suppress(Exception):
        smi = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=15)
        out["nvidia_driver"] = smi.stdout.strip().splitlines()[0] if smi.returncode == 0 and smi.stdout.strip() else None
    return out


def environment(device) -> dict:
    """The machine and the software the figures were measured with."""
    import torch

    env = {"python": platform.python_version(), "platform": platform.platform(), "cpu": platform.processor() or
           platform.machine(), "cpu_cores": os.cpu_count(), "torch": torch.__version__,
           "torch_cuda_runtime": torch.version.cuda, "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
           "device": str(device), "torch_threads": torch.get_num_threads()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(gpu=torch.cuda.get_device_name(device), capability="%d.%d" % torch.cuda.get_device_capability(device),
                   sm_count=props.multi_processor_count, memory_gib=round(props.total_memory / 2**30, 1),
                   **driver_versions(), tf32={"matmul": torch.backends.cuda.matmul.allow_tf32,
                                              "cudnn": torch.backends.cudnn.allow_tf32},
                   cudnn_benchmark=torch.backends.cudnn.benchmark)
    else:
        env["gpu"] = None
    return env


# ------------------------------------------------------------------ workarounds kept in the record
@contextlib.contextmanager
def spc_workarounds(record: list[dict]) -> Iterator[None]:
    """Patch, for this run only, what would stop it on a GPU box; each patch and whether it was needed is recorded."""
    import spc.export.onnx_export as ox
    import spc.recipes.compress.exporting as rc

    saved = (ox.simplify, rc.export_onnx)
    have = {m: "version" in module_version(m) for m in ("onnxsim", "onnxslim")}
    if not any(have.values()):
        simp = {"what": "export without graph simplification", "needed": 0,
                "why": "neither onnxsim nor onnxslim imports here; spc.export.simplify imports onnxslim as the fallback "
                       "without a guard, so export_onnx (and compress's export stage) would raise ImportError. The "
                       "unsimplified graph is kept (parity is still checked); ONNX Runtime optimises it at load."}
        record.append(simp)

        def keep_unsimplified(src, dst, notes=None):
            simp["needed"] += 1
            shutil.copyfile(src, dst)
            if notes is not None:
                notes.append("not simplified: onnxsim and onnxslim are absent (gpu_measure.py workaround)")
            return "none"

        ox.simplify = keep_unsimplified
    guard = {"what": "compress's export stage gets the original model on the CPU", "tries_on_device": [],
             "why": "after analyse/prune/mimic on CUDA the teacher stays on the GPU; export_onnx traces it with a CPU "
                    "input and check_parity feeds CPU clips. The export is tried as it is first; where it fails, the "
                    "error is recorded and the model is moved to the CPU and exported again."}
    record.append(guard)
    real_export = rc.export_onnx

    def export_with_guard(model, *args, **kwargs):
        device = str(next(model.parameters()).device)
        if device == "cpu":
            return real_export(model, *args, **kwargs)
        try:
            rep = real_export(model, *args, **kwargs)
            guard["tries_on_device"].append({"device": device, "error": None})
            return rep
        except Exception as exc:  # record the failure spc itself would show, then export from the CPU
            guard["tries_on_device"].append({"device": device, "error": f"{type(exc).__name__}: {exc}"[:400]})
            model.to("cpu")
            return real_export(model, *args, **kwargs)

    rc.export_onnx = export_with_guard
    try:
        yield
    finally:
        ox.simplify, rc.export_onnx = saved


# ------------------------------------------------------------------ the pack (model + data for the device tool's carry)
def parse_takes(spec: str) -> set[int] | None:
    """'all' -> None; '0-19' or '0-4,10-19' -> the set of takes."""
    if spec == "all":
        return None
    takes: set[int] = set()
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        takes.update(range(int(lo), int(hi or lo) + 1))
    return takes


def folder_bytes(folder: Path) -> int:
    """Total size of the files under ``folder`` (what the carry transfers)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def pack(dest: Path, model_src: Path, data_src: Path, takes: set[int] | None, fmt: str = "flac",
         max_mb: float = 60.0) -> dict:
    """Copy the encoder folder and FSDD clips (FLAC: lossless, checked sample by sample) into ``dest``; sizes measured."""
    import soundfile as sf

    from spc.data.layouts import FSDD_NAME

    if not (model_src / "config.json").is_file():
        raise SystemExit(f"--model {model_src} is not a model folder (no config.json)")
    rec = data_src / "recordings" if (data_src / "recordings").is_dir() else data_src
    if dest.exists():
        if not (dest / "pack.json").is_file():
            raise SystemExit(f"{dest} exists and is not a pack made by this script; choose another folder")
        shutil.rmtree(dest)
    model_dst, data_dst = dest / model_src.name, dest / "fsdd" / "recordings"
    model_dst.mkdir(parents=True)
    data_dst.mkdir(parents=True)
    for f in sorted(model_src.iterdir()):
        if f.is_file():
            shutil.copyfile(f, model_dst / f.name)
    if (data_src / "README.md").is_file():  # the licence (CC BY-SA 4.0) and attribution travel with the clips
        shutil.copyfile(data_src / "README.md", dest / "fsdd" / "README.md")
    n, lossless = 0, True
    for f in sorted(rec.glob("*.wav")):
        m = FSDD_NAME.match(f.stem)
        if not m or (takes is not None and int(m["take"]) not in takes):
            continue
        if fmt == "wav":
            shutil.copyfile(f, data_dst / f.name)
        else:
            x, rate = sf.read(str(f), dtype="int16")
            out = data_dst / f"{f.stem}.flac"
            sf.write(str(out), x, rate, format="FLAC", subtype="PCM_16")
            lossless &= bool(np.array_equal(sf.read(str(out), dtype="int16")[0], x))
        n += 1
    if n == 0:
        raise SystemExit(f"no FSDD clips ({{digit}}_{{speaker}}_{{take}}.wav) selected under {rec}")
    mb, db = folder_bytes(model_dst), folder_bytes(dest / "fsdd")
    info = {"made_by": "benchmarks/gpu_measure.py --pack", "model": {"source": str(model_src), "bytes": mb},
            "data": {"source": str(data_src), "clips": n, "takes": "all" if takes is None else sorted(takes),
                     "format": fmt, "lossless_checked": lossless if fmt == "flac" else None, "bytes": db},
            "total_bytes": mb + db, "total_mb": round((mb + db) / 1e6, 2), "total_mib": round((mb + db) / 2**20, 2),
            "limit_mb": max_mb}
    (dest / "pack.json").write_text(json.dumps(info, indent=2))
    if not lossless:
        raise SystemExit(f"FLAC round trip changed samples in {dest}: use --pack-format wav")
    if info["total_mb"] > max_mb:
        shutil.rmtree(dest)
        raise SystemExit(f"the pack would be {info['total_mb']} MB, over the {max_mb} MB limit: select fewer takes")
    return info


# ------------------------------------------------------------------ dry-run inputs
def synth_fsdd(folder: Path, speakers: tuple[str, ...] = ("ada", "bo"), takes: int = 12, rate: int = 8000,
               seed: int = SEED) -> Path:
    """Tiny FSDD-named 8 kHz clips ``{digit}_{speaker}_{take}.wav``: a digit-specific tone pair plus noise."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    rec = folder / "recordings"
    rec.mkdir(parents=True, exist_ok=True)
    for digit in range(10):
        for speaker in speakers:
            for take in range(takes):
                t = np.arange(int(rate * rng.uniform(0.3, 0.8))) / rate
                f0 = 200 + 150 * digit
                x = 0.4 * np.sin(2 * np.pi * f0 * t) + 0.2 * np.sin(2 * np.pi * 2.5 * f0 * t)
                x = x * np.hanning(len(t)) + 0.02 * rng.standard_normal(len(t))
                sf.write(str(rec / f"{digit}_{speaker}_{take}.wav"), x.astype(np.float32), rate, subtype="PCM_16")
    return folder


def tiny_wav2vec2(folder: Path) -> Path:
    """A wav2vec2-architecture config file (4 layers, 32 wide): the dry run's stand-in for preset:wav2vec2-base."""
    import transformers

    kwargs = dict(TINY_W2V)
    path = folder / "tiny-wav2vec2.json"
    transformers.AutoConfig.for_model(kwargs.pop("model_type"), **kwargs).to_json_file(path)
    return path


def tiny_whisper(folder: Path, labels: list[str], seed: int = SEED) -> Path:
    """A Whisper-architecture model folder (4 layers, 32 wide, 80 mel bands) with random weights, saved like the real one."""
    import transformers

    from spc.models import load_model, save_model

    cfg = folder / "tiny-whisper.json"
    transformers.WhisperConfig(**TINY_WHISPER).to_json_file(cfg)
    save_model(load_model(str(cfg), labels=labels, seed=seed), folder / "tiny-whisper", {"made_by": "gpu_measure dry run"})
    return folder / "tiny-whisper"


# ------------------------------------------------------------------ part 1: training side by side with the CPU run
def parse_stages(timeline: list[str]) -> list[dict]:
    """compress's timeline ('prune 72.8 s') as [{'stage': 'prune', 'seconds': 72.8}]."""
    rows = []
    for item in timeline:
        m = re.match(r"^(.*) ([0-9.]+) s$", item)
        rows.append({"stage": m[1], "seconds": float(m[2])} if m else {"stage": item, "seconds": None})
    return rows


def git_commit(path: Path) -> str | None:
    """The last commit that changed ``path`` (None without git)."""
    with contextlib.suppress(Exception):
        r = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h %cs %s", "--", str(path)],
                           capture_output=True, text=True, timeout=10)
        return r.stdout.strip() or None
    return None


RECIPE_CODE = ("toolchain/spc/recipes", "toolchain/spc/prune", "toolchain/spc/distill", "toolchain/spc/finetune.py",
               "toolchain/spc/train.py", "toolchain/spc/stats.py")


def code_since(commit: str | None) -> dict:
    """This checkout's commit and the recipe commits since ``commit`` (what may move the figures besides the device)."""
    out: dict = {"head": None, "recipe_commits_since_reference": None}
    with contextlib.suppress(Exception):
        head = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h %cs %s"], capture_output=True,
                              text=True, timeout=10)
        out["head"] = head.stdout.strip() or None
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", *RECIPE_CODE],
                               capture_output=True, text=True, timeout=10)
        out["recipe_files_changed_uncommitted"] = [line[3:] for line in dirty.stdout.splitlines()]
        if commit:
            log = subprocess.run(["git", "-C", str(ROOT), "log", "--format=%h %s", f"{commit.split()[0]}..HEAD", "--",
                                  *RECIPE_CODE], capture_output=True, text=True, timeout=10)
            out["recipe_commits_since_reference"] = [line[:160] for line in log.stdout.splitlines()]
    return out


def cpu_reference() -> dict:
    """The recorded CPU run of the same recipe (benchmarks/results/whisper_fsdd/), with its source."""
    teacher = json.loads((CPU_REF / "teachers.json").read_text())["head"]
    comp = json.loads((CPU_REF / "compress.json").read_text())
    rel = lambda p: str(p.relative_to(ROOT))  # noqa: E731
    commit = git_commit(CPU_REF / "compress.json")
    return {
        "source": {"teacher": rel(CPU_REF / "teachers.json") + " ['head']", "compress": rel(CPU_REF / "compress.json"),
                   "readme": "benchmarks/README.md, 'Pre-trained Whisper tiny.en on FSDD'",
                   "script": "benchmarks/pretrained_whisper.py (teachers, compress: CompressConfig())",
                   "commit": commit,
                   "machine": "2 x86-64 CPU cores, no GPU; FSDD split by take: 2,400 train, 300 validation, 300 test"},
        "code": code_since(commit),
        "teacher": {k: teacher[k] for k in ("val_accuracy", "test_accuracy", "best_epoch", "train_seconds", "seconds",
                                             "config")},
        "compress": {"chosen": comp["chosen"], "verdict": comp["verdict"], "retention": comp["retention"],
                     "retention_ci": comp["retention_ci"], "mcnemar_p": comp["mcnemar_p"],
                     "test_accuracy": comp["test_accuracy"], "original_test_accuracy": comp["original_test_accuracy"],
                     "speedup_p50_onnxruntime_cpu": comp["speedup_p50"],
                     "candidates": {n: {k: c.get(k) for k in ("val_accuracy", "val_retention", "val_retention_ci")}
                                    for n, c in comp["candidates"].items()},
                     "stages": parse_stages(comp["stages"]), "seconds": comp["seconds"]},
    }


def teacher_config(ref: dict, device: str, dry: bool):
    """The CPU run's FinetuneConfig (from its JSON) with the device set (and tiny epochs in a dry run)."""
    from spc.configs import from_dict, with_changes
    from spc.training.finetuning import FinetuneConfig

    changes = {"train.device": device, **(DRY_TEACHER if dry else {})}
    return with_changes(from_dict(FinetuneConfig, ref["teacher"]["config"], "CPU reference teacher config"), changes)


def compress_config(device: str, dry: bool):
    """CompressConfig() (what the CPU run used) with every training stage's device set (tiny in a dry run)."""
    from spc.configs import with_changes
    from spc.recipes.compress import CompressConfig

    return with_changes(CompressConfig(), {**{f: device for f in DEVICE_FIELDS}, **(DRY_COMPRESS if dry else {})})


def summarize_compress(report: dict) -> dict:
    """The figures of a compress report that the CPU run is compared on (missing keys: None, the recipe evolves)."""
    f = report.get("final", {})
    return {"chosen": report.get("chosen"), "choice": report.get("choice"), "verdict": f.get("verdict"),
            "passed": f.get("passed"), "retention": f.get("retention"), "retention_ci": f.get("retention_ci"),
            "mcnemar_p": f.get("mcnemar_p"), "test_accuracy": f.get("test_accuracy"),
            "original_test_accuracy": f.get("original_test_accuracy"),
            "speedup_p50_onnxruntime_cpu": f.get("speedup_p50"),
            "candidates": {n: {"model": c.get("model"), "val_accuracy": c.get("val_accuracy"),
                               "val_retention": c.get("val_retention"), "val_retention_ci": c.get("val_retention_ci"),
                               "params_total": (c.get("params") or {}).get("total")}
                           for n, c in report.get("candidates", {}).items()},
            "data": {k: report.get("data", {}).get(k) for k in ("val_clips", "test_clips")},
            "stages": parse_stages(report.get("stages", [])), "seconds": report.get("seconds"),
            "warnings": report.get("warnings", [])}


def run_training(args, device: str, work: Path, ref: dict, part: dict, save: Callable[[], None]) -> None:
    """Teacher then compress, every training stage on ``device``; fills ``part`` as it goes."""
    from spc.data import DataConfig
    from spc.recipes.compress import run_compress
    from spc.recipes.finetune import run_finetune

    tcfg = teacher_config(ref, device, args.dry_run)
    part["teacher_config"] = tcfg.as_dict()
    t0 = time.perf_counter()
    s = run_finetune(str(args.model), DataConfig(str(args.data)), work / "teacher", config=tcfg, overwrite=True,
                     show_progress=False)
    part["teacher"] = {"model": s["model"], "device": s["device"], "val_accuracy": s["val_accuracy"],
                       "test_accuracy": s["test_accuracy"], "best_epoch": s["best_epoch"], "epochs_run": len(s["history"]),
                       "epoch_seconds": [r.get("seconds") for r in s["history"]], "train_seconds": s["train_seconds"],
                       "seconds": s["seconds"], "wall_s": round(time.perf_counter() - t0, 2),
                       "test_clips": s["test"].get("n_clips"),
                       "stopped_early": s["stopped_early"]}
    shutil.copyfile(work / "teacher" / "finetune.json", args.out / "teacher_finetune.json")
    save()
    ccfg = compress_config(device, args.dry_run)
    part["compress_config_changes"] = {**{f: device for f in DEVICE_FIELDS}, **(DRY_COMPRESS if args.dry_run else {})}
    part["compress_config"] = ccfg.as_dict()
    part["compress_note"] = ("the analysis stage's device is not a CompressConfig field: AnalysisConfig() resolves "
                             "'auto' (CUDA where present); export, choose, build, final and stream run ONNX Runtime "
                             "on this machine's CPU")
    t0 = time.perf_counter()
    report = run_compress(work / "teacher", DataConfig(str(args.data)), work / "compress", "cpu", config=ccfg,
                          overwrite=True, show_progress=False)
    part["compress"] = {**summarize_compress(report), "wall_s": round(time.perf_counter() - t0, 2)}
    shutil.copyfile(work / "compress" / "report.json", args.out / "compress_report.json")
    if device == "cuda":  # evidence that the training stages ran on the GPU
        import torch

        part["cuda_max_memory_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)


def comparable(result: dict) -> tuple[bool, str]:
    """Whether the run can be held against the recorded CPU run: the real model and the full FSDD split."""
    if result["dry_run"]:
        return False, "dry run: a tiny random model on synthetic clips, not the recorded run"
    clips = result.get("inputs", {}).get("clips", {})
    if clips != {"train": 2400, "validation": 300, "test": 300}:
        return False, f"different data: {clips} clips, the CPU run had 2,400 / 300 / 300"
    why = "same model, same FSDD split (takes 0-4 test, 5-9 validation, 10-49 train), same configs but the device"
    since = ((result.get("cpu_reference") or {}).get("code") or {}).get("recipe_commits_since_reference")
    if since:
        why += (f"; {len(since)} recipe commit(s) since the CPU run (cpu_reference.code) may move the figures too, "
                "the device aside")
    return True, why


def within(x: float | None, ci: list | None) -> bool | None:
    """x inside [lo, hi] (None where either is unknown)."""
    if x is None or not ci or ci[0] is None or ci[1] is None:
        return None
    return bool(ci[0] - 1e-12 <= x <= ci[1] + 1e-12)


def agreement(part: dict, ref: dict, ok: bool, why: str) -> dict:
    """How far the CUDA run is from the CPU run: accuracies in clips, retention against each other's 95% interval."""
    out: dict = {"comparable": ok, "note": why}
    t = part.get("teacher")
    n_test = (part.get("compress") or {}).get("data", {}).get("test_clips") or (t or {}).get("test_clips")
    if t:
        for key in ("val_accuracy", "test_accuracy"):
            d = t[key] - ref["teacher"][key]
            out[f"teacher_{key}"] = {"cuda": t[key], "cpu": ref["teacher"][key], "diff": d,
                                     "diff_clips": round(d * (n_test or 0)) if key == "test_accuracy" else None}
        out["teacher_best_epoch"] = {"cuda": t["best_epoch"], "cpu": ref["teacher"]["best_epoch"]}
    c, r = part.get("compress"), ref["compress"]
    if c and c.get("retention") is not None and c.get("test_accuracy") is not None:
        out["retention"] = {"cuda": c["retention"], "cpu": r["retention"], "diff": c["retention"] - r["retention"],
                            "cuda_ci": c["retention_ci"], "cpu_ci": r["retention_ci"],
                            "cuda_within_cpu_ci": within(c["retention"], r["retention_ci"]),
                            "cpu_within_cuda_ci": within(r["retention"], c["retention_ci"])}
        d = c["test_accuracy"] - r["test_accuracy"]
        out["final_test_accuracy"] = {"cuda": c["test_accuracy"], "cpu": r["test_accuracy"], "diff": d,
                                      "diff_clips": round(d * (n_test or 0))}
        out["verdict"] = {"cuda": c["verdict"], "cpu": r["verdict"], "same": c["verdict"] == r["verdict"]}
        out["chosen"] = {"cuda": c["chosen"], "cpu": r["chosen"], "same": c["chosen"] == r["chosen"]}
        out["candidates_val_retention"] = {
            n: {"cuda": c["candidates"][n]["val_retention"], "cpu": r["candidates"][n]["val_retention"],
                "diff": c["candidates"][n]["val_retention"] - r["candidates"][n]["val_retention"]}
            for n in c["candidates"] if n in r["candidates"] and c["candidates"][n]["val_retention"] is not None}
        out["agree"] = bool(out["retention"]["cuda_within_cpu_ci"] and out["verdict"]["same"])
    return out


# ------------------------------------------------------------------ part 2: inference
def stats(ms: list[float]) -> dict:
    """p50, p90, mean and min of a list of milliseconds."""
    a = np.asarray(ms, dtype=np.float64)
    return {"p50_ms": round(float(np.percentile(a, 50)), 4), "p90_ms": round(float(np.percentile(a, 90)), 4),
            "mean_ms": round(float(a.mean()), 4), "min_ms": round(float(a.min()), 4), "runs": len(ms)}


def sync(device) -> None:
    """Wait for the device (a no-op on the CPU)."""
    import torch

    if device.type == "cuda":
        torch.cuda.current_stream(device).synchronize()


def time_device(fn: Callable[[], object], device, warmup: int, runs: int) -> dict:
    """Device time per run (CUDA events on the current stream, queue drained before each run; perf_counter on the
    CPU) and the host's time to issue the run."""
    import torch

    for _ in range(warmup):
        fn()
    sync(device)
    dev, host = [], []
    if device.type == "cuda":
        stream = torch.cuda.current_stream(device)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        for _ in range(runs):
            t0 = time.perf_counter()
            start.record(stream)
            fn()
            end.record(stream)
            host.append((time.perf_counter() - t0) * 1e3)
            end.synchronize()
            dev.append(start.elapsed_time(end))
    else:
        for _ in range(runs):
            t0 = time.perf_counter()
            fn()
            dev.append((time.perf_counter() - t0) * 1e3)
        host = dev
    return {"device": stats(dev), "host_issue": stats(host),
            "timer": "cuda events" if device.type == "cuda" else "perf_counter (CPU)"}


def time_end_to_end(step: Callable[[], object], device, warmup: int, runs: int) -> dict:
    """Wall time of ``step`` (host->device copy, forward, device->host copy) until the stream is done."""
    for _ in range(warmup):
        step()
        sync(device)
    ms = []
    for _ in range(runs):
        t0 = time.perf_counter()
        step()
        sync(device)
        ms.append((time.perf_counter() - t0) * 1e3)
    return stats(ms)


def capture_graph(fn: Callable[[], object], device):
    """``fn`` captured as a CUDA graph on static buffers (warmed on a side stream first); returns (graph, output)."""
    import torch

    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = fn()
    sync(device)
    return graph, out


def measure_cell(model, dtype, batch: int, samples: int, device, args) -> dict:
    """One model, precision and batch: eager and CUDA-graph device and end-to-end times."""
    import torch

    cuda = device.type == "cuda"
    gen = torch.Generator().manual_seed(SEED + batch)
    host_in = 0.1 * torch.randn(batch, samples, generator=gen)
    host_in = host_in.pin_memory() if cuda else host_in
    stage = torch.empty(batch, samples, device=device)  # FP32 device buffer: the cast is part of the forward
    row: dict = {"batch": batch, "samples": samples}
    with torch.inference_mode():
        stage.copy_(host_in)

        def forward():
            return model(stage.to(dtype)).float()

        ref = forward()
        host_out = torch.empty(tuple(ref.shape), pin_memory=cuda)

        def eager_step():
            stage.copy_(host_in, non_blocking=True)
            host_out.copy_(forward(), non_blocking=True)

        row["eager"] = {**time_device(forward, device, args.warmup, args.runs),
                        "end_to_end": time_end_to_end(eager_step, device, args.warmup, args.runs)}
        if not cuda:
            row["graph"] = {"skipped": DRY_CUDA_NOTE}
            return row
        try:
            graph, static_out = capture_graph(forward, device)
        except Exception as exc:  # an op that cannot be captured: the eager figures stand, the reason is kept
            row["graph"] = {"skipped": f"capture failed: {type(exc).__name__}: {exc}"[:400]}
            with contextlib.suppress(Exception):
                torch.cuda.synchronize(device)
            return row

        def graph_step():
            stage.copy_(host_in, non_blocking=True)
            graph.replay()
            host_out.copy_(static_out, non_blocking=True)

        graph.replay()
        sync(device)
        row["graph"] = {"max_abs_diff_vs_eager": float((static_out - ref).abs().max()),
                        **time_device(graph.replay, device, args.warmup, args.runs),
                        "end_to_end": time_end_to_end(graph_step, device, args.warmup, args.runs)}
        del graph
    return row


def launch_overhead(row: dict) -> dict | None:
    """Batch 1: eager device time minus graph replay time (the launch gaps) against the graph's time (the compute)."""
    g = row.get("graph", {})
    if "device" not in g:
        return None
    eager, graph = row["eager"]["device"]["p50_ms"], g["device"]["p50_ms"]
    return {"eager_device_p50_ms": eager, "graph_device_p50_ms": graph, "launch_overhead_ms": round(eager - graph, 4),
            "compute_ms": graph, "overhead_share_of_eager": round((eager - graph) / eager, 4) if eager > 0 else None,
            "eager_host_issue_p50_ms": row["eager"]["host_issue"]["p50_ms"]}


def logits_on_clips(model, clips, dtype, device, batch: int = 64) -> np.ndarray:
    """Logits (FP32) of ``model`` in ``dtype`` on every test clip."""
    import torch

    out = []
    with torch.inference_mode():
        for s in range(0, len(clips), batch):
            x = torch.from_numpy(clips.audio[s : s + batch]).to(device)
            out.append(model(x.to(dtype)).float().cpu().numpy())
    return np.concatenate(out)


def fp16_agreement(l32: np.ndarray, l16: np.ndarray, targets: np.ndarray) -> dict:
    """Top-1 agreement and logit differences of FP16 against FP32, and each one's accuracy."""
    diff = np.abs(l16 - l32)
    return {"clips": int(len(targets)), "top1_agreement": float((l16.argmax(1) == l32.argmax(1)).mean()),
            "max_abs_logit_diff": float(diff.max()), "mean_abs_logit_diff": float(diff.mean()),
            "fp32_accuracy": float((l32.argmax(1) == targets).mean()),
            "fp16_accuracy": float((l16.argmax(1) == targets).mean()), "finite": bool(np.isfinite(l16).all())}


def inference_models(args, training: dict) -> tuple[dict, list[dict]]:
    """{name: (source, note)} to measure, and what is missing with the reason."""
    missing, models = [], {}
    teacher = (training.get("teacher") or {}).get("model")
    if teacher:
        models["teacher"] = (teacher, "the head-only teacher trained in part 1")
    else:
        models["teacher"] = (str(args.model), "the encoder with its untrained head (part 1 made no teacher): "
                                              "latency as the teacher's, FP16 agreement of an untrained head")
    cands = {n: c for n, c in (training.get("compress") or {}).get("candidates", {}).items() if n != "original"}
    for name, cand in cands.items():  # pruned-k (every passing depth) and mimic, as compress named them
        models[name] = (cand["model"], f"compress's {name} candidate")
    why = training.get("stopped") or training.get("error") or "compress made no such candidate"
    for kind in ("pruned", "mimic"):
        if not any(n.startswith(kind) for n in cands):
            missing.append({"what": f"inference of the {kind} student", "reason": f"not made in part 1: {why}"})
    if args.dry_run:
        models["wav2vec2-tiny (random, dry-run stand-in)"] = (str(tiny_wav2vec2(args.work)), "random weights, 32 wide")
    else:
        models["wav2vec2-base (random)"] = ("preset:wav2vec2-base", "random weights (base size: 12 layers, 768 wide)")
    return models, missing


def run_inference(args, device, training: dict, part: dict, budget: Budget, save: Callable[[], None]) -> None:
    """Every model in FP32 and FP16 at each batch: times, graphs, launch overhead, FP16 agreement on the test clips."""
    import torch

    from spc.data import DataConfig, clips_for
    from spc.models import load_model
    from spc.params import count_parameters

    models, missing = inference_models(args, training)
    part.update(rows=[], launch_overhead=[], fp16_vs_fp32={}, models={}, missing=missing,
                setup={"batches": args.batches, "clip_seconds": 1.0, "runs": args.runs, "warmup": args.warmup,
                       "input": "0.1 x N(0,1) noise, seeded; FP32 device buffer cast to the model's precision inside "
                                "the timed forward; logits cast back to FP32",
                       "device_time": "CUDA events on the current stream around one forward, the queue drained "
                                      "before each run (CPU: perf_counter)",
                       "end_to_end": "pinned host input -> device copy -> forward -> pinned host logits, wall clock "
                                     "until the stream is done",
                       "graph": "torch.cuda.CUDAGraph capture of the same forward on the static buffers, replayed",
                       "agreement": "FSDD test split, 1 s clips at 16 kHz, batches of 64"})
    teacher = load_model(models["teacher"][0])
    ds = DataConfig(str(args.data)).open()
    clips = clips_for(teacher, ds, ("test",), show_progress=False)["test"]
    for name, (src, note) in models.items():
        if budget.left(CELL_MARGIN_S) <= 0:
            missing.append({"what": f"inference of {name}", "reason": "time budget"})
            continue
        random_weights = name.startswith("wav2vec2")  # a preset or config: given the teacher's classes
        base = teacher if name == "teacher" else load_model(src, labels=teacher.labels if random_weights else None,
                                                            seed=SEED)
        part["models"][name] = {"source": src, "note": note, "params_total": count_parameters(base).total,
                                "samples": base.meta.clip_samples}
        logits = {}
        for precision, dtype in (("fp32", torch.float32), ("fp16", torch.float16)):
            m = copy.deepcopy(base).to(device=device, dtype=dtype).eval()
            logits[precision] = logits_on_clips(m, clips, dtype, device)
            for batch in args.batches:
                if budget.left(CELL_MARGIN_S) <= 0:
                    part["rows"].append({"model": name, "precision": precision, "batch": batch, "skipped": "time budget"})
                    continue
                row = {"model": name, "precision": precision, **measure_cell(m, dtype, batch, base.meta.clip_samples,
                                                                             device, args)}
                part["rows"].append(row)
                if batch == 1:
                    lo = launch_overhead(row)
                    part["launch_overhead"].append({"model": name, "precision": precision, **(lo or {"skipped": row[
                        "graph"].get("skipped")})})
                print(f"  {name} {precision} b{batch}: device p50 {row['eager']['device']['p50_ms']:.3f} ms"
                      + (f", graph {row['graph']['device']['p50_ms']:.3f} ms" if "device" in row["graph"] else ""),
                      flush=True)
            del m
            if device.type == "cuda":
                torch.cuda.empty_cache()
        part["fp16_vs_fp32"][name] = fp16_agreement(logits["fp32"], logits["fp16"], clips.targets)
        save()


# ------------------------------------------------------------------ part 3 and the outputs
def not_measured(result: dict) -> list[dict]:
    """What this run cannot measure, each with the reason (and whatever the budget or a failure left out)."""
    imp = result.get("imports", {}).get("optional", {})
    trt = imp.get("tensorrt", {})
    gpu = (result.get("environment") or {}).get("gpu") or "this data-centre GPU"
    items = [
        {"what": "TensorRT engines (build, parity, latency)",
         "reason": "TensorRT is not on the GPU box this script is prepared for" + (
             f" (import tensorrt: {trt['absent']})" if "absent" in trt else
             f" (tensorrt {trt.get('version')} imports here, but this script does not build engines: "
             "benchmarks/gpu_check.py does)")},
        {"what": "Jetson latency (Orin Nano / AGX Orin)",
         "reason": f"no Jetson here: {gpu} is not a Jetson (other SMs, clocks, memory, no unified memory); "
                   "Jetson figures need the board (spc build/bench on it)"},
        {"what": "power and energy per inference",
         "reason": f"not read: the deployment figure is a Jetson's rail power, which {gpu}'s board power says "
                   "nothing about; NVML sampling is not part of this run"},
        {"what": "ONNX Runtime on the GPU",
         "reason": "only the CPU onnxruntime is assumed there; compress's ONNX latencies and speed-up are the GPU "
                   "box's CPU, not its GPU"},
        {"what": "INT8 / mixed precision on the GPU",
         "reason": "PyTorch FP32 and FP16 only; the INT8 and mixed graphs are for TensorRT"},
    ]
    if result["dry_run"]:
        items.append({"what": "CUDA device time, CUDA graphs, pinned-buffer end-to-end time", "reason": DRY_CUDA_NOTE})
    for name, part in result["parts"].items():
        for why in ("stopped", "error"):
            if part.get(why):
                items.append({"what": f"the rest of part '{name}'",
                              "reason": "time budget" if why == "stopped" else f"failed: {part['error']}"})
        items += part.get("missing", [])
    return items


def fmt(x, spec: str = ".3f", suffix: str = "") -> str:
    """A number for the table, '-' where missing."""
    return "-" if x is None else f"{x:{spec}}{suffix}"


def pct(x) -> str:
    return fmt(None if x is None else 100 * x, ".1f", "%")


def markdown(result: dict) -> str:
    """The Markdown table of one run, from its JSON only."""
    env, parts = result["environment"], result["parts"]
    lines = ["# spc on CUDA (`benchmarks/gpu_measure.py`)", ""]
    if result["dry_run"]:
        lines += ["**Dry run on the CPU** (tiny random Whisper-shaped model, synthetic clips): the code path, not "
                  "figures. " + DRY_CUDA_NOTE + ".", ""]
    lines += [f"Device: {env.get('gpu') or 'CPU'} (capability {env.get('capability', '-')}, driver "
              f"{env.get('nvidia_driver', '-')}, CUDA runtime {env.get('torch_cuda_runtime')}), torch {env['torch']}, "
              f"{env['cpu_cores']} CPU cores; {result['budget']['spent_s']:.0f} s of the {result['budget']['budget_s']:.0f} s "
              f"budget{' (stopped by it)' if result['budget']['stopped'] else ''}.", ""]
    tr, ref, ag = parts.get("training", {}), result.get("cpu_reference"), result.get("agreement") or {}
    if tr.get("teacher") or tr.get("compress"):
        lines += ["## 1. Training: CUDA against the recorded CPU run", "",
                  f"CPU reference: `{ref['source']['compress']}` and `{ref['source']['teacher']}` "
                  f"({ref['source']['machine']}). Comparable: {'yes' if ag.get('comparable') else 'no'} "
                  f"({ag.get('note')}).", "", "| figure | CUDA | CPU (recorded) |", "| --- | ---: | ---: |"]
        t, rt = tr.get("teacher"), ref["teacher"]
        if t:
            lines += [f"| teacher validation | {pct(t['val_accuracy'])} | {pct(rt['val_accuracy'])} |",
                      f"| teacher test | {pct(t['test_accuracy'])} | {pct(rt['test_accuracy'])} |",
                      f"| teacher best epoch | {t['best_epoch']} | {rt['best_epoch']} |",
                      f"| teacher training time | {fmt(t['train_seconds'], '.1f', ' s')} | {fmt(rt['train_seconds'], '.1f', ' s')} |",
                      f"| teacher recipe time | {fmt(t['seconds'], '.1f', ' s')} | {fmt(rt['seconds'], '.1f', ' s')} |"]
        c, rc = tr.get("compress"), ref["compress"]
        if c:
            ci = lambda v: "-" if not v or None in v else f"[{v[0]:.3f}, {v[1]:.3f}]"  # noqa: E731
            lines += [f"| compress chosen | {c['chosen']} | {rc['chosen']} |",
                      f"| verdict | {c['verdict']} | {rc['verdict']} |",
                      f"| retention [95% CI] | {fmt(c['retention'])} {ci(c['retention_ci'])} | "
                      f"{fmt(rc['retention'])} {ci(rc['retention_ci'])} |",
                      f"| final test accuracy | {pct(c['test_accuracy'])} | {pct(rc['test_accuracy'])} |",
                      f"| ORT CPU speed-up (that machine's CPU) | {fmt(c['speedup_p50_onnxruntime_cpu'], '.2f', 'x')} | "
                      f"{fmt(rc['speedup_p50_onnxruntime_cpu'], '.2f', 'x')} |",
                      f"| compress time | {fmt(c['seconds'], '.1f', ' s')} | {fmt(rc['seconds'], '.1f', ' s')} |"]
            cpu_stage = {s["stage"]: s["seconds"] for s in rc["stages"]}
            lines += ["", "| compress stage | CUDA | CPU (recorded) |", "| --- | ---: | ---: |"]
            lines += [f"| {s['stage']} | {fmt(s['seconds'], '.1f', ' s')} | {fmt(cpu_stage.get(s['stage']), '.1f', ' s')} |"
                      for s in c["stages"]]
        if "retention" in ag:
            r = ag["retention"]
            lines += ["", f"Retention CUDA {r['cuda']:.4f} against CPU {r['cpu']:.4f} (difference {r['diff']:+.4f}); "
                      f"CUDA inside the CPU's interval: {r['cuda_within_cpu_ci']}, CPU inside CUDA's: "
                      f"{r['cpu_within_cuda_ci']}; final test accuracy {ag['final_test_accuracy']['diff_clips']:+d} clips; "
                      f"verdict same: {ag['verdict']['same']}, chosen same: {ag['chosen']['same']}."]
        lines.append("")
    inf = parts.get("inference", {})
    if inf.get("rows"):
        lines += ["## 2. Inference (PyTorch), 1 s clips", "", f"{inf['setup']['device_time']}; end to end: "
                  f"{inf['setup']['end_to_end']}. p50 of {inf['setup']['runs']} runs.", "",
                  "| model | precision | batch | device eager | device graph | end-to-end eager | end-to-end graph | host issue (eager) |",
                  "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in inf["rows"]:
            if "skipped" in r:
                lines.append(f"| {r['model']} | {r['precision']} | {r['batch']} | {r['skipped']} | | | | |")
                continue
            g = r["graph"]
            lines.append(f"| {r['model']} | {r['precision']} | {r['batch']} | {r['eager']['device']['p50_ms']:.3f} ms | "
                         f"{fmt(g.get('device', {}).get('p50_ms'), '.3f', ' ms')} | "
                         f"{r['eager']['end_to_end']['p50_ms']:.3f} ms | {fmt(g.get('end_to_end', {}).get('p50_ms'), '.3f', ' ms')} | "
                         f"{r['eager']['host_issue']['p50_ms']:.3f} ms |")
        los = [x for x in inf["launch_overhead"] if "launch_overhead_ms" in x]
        if los:
            lines += ["", "Batch 1, launch overhead (eager device time minus graph replay) against compute (graph replay):",
                      "", "| model | precision | eager | graph (compute) | overhead | share of eager |",
                      "| --- | --- | ---: | ---: | ---: | ---: |"]
            lines += [f"| {x['model']} | {x['precision']} | {x['eager_device_p50_ms']:.3f} ms | {x['graph_device_p50_ms']:.3f} ms | "
                      f"{x['launch_overhead_ms']:.3f} ms | {pct(x['overhead_share_of_eager'])} |" for x in los]
        if inf.get("fp16_vs_fp32"):
            lines += ["", "FP16 against FP32 on the FSDD test clips:", "",
                      "| model | clips | top-1 agreement | max abs logit diff | FP32 accuracy | FP16 accuracy |",
                      "| --- | ---: | ---: | ---: | ---: | ---: |"]
            lines += [f"| {n} | {a['clips']} | {a['top1_agreement']:.4f} | {a['max_abs_logit_diff']:.3g} | "
                      f"{pct(a['fp32_accuracy'])} | {pct(a['fp16_accuracy'])} |" for n, a in inf["fp16_vs_fp32"].items()]
        lines.append("")
    lines += ["## 3. Not measured", ""] + [f"- **{x['what']}**: {x['reason']}" for x in result["not_measured"]]
    if result.get("workarounds"):
        lines += ["", "## Workarounds in this run", ""]
        for w in result["workarounds"]:
            used = w.get("needed", len([t for t in w.get("tries_on_device", []) if t["error"]]))
            lines.append(f"- {w['what']} (needed {used} time(s)): {w['why']}")
    return "\n".join(lines) + "\n"


def write_outputs(result: dict, out: Path) -> None:
    """gpu_measure.json and gpu_measure.md in ``out``, each written atomically."""
    result["not_measured"] = not_measured(result)
    if result.get("cpu_reference") and "training" in result["parts"]:
        result["agreement"] = agreement(result["parts"]["training"], result["cpu_reference"], *comparable(result))
    out.mkdir(parents=True, exist_ok=True)
    for name, text in (("gpu_measure.json", json.dumps(result, indent=2, default=str)),
                       ("gpu_measure.md", markdown(result))):
        tmp = out / f".{name}.tmp"
        tmp.write_text(text)
        os.replace(tmp, out / name)


def run_part(name: str, result: dict, budget: Budget, reserve_s: float, body: Callable[[dict], None],
             save: Callable[[], None]) -> None:
    """Run one part under the time guard; its wall time, and a budget stop or an error, go into the result."""
    part = result["parts"].setdefault(name, {})
    t0 = time.perf_counter()
    print(f"part {name}: {max(0.0, budget.left()):.0f} s of budget left", flush=True)
    try:
        with budget.alarm(reserve_s):
            body(part)
    except TimeBudget as exc:
        part["stopped"] = f"time budget: {exc}"
    except Exception as exc:  # one part failing must not lose the others' figures
        part["error"] = f"{type(exc).__name__}: {exc}"[:600]
        part["traceback"] = traceback.format_exc()[-3000:]
        print(part["traceback"], file=sys.stderr, flush=True)
    part["wall_s"] = round(time.perf_counter() - t0, 2)
    save()


# ------------------------------------------------------------------ main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=SHARED / "models" / "whisper-tiny.en-encoder",
                    help="The Whisper tiny.en encoder folder (default: ../shared/models/whisper-tiny.en-encoder).")
    ap.add_argument("--data", type=Path, default=None,
                    help="FSDD folder ({digit}_{speaker}_{take}.wav|.flac; default ../shared/data/fsdd; "
                         "with --dry-run: synthetic clips in a temp folder).")
    ap.add_argument("--out", type=Path, default=None, help=f"Result folder (default {DEFAULT_OUT.relative_to(ROOT)}; "
                                                            "with --dry-run a temp folder).")
    ap.add_argument("--work", type=Path, default=None, help="Folder for the trained models (default: a temp folder).")
    ap.add_argument("--dry-run", action="store_true", help="CPU, tiny model and clips, 1-2 epochs: the same code path.")
    ap.add_argument("--budget-s", type=float, default=420.0, help="Stop cleanly at this many seconds (default 420).")
    ap.add_argument("--reserve-s", type=float, default=100.0,
                    help="Seconds of the budget kept for inference: training stops when only these are left.")
    ap.add_argument("--runs", type=int, default=None, help="Timed runs per cell (default 50; dry run 2).")
    ap.add_argument("--warmup", type=int, default=None, help="Warm-up runs per cell (default 10; dry run 1).")
    ap.add_argument("--batches", type=int, nargs="+", default=None, help="Batch sizes (default 1 32; dry run 1 2).")
    ap.add_argument("--parts", nargs="+", default=["training", "inference"], choices=["training", "inference"],
                    help="Parts to run (inference alone measures the encoder with its untrained head as the teacher).")
    ap.add_argument("--simulate-absent", default="", metavar="MODULES",
                    help="Comma-separated modules to treat as not installed (e.g. onnxsim,onnxslim: the GPU box case).")
    ap.add_argument("--pack", type=Path, default=None, metavar="DIR",
                    help="Only copy --model and FSDD into DIR (a gitignored folder such as work/gpu-pack) and exit.")
    ap.add_argument("--pack-takes", default="all", help="Takes to pack: 'all' (default) or e.g. '0-19'.")
    ap.add_argument("--pack-format", choices=["flac", "wav"], default="flac",
                    help="flac (lossless, checked sample by sample; about half the size) or wav.")
    args = ap.parse_args(argv)
    args.runs = args.runs or (2 if args.dry_run else 50)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.dry_run else 10)
    args.batches = args.batches or ([1, 2] if args.dry_run else [1, 32])
    return args


def main(argv: list[str] | None = None) -> int:
    budget_start = time.monotonic()
    args = parse_args(argv)
    if args.pack is not None:
        info = pack(args.pack, args.model, args.data or SHARED / "data" / "fsdd", parse_takes(args.pack_takes),
                    args.pack_format)
        print(json.dumps(info, indent=2))
        return 0
    offline_env()
    simulate_absent([m for m in args.simulate_absent.split(",") if m])
    import torch

    if not args.dry_run and not torch.cuda.is_available():
        print("no CUDA GPU is visible (torch.cuda.is_available() is False): run this on a CUDA machine, or use --dry-run",
              file=sys.stderr)
        return 2
    device = torch.device("cpu" if args.dry_run else "cuda")
    if args.dry_run:  # one intra-op thread: on shared cores two spinning OpenMP threads made it 4x slower here
        torch.set_num_threads(1)
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    args.out = (args.out or (Path(tempfile.mkdtemp(prefix="gpu_measure_dry_")) if args.dry_run else DEFAULT_OUT)).resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    work = args.work = (args.work or Path(tempfile.mkdtemp(prefix="gpu_measure_work_"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    budget = Budget(args.budget_s, budget_start)
    result: dict = {"schema": 1, "script": "benchmarks/gpu_measure.py", "dry_run": args.dry_run,
                    "argv": sys.argv[1:] if argv is None else list(argv),
                    "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "seed": SEED,
                    "budget": {"budget_s": args.budget_s, "reserve_s": args.reserve_s, "spent_s": 0.0, "stopped": False},
                    "environment": environment(device), "imports": check_imports(),
                    "simulated_absent": [m for m in args.simulate_absent.split(",") if m], "workarounds": [],
                    "parts": {}, "cpu_reference": None, "agreement": None}

    def save() -> None:
        result["budget"].update(stopped=budget.stopped, spent_s=round(budget.spent(), 1))
        write_outputs(result, args.out)

    if not result["imports"]["ok"]:
        result["parts"]["setup"] = {"error": "a required package or spc module does not import: see imports"}
        save()
        return 1
    result["cpu_reference"] = cpu_reference()
    if args.dry_run:
        data = args.data or synth_fsdd(work / "fsdd")
        args.data = data
        args.model = tiny_whisper(work, [str(d) for d in range(10)])
    args.data = Path(args.data or SHARED / "data" / "fsdd")
    from spc.data import DataConfig
    from spc.errors import SpcError

    try:
        if not (Path(args.model) / "config.json").is_file():
            raise SpcError(f"--model {args.model} is not a model folder (no config.json); see --pack")
        ds = DataConfig(str(args.data)).open()
    except SpcError as exc:  # the inputs are wrong: say so in the result, before any long work
        result["parts"]["setup"] = {"error": str(exc)}
        save()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    pack_json = args.data.parent / "pack.json"
    result["inputs"] = {"model": str(args.model), "data": str(args.data), "labels": ds.labels,
                        "clips": {s: len(ds.split(s)) for s in ("train", "validation", "test")},
                        "pack": json.loads(pack_json.read_text()) if pack_json.is_file() else None}
    with spc_workarounds(result["workarounds"]):
        if "training" in args.parts:
            run_part("training", result, budget, args.reserve_s,
                     lambda part: run_training(args, device.type, work, result["cpu_reference"], part, save), save)
        if "inference" in args.parts:
            run_part("inference", result, budget, 0.0,
                     lambda part: run_inference(args, device, result["parts"].get("training", {}), part, budget, save),
                     save)
    result["modules_loaded"] = loaded_third_party()
    result["wall_s"] = {name: p.get("wall_s") for name, p in result["parts"].items()}
    save()
    print(f"wrote {args.out / 'gpu_measure.json'} and gpu_measure.md in {budget.spent():.0f} s", flush=True)
    if any(p.get("error") for p in result["parts"].values()):
        return 1
    return 3 if budget.stopped else 0


if __name__ == "__main__":
    sys.exit(main())
