"""How long `spc compress` takes on a base-size teacher on this machine's cores, stage by stage, with detectors judged,
and how long it stays silent (issue 40).

    python benchmarks/compress_time.py --work WORK                        # the base-size run (tens of minutes)
    python benchmarks/compress_time.py --work WORK --preset whisper-small --clips-per-word 40 --unknown-clips 60
    python benchmarks/compress_time.py --only readme                      # the README section from the JSON

The teacher is Whisper-shaped at base size (``preset:whisper-base``: 6 layers, 512 wide, 80 mel bands) with random
weights and a head trained for a few epochs on its frozen features: what is timed is compress's work on a stack of
that size, not the teacher's accuracy (a random stack's cuts fail sooner than a trained one's, so heals can stop
earlier than on a real model). The data are espeak-ng words made offline (``spc.synth``): ten keywords and an
``_unknown_`` class, about 3,500 training clips by default, so every candidate is judged as a detector on validation
streams. compress runs as a user runs it (``spc compress ... --target cpu``, stderr a log file, not a terminal);
every stderr line is stamped as it arrives, so the longest silence is measured, not assumed. Records
results/compress_time/compress_time.json (per-stage seconds from the report, wall time, peak memory of the compress
process, the longest silences and what came before each) and the log.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "compress_time"
START, END = "<!-- compress-time:start -->", "<!-- compress-time:end -->"


def make_teacher(work: Path, preset: str, clips_per_word: int, unknown_clips: int, epochs: int) -> tuple[Path, Path]:
    """The data (made once) and the teacher: ``preset`` with random weights, its head trained on frozen features."""
    from spc.data import DataConfig
    from spc.recipes.finetune import run_finetune
    from spc.synth import SynthConfig, make_keyword_dataset
    from spc.training.finetuning import FinetuneConfig
    from spc.training.loop import TrainConfig

    data = make_keyword_dataset(work / "data", SynthConfig(clips_per_word=clips_per_word, unknown_clips=unknown_clips))
    teacher = work / "teacher"
    if not (teacher / "finetune.json").is_file():
        run_finetune(f"preset:{preset}", DataConfig(str(data)), teacher, overwrite=True,
                     config=FinetuneConfig(train=TrainConfig(epochs=epochs, batch_size=32, lr=3e-3, seed=0),
                                           train_layers=0))
    return data, teacher


def run_compress_logged(teacher: Path, data: Path, out: Path, log: Path) -> dict:
    """``spc compress`` in a subprocess, its stderr stamped line by line into ``log``: wall time, exit code, peak
    memory (max RSS of the process, MiB) and the longest silences (seconds, the line before each)."""
    if out.exists():
        shutil.rmtree(out)
    spc = Path(sys.executable).with_name("spc")
    cmd = [str(spc), "compress", str(teacher), "--data", str(data), "--target", "cpu", "--out", str(out)]
    t0 = last = time.perf_counter()
    gaps: list[tuple[float, str]] = []
    previous = "(start)"
    out_file = log.with_suffix(".stdout")  # a file, not a pipe nobody reads until the end (a full pipe blocks compress)
    # the log line-buffered, so that what is tailed while compress runs is what it printed so far
    with log.open("w", buffering=1) as f, out_file.open("w") as so, \
            subprocess.Popen(cmd, stdout=so, stderr=subprocess.PIPE, text=True, bufsize=1) as proc:
        for line in proc.stderr:
            now = time.perf_counter()
            gaps.append((now - last, previous))
            f.write(f"{now - t0:8.1f} {line}")
            last, previous = now, line.strip()[:160]
        code = proc.wait()
    stdout = out_file.read_text()
    wall = time.perf_counter() - t0
    gaps.append((wall - (last - t0), previous))
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux: KiB
    longest = sorted(gaps, reverse=True)[:5]
    return {"command": " ".join(["spc", *cmd[1:]]), "exit_code": code, "wall_seconds": round(wall, 1),
            "peak_rss_mib": round(peak), "longest_silences": [{"seconds": round(s, 1), "after": a} for s, a in longest],
            "stdout_tail": stdout.splitlines()[-3:]}


def run(work: Path, preset: str, clips_per_word: int, unknown_clips: int, epochs: int) -> dict:
    """Make the teacher, run compress, record the result."""
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data, teacher = make_teacher(work, preset, clips_per_word, unknown_clips, epochs)
    setup = time.perf_counter() - t0
    RESULTS.mkdir(parents=True, exist_ok=True)
    log = work / "compress.log"
    timed = run_compress_logged(teacher, data, work / "out", log)
    shutil.copy2(log, RESULTS / "compress.log")
    if timed["exit_code"] != 0:
        raise SystemExit(f"spc compress failed (exit {timed['exit_code']}); see {log}")
    report = json.loads((work / "out" / "report.json").read_text())
    finetune = json.loads((teacher / "finetune.json").read_text())
    stages = {}
    for entry in report["stages"]:
        name, seconds, _ = entry.rsplit(" ", 2)
        stages[name] = float(seconds)
    record = {
        "preset": preset, "params": finetune["params"]["total"],
        "clips": report["data"] | {"train_clips": finetune["data"]["clips"]["train"]},
        "teacher_test_accuracy": finetune["test_accuracy"], "setup_seconds": round(setup, 1), **timed,
        "stages": stages, "report_seconds": report["seconds"], "chosen": report["chosen"],
        "verdict": report["final"].get("verdict"), "candidates": sorted(report["candidates"]),
        "cores": os.cpu_count(), "machine": {"platform": platform.platform(), "python": platform.python_version()},
    }
    (RESULTS / "compress_time.json").write_text(json.dumps(record, indent=1))
    return record


def readme() -> str:
    """The README section, from the recorded JSON only."""
    from readme_section import replace_section

    path = RESULTS / "compress_time.json"
    r = json.loads(path.read_text()) if path.is_file() else None
    lines = ["## How long compress takes (`compress_time.py`, issue 40)", "",
             "Command: `python benchmarks/compress_time.py --work WORK` (see the script for the teacher and data)."]
    if not r:
        lines += ["", "Not run yet."]
    else:
        silence = r["longest_silences"][0]
        lines += ["", f"`{r['preset']}` ({r['params'] / 1e6:.1f} M parameters, random stack, trained head; teacher test "
                  f"accuracy {r['teacher_test_accuracy']:.3f}), {r['clips']['train_clips']:,} training clips, "
                  f"{r['cores']} cores: compress took **{r['wall_seconds'] / 60:.1f} min** (verdict {r['verdict']}, "
                  f"chose `{r['chosen']}`), peak memory {r['peak_rss_mib']:,} MiB; the longest silence on stderr was "
                  f"{silence['seconds']:.1f} s (after: `{silence['after']}`).", "",
                  "| stage | seconds | share |", "| --- | ---: | ---: |"]
        total = sum(r["stages"].values()) or 1.0
        for name, seconds in r["stages"].items():
            lines.append(f"| {name} | {seconds:.1f} | {seconds / total:.0%} |")
    section = replace_section(HERE / "README.md", START, END, "\n".join(lines))
    print(section)
    return section


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, help="Work folder (data, teacher, compress output, log).")
    p.add_argument("--preset", default="whisper-base", help="The teacher's model preset.")
    p.add_argument("--clips-per-word", type=int, default=500, help="Clips of each of the ten keywords.")
    p.add_argument("--unknown-clips", type=int, default=800, help="Clips of the _unknown_ class.")
    p.add_argument("--head-epochs", type=int, default=5, help="Epochs of the teacher's head.")
    p.add_argument("--only", choices=["readme"], help="Only rewrite the README section from the recorded JSON.")
    args = p.parse_args()
    if args.only == "readme":
        readme()
        return
    if not args.work:
        p.error("--work is needed")
    run(args.work, args.preset, args.clips_per_word, args.unknown_clips, args.head_epochs)
    readme()


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
