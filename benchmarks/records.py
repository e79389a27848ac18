"""Which recorded results are older than the code they measure (``results/measures.json`` says what each measures).

    python benchmarks/records.py          # lists stale, unlisted and missing results; exit 1 if any

A result is stale where a file it measures was committed after the result's oldest file was: its figures may no
longer be what the code gives, so its script must run again (or the result go, with the README text citing it).
Times are git commit times (a fresh clone has no useful file times). tests/benchmarks/test_records.py runs this.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
MEASURES = RESULTS / "measures.json"


def commit_time(root: Path, path: Path) -> int | None:
    """The commit time (Unix seconds) of the last commit touching ``path`` (a file, or anything in a folder)."""
    out = subprocess.run(["git", "log", "-1", "--format=%ct", "--", str(path)], cwd=root, capture_output=True,
                         text=True, check=True).stdout.strip()
    return int(out) if out else None


def tracked_files(root: Path, path: Path) -> list[Path]:
    """The files git tracks at ``path`` (itself, or under it)."""
    out = subprocess.run(["git", "ls-files", "--", str(path)], cwd=root, capture_output=True, text=True,
                         check=True).stdout.split("\n")
    return [root / p for p in out if p]


def problems(root: Path = ROOT, measures: Path | None = None) -> list[str]:
    """One line per stale result, per result file no entry covers, and per entry naming nothing."""
    measures = measures or root / "benchmarks" / "results" / "measures.json"
    results = measures.parent
    entries = json.loads(measures.read_text())["results"]
    out = []
    covered = set()
    for name, entry in entries.items():
        path = results / name
        files = tracked_files(root, path)
        if not files:
            out.append(f"{name}: recorded in measures.json but no such committed result")
            continue
        covered |= set(files)
        if not (root / entry["script"]).is_file():
            out.append(f"{name}: its script {entry['script']} does not exist")
        times = [t for t in (commit_time(root, f) for f in files) if t is not None]
        oldest = min(times) if times else None
        for code in entry["measures"]:
            if not (root / code).exists():
                out.append(f"{name}: measures {code}, which does not exist")
                continue
            t = commit_time(root, root / code)
            if oldest is not None and t is not None and t > oldest:
                out.append(f"{name}: {code} changed after the result was recorded: run {entry['script']} again")
    for f in tracked_files(root, results):
        if f != measures and f not in covered:
            out.append(f"{f.relative_to(results)}: no entry in measures.json says which script writes it")
    return out


def main() -> int:
    found = problems()
    print("\n".join(found) if found else "every recorded result is newer than the code it measures")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
