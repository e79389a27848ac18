"""How long CI takes: ``.ci/run`` in a fresh clone of this checkout's HEAD, its log parsed (issue 38).

    python benchmarks/ci_times.py --work /tmp/ci        # about 25 minutes on 2 cores
    python benchmarks/ci_times.py --only readme         # the README section from the JSON

The clone sits in WORK/main with WORK/shared linking this checkout's ../shared, as CI lays it out. Records
results/ci/ci_times.json (each part's wall seconds, each suite's pass/skip counts and 25 slowest tests, the demo's
summary lines) and results/ci/last_run.log, and writes README.md's section between the ci-times markers.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "ci"
START, END = "<!-- ci-times:start -->", "<!-- ci-times:end -->"


def parse(log: str) -> dict:
    """Each part's seconds (the ``== part: N s`` lines), each pytest run's summary and slowest tests."""
    parts = {m[1]: int(m[2]) for m in re.finditer(r"^== (.+?): (\d+) s \(total \d+ s\)$", log, re.M)}
    total = re.search(r"^== CI total: (\d+) s$", log, re.M)
    summaries = re.findall(r"^=*\s*(\d+ passed.*? in [\d.]+s.*?)\s*=*$", log, re.M)
    slowest = [re.findall(r"^([\d.]+)s (call|setup|teardown)\s+(\S+)$", block, re.M)
               for block in re.split(r"slowest \d+ durations", log)[1:]]
    return {"parts": parts, "total_seconds": int(total[1]) if total else None, "pytest": summaries,
            "slowest": [[{"seconds": float(s), "when": w, "test": t} for s, w, t in block[:25]] for block in slowest]}


def run(work: Path) -> dict:
    """Clone HEAD into WORK/main beside a link to ../shared, run .ci/run there, record what it printed."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    (work / "shared").symlink_to((ROOT.parent / "shared").resolve(), target_is_directory=True)
    subprocess.run(["git", "clone", "-q", str(ROOT), str(work / "main")], check=True)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=work / "main", capture_output=True, text=True,
                          check=True).stdout.strip()
    t0 = time.perf_counter()
    proc = subprocess.run(["bash", ".ci/run"], cwd=work / "main", capture_output=True, text=True)
    wall = time.perf_counter() - t0
    log = proc.stdout + "\n--- stderr ---\n" + proc.stderr
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "last_run.log").write_text(log)
    out = {"commit": head, "exit_code": proc.returncode, "wall_seconds": round(wall), **parse(proc.stdout),
           "demo": [x for x in proc.stdout.splitlines() if x.startswith(("PASS", "FAIL", "teacher", "streams", "  "))][:12]}
    (RESULTS / "ci_times.json").write_text(json.dumps(out, indent=1))
    return out


def readme() -> str:
    from readme_section import replace_section

    path = RESULTS / "ci_times.json"
    if not path.is_file():
        body = "Not measured yet."
    else:
        r = json.loads(path.read_text())
        rows = [f"| {name} | {sec / 60:.1f} |" for name, sec in r["parts"].items()]
        body = "\n".join([f"`.ci/run` on commit {r['commit']} in a fresh clone, 2 cores: exit code {r['exit_code']}, "
                          f"**{(r['total_seconds'] or r['wall_seconds']) / 60:.1f} minutes** in all (CI allows 90).", "",
                          "| part | minutes |", "| --- | ---: |", *rows, "",
                          "Suites: " + "; ".join(f"`{s}`" for s in r["pytest"]) + " (every run's 25 slowest tests are "
                          "in `benchmarks/results/ci/ci_times.json`)."])
    section = replace_section(ROOT / "README.md", START, END, body)
    print(section)
    return section


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, default=Path("/tmp/spc-ci"), help="Where the clone goes (emptied first).")
    p.add_argument("--only", choices=["readme"], help="Rewrite the README section from the JSON only.")
    args = p.parse_args()
    if args.only != "readme":
        r = run(args.work)
        print(f"exit {r['exit_code']} in {r['wall_seconds']} s")
    readme()


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(HERE))
    main()
