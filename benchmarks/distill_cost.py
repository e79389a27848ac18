"""What a mimic distillation costs at base size on this machine's CPU (issue 11, item 4).

    python benchmarks/distill_cost.py [--shape whisper-base|wav2vec2-base] [--train 3500 --val 500 --threads 0]

A base-size teacher with random weights (the cost of an epoch does not depend on them): Whisper base's
encoder shape (512 wide, 6 layers, 8 heads, FFN 2048, 80 mel bands) or wav2vec2-base (768 wide, 12 layers,
12 heads, FFN 3072), and 1 s clips. Measured: caching the teacher's
outputs once, and one epoch of each stage of the default recipe (a one-layer mimic at the teacher's
width) and of the paper's (a fresh transformer block, batch 128). The full run's time is bounded by
cache + max epochs x epoch time (early stopping only shortens it). Records results/distill_cost.json
(one entry per shape, the others kept).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).parent / "results" / "distill_cost.json"
LABELS = [str(i) for i in range(12)]
BUDGET_S = 30 * 60


def clips(n: int, seed: int):
    """``n`` one-second clips (noise and a tone per class) with their labels, as a ClipSet."""
    from spc.data.clips import ClipSet

    rng = np.random.default_rng(seed)
    y = rng.integers(len(LABELS), size=n)
    t = np.arange(16000) / 16000
    audio = (0.05 * rng.standard_normal((n, 16000)) + 0.1 * np.sin(2 * np.pi * (200 + 50 * y[:, None]) * t))
    return ClipSet(audio.astype(np.float32), y.astype(np.int64), LABELS, [f"clip{i}" for i in range(n)])


SHAPES = {"whisper-base": "Whisper base encoder (512 wide, 6 layers, 8 heads, FFN 2048)",
          "wav2vec2-base": "wav2vec2-base (768 wide, 12 layers, 12 heads, FFN 3072)"}


def teacher_model(shape: str):
    from transformers import WhisperConfig

    from spc.models import load_model
    from spc.models.io import build_model

    if shape == "wav2vec2-base":
        return load_model("preset:wav2vec2-base", labels=LABELS)
    cfg = WhisperConfig(num_mel_bins=80, d_model=512, encoder_layers=6, encoder_attention_heads=8,
                        encoder_ffn_dim=2048, decoder_layers=1, max_source_positions=1500, classifier_proj_size=256)
    return build_model(cfg, LABELS)


def paper_mimic(teacher):
    """The paper's student: one fresh transformer block at the teacher's width and FFN."""
    from spc.distill import MimicConfig

    cfg = teacher.hf.config
    heads = getattr(cfg, "encoder_attention_heads", None) or cfg.num_attention_heads
    ffn = getattr(cfg, "encoder_ffn_dim", None) or cfg.intermediate_size
    return MimicConfig("transformer", 1, heads=heads, ffn=ffn)


def one_epoch_each(name: str, teacher, student_cfg, config, train, val, cache, work: Path) -> dict:
    """One stage-1 and one stage-2 epoch of ``config``; their seconds and the bound on a full run."""
    from spc.distill import build_student, distill

    student = build_student(teacher, student_cfg)
    short = replace(config, stage1=replace(config.stage1, epochs=1), stage2=replace(config.stage2, epochs=1))
    result = distill(student, teacher, train, val, short, work / name, show_progress=False, teacher_cache=cache)
    s1 = result.stage1.history[0]["seconds"]
    s2 = result.stage2.history[0]["seconds"]
    return {"recipe": name, "mimic": asdict(student_cfg), "stage1_epochs_max": config.stage1.epochs,
            "stage2_epochs_max": config.stage2.epochs, "stage1_batch": config.stage1.batch_size,
            "stage1_epoch_s": round(s1, 1), "stage2_epoch_s": round(s2, 1),
            "training_bound_s": round(config.stage1.epochs * s1 + config.stage2.epochs * s2, 1),
            "student_params": sum(p.numel() for p in student.parameters())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", choices=sorted(SHAPES), default="whisper-base")
    ap.add_argument("--train", type=int, default=3500)
    ap.add_argument("--val", type=int, default=500)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from spc.distill import DistillConfig, MimicConfig
    from spc.distill.trainer import teacher_outputs

    teacher = teacher_model(args.shape)
    train, val = clips(args.train, 0), clips(args.val, 1)
    t0 = time.perf_counter()
    cache = teacher_outputs(teacher, {"train": train, "validation": val}, [teacher.num_layers], show_progress=False)
    cache_s = time.perf_counter() - t0
    cache_mb = sum(t.numel() * t.element_size() for split in cache.values() for t in split.values()) / 2**20
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, mimic, cfg in [("default", MimicConfig(), DistillConfig()),
                                 ("paper", paper_mimic(teacher), DistillConfig.paper())]:
            rows.append(one_epoch_each(name, teacher, mimic, cfg, train, val, cache, Path(tmp)))
            rows[-1]["total_bound_s"] = round(cache_s + rows[-1]["training_bound_s"], 1)
            rows[-1]["within_30_min"] = rows[-1]["total_bound_s"] <= BUDGET_S
            print(json.dumps(rows[-1]), flush=True)
    record = {"teacher": {"shape": SHAPES[args.shape],
                          "params": sum(p.numel() for p in teacher.parameters())},
              "clips": {"train": args.train, "validation": args.val, "seconds": 1.0},
              "threads": torch.get_num_threads(), "machine": {"platform": platform.platform(), "cpus": torch.get_num_threads()},
              "teacher_cache_s": round(cache_s, 1), "teacher_cache_mb": round(cache_mb, 1), "recipes": rows}
    previous = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    shapes = previous.get("shapes", {"whisper-base": previous} if "teacher" in previous else {})
    shapes[args.shape] = record
    RESULTS.write_text(json.dumps({"shapes": shapes}, indent=2))
    print(f"teacher outputs cached in {cache_s:.0f} s ({cache_mb:.0f} MB, float16)")
    for r in rows:
        print(f"{r['recipe']}: stage-1 epoch {r['stage1_epoch_s']} s, stage-2 epoch {r['stage2_epoch_s']} s; "
              f"at most {r['stage1_epochs_max']} + {r['stage2_epochs_max']} epochs: <= {r['total_bound_s'] / 60:.1f} min "
              f"with the cache ({'within' if r['within_30_min'] else 'over'} 30 min)")


if __name__ == "__main__":
    main()
