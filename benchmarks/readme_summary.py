"""README.md's benchmark summary, written from the recorded JSON only (every figure names its file and commit).

    python benchmarks/readme_summary.py          # rewrites the section between the benchmarks markers

Run it after any script whose results it cites has run again (tests/benchmarks/test_records.py fails on a stale
result; the summary says which commit recorded each figure).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
START, END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"


def _load(rel: str):
    path = RESULTS / rel
    return json.loads(path.read_text()) if path.is_file() else None


def commit_of(rel: str) -> str:
    """The short hash of the commit that last recorded ``results/rel`` ("uncommitted" where none has)."""
    out = subprocess.run(["git", "log", "-1", "--format=%h", "--", str(RESULTS / rel)], cwd=ROOT, capture_output=True,
                         text=True).stdout.strip()
    return out or "uncommitted"


def _num(x, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def _ci(ci, spec: str = ".3f") -> str:
    ci = ci or [None, None]
    return f"[{_num(ci[0], spec)}, {_num(ci[1], spec)}]"


def lines() -> list[str]:
    """The section's lines."""
    out = ["Scripts and recorded results are in `benchmarks/` (its README has every table and the commands). "
           "The figures below are written by `benchmarks/readme_summary.py` from the recorded JSON; each names "
           "its file and the commit that recorded it."]
    det = _load("detector_fsdd_kws/streams.json")
    if det:
        res, c = det["results"], det["config"]
        t = res["teacher"]["test"]["at_point"]
        rows = []
        for name, r in res.items():
            at = r["test"]["at_point"]
            rows.append(f"{name} misses {at['miss_rate']:.3f} {_ci(at.get('miss_rate_ci'))} at {at['fa_per_hour']:.2f} "
                        f"FA/h (validation {r['operating_point']['miss_rate']:.3f})")
        out += ["", f"**As detectors, read as an app reads them** (`results/detector_fsdd_kws/streams.json`, "
                f"{commit_of('detector_fsdd_kws/streams.json')}): the Whisper tiny.en head-only teacher and its students "
                f"on the FSDD keyword task (digits 0/1/2 among other words; two held-out test speakers), every clip at "
                f"{c['snr_db'][0]:g}-{c['snr_db'][1]:g} dB SNR, {t['negative_hours']:.1f} h of test negatives (one false "
                f"accept = {t['one_false_accept_per_hour']:.2f} per hour), each model at the operating point chosen on "
                f"validation at {c['max_fa_per_hour']:g} FA/h and carried to test: " + "; ".join(rows) + "."]
    abl = _load("student_ablation/ablation.json")
    if abl and abl.get("detectors"):
        d = abl["detectors"]
        tm = d["teacher"]["at_point"]["miss_rate"]
        rows = [f"{n} {d[n]['at_point']['miss_rate']:.3f} ({d[n]['at_point']['miss_rate'] / tm:.2f}x the teacher's, "
                f"{d[n]['at_point']['fa_per_hour']:.1f} FA/h)" if tm else f"{n} {d[n]['at_point']['miss_rate']:.3f}"
                for n in abl["recipes"] if n in d]
        out += ["", f"**What each student ingredient is worth** (`results/student_ablation/ablation.json`, "
                f"{commit_of('student_ablation/ablation.json')}; budget {abl['config']['max_fa_per_hour']:g} FA/h, "
                f"teacher {tm:.3f} at {d['teacher']['at_point']['fa_per_hour']:.1f} FA/h): test miss rate of the default "
                "mimic as each ingredient is added, each at its own carried point (so at different test FA/h): "
                + ", ".join(rows) + ". Not yet the defaults; the 1 FA/h figures above are the defaults'."]
    comp = _load("whisper_fsdd/compress.json")
    if comp:
        out += ["", f"**`spc compress --target cpu` on the pre-trained Whisper tiny.en digit teacher** "
                f"(`results/whisper_fsdd/compress.json`, {commit_of('whisper_fsdd/compress.json')}): chose "
                f"`{comp['chosen']}`, **{comp['verdict']}**, test retention {comp['retention']:.3f} "
                f"{_ci(comp['retention_ci'])}, {comp['speedup_p50']:.2f}x lower ONNX Runtime latency as built "
                f"(the digits task names no keywords, so no detector is judged there)."]
    prune = _load("whisper_fsdd/prune.json")
    if prune:
        parts = []
        for key, r in prune.items():
            parts.append(f"{key} removes {r['removed']} of {r['n_layers']} (test retention {r['test_retention']:.3f})")
        out += ["", f"**Pruning at 95%** (`results/whisper_fsdd/prune.json`, {commit_of('whisper_fsdd/prune.json')}; "
                "teacher/heal): " + "; ".join(parts) + "."]
    mimic = _load("whisper_fsdd/mimic.json")
    if mimic:
        parts = [f"{k} {_num(v.get('retention_test'), '.3f')}" for k, v in mimic.items()]
        out += ["", f"**Mimic students** (`results/whisper_fsdd/mimic.json`, {commit_of('whisper_fsdd/mimic.json')}; "
                "test retention, teacher/recipe): " + "; ".join(parts) + "."]
    return out


def main() -> None:
    from readme_section import replace_section

    print(replace_section(ROOT / "README.md", START, END, "\n".join(lines())))


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(HERE))
    main()
