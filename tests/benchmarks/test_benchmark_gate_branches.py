"""Gate branches of the benchmark scripts that no other test reaches (notes/gates.md rows 113-114, 131-134, 137-139,
142-144): each driven with hand-built inputs, its outcome checked against a figure computed here."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import demo_runs  # noqa: E402
import int8_cpu  # noqa: E402
import records  # noqa: E402

GOOD = {"script": "benchmarks/bench.py", "measures": ["toolchain/measured.py"]}


def test_records_flags_an_entry_with_no_committed_result(records_repo):
    repo = records_repo({"r.json": GOOD, "never.json": GOOD, "uncommitted.json": GOOD})
    (repo / "benchmarks" / "results" / "uncommitted.json").write_text("{}")  # on disk, but git does not track it
    assert records.problems(repo) == ["never.json: recorded in measures.json but no such committed result",
                                      "uncommitted.json: recorded in measures.json but no such committed result"]


def test_records_flags_an_entry_whose_script_is_missing(records_repo):
    repo = records_repo({"r.json": {"script": "benchmarks/gone.py", "measures": ["toolchain/measured.py"]}})
    assert records.problems(repo) == ["r.json: its script benchmarks/gone.py does not exist"]


def test_records_flags_a_measured_path_that_is_missing(records_repo):
    repo = records_repo({"r.json": {"script": "benchmarks/bench.py",
                                       "measures": ["toolchain/measured.py", "toolchain/gone.py", "toolchain/nodir"]}})
    assert records.problems(repo) == ["r.json: measures toolchain/gone.py, which does not exist",
                                      "r.json: measures toolchain/nodir, which does not exist"]
    (repo / "toolchain" / "nodir").mkdir()  # a folder that exists (even untracked) is not missing
    assert records.problems(repo) == ["r.json: measures toolchain/gone.py, which does not exist"]


def test_records_main_exit_code_and_message(monkeypatch, capsys):
    monkeypatch.setattr(records, "problems", lambda: [])
    assert records.main() == 0
    assert capsys.readouterr().out.strip() == "every recorded result is newer than the code it measures"
    monkeypatch.setattr(records, "problems", lambda: ["a: x", "b: y"])
    assert records.main() == 1
    assert capsys.readouterr().out.strip().splitlines() == ["a: x", "b: y"]


# ---------------------------------------------------------------- int8_cpu.meets_goal
def _row(name: str, acc: dict, p50: dict) -> dict:
    """A row as int8_cpu.compare writes it, retention and speed-up derived from accuracy and p50 as it does."""
    return {"name": name, "params": 1_000_000, "accuracy": acc, "p50_ms": p50, "threads": {k: 2 for k in p50},
            "retention": {k: v / acc["fp32"] for k, v in acc.items() if k in p50},
            "vs_fp32": {k: p50["fp32"] / v for k, v in p50.items()}, "refused": {}}


def test_int8_meets_goal_met_and_not_met():
    # int8: 3.0/1.8 = 1.67x, 0.895/0.9 = 0.9944 -> met; int8+conv: 2x but 0.88/0.9 = 0.978 -> not met (accuracy)
    row = _row("a", {"fp32": 0.9, "int8": 0.895, "int8-static-conv": 0.88},
               {"fp32": 3.0, "int8": 1.8, "int8-static-conv": 1.5})
    assert 3.0 / 1.8 >= 1.5 and 0.895 / 0.9 >= 0.99 and 0.88 / 0.9 < 0.99
    assert int8_cpu.meets_goal(row, "int8") is True
    assert int8_cpu.meets_goal(row, "int8-static-conv") is False
    # int8: 3.0/2.5 = 1.2x with the accuracy kept -> not met (speed); int8+conv refused by the gate (no p50) -> not met
    slow = _row("b", {"fp32": 0.9, "int8": 0.9}, {"fp32": 3.0, "int8": 2.5})
    assert int8_cpu.meets_goal(slow, "int8") is False
    assert int8_cpu.meets_goal(slow, "int8-static-conv") is False
    # exactly at both goals (1.5x; 0.891/0.9 is 0.99 up to rounding) -> met
    edge = _row("c", {"fp32": 0.9, "int8": 0.891}, {"fp32": 3.0, "int8": 2.0})
    assert edge["vs_fp32"]["int8"] == 1.5 and abs(edge["retention"]["int8"] - 0.99) < 1e-12
    assert int8_cpu.meets_goal(edge, "int8") is True
    just_short = _row("d", {"fp32": 0.9, "int8": 0.9}, {"fp32": 3.0, "int8": 2.001})
    assert int8_cpu.meets_goal(just_short, "int8") is False


def test_int8_readme_counts_the_models_meeting_the_goal(monkeypatch, tmp_path):
    (tmp_path / "README.md").write_text("# benchmarks\n")
    monkeypatch.setattr(int8_cpu, "HERE", tmp_path)  # readme() rewrites HERE/README.md: never the real one
    rows = [_row("a", {"fp32": 0.9, "int8": 0.895, "int8-static-conv": 0.88}, {"fp32": 3.0, "int8": 1.8,
                                                                              "int8-static-conv": 1.5}),
            _row("b", {"fp32": 0.9, "int8": 0.9}, {"fp32": 3.0, "int8": 2.5})]
    rows[1]["refused"] = {"int8-static-conv": "top-1 agreement 0.8 < 0.9"}
    section = int8_cpu.readme({"rows": rows, "runs": 10, "date": "2026-01-01"})
    table = {line.split(" | ")[0].strip("| "): line for line in section.splitlines() if line.startswith("| a ")
             or line.startswith("| b ")}
    assert table["a"].endswith("| int8 |") and table["b"].endswith("| none |")
    assert "refused by the gate" in table["b"]
    assert "met by 1 of 2 models" in section
    assert "Refused, b int8-static-conv: top-1 agreement 0.8 < 0.9" in section
    assert section in (tmp_path / "README.md").read_text()


# ---------------------------------------------------------------- demo_runs: same_verdict
def _fake_run(verdict: str) -> dict:
    return {"wall_seconds": 300.0, "seconds": {"train": 200.0}, "teacher_val": 0.95, "teacher_test": 0.94,
            "params": 1_500_000, "chosen": "pruned-2", "verdict": verdict, "test_accuracy": 0.93, "retention": 0.989,
            "retention_ci": [0.96, 1.01], "mcnemar_p": 0.5, "speedup_p50": 1.8, "progress_lines_in_log": 12,
            "stdout": "out\n", "detector": None, "chance": 0.1, "miss_rate": {"original": None, "compressed": None},
            "stream": None}


@pytest.mark.parametrize("verdicts, same", [
    (["PASS", "PASS", "PASS"], True),
    (["PASS", "PASS, not significant at 300 clips", "PASS"], False),
    (["FAIL (clip accuracy)", "FAIL (clip accuracy)"], True),
    (["FAIL (clip accuracy)", "FAIL (detector)"], False),
])
def test_demo_runs_records_whether_every_run_gave_the_same_verdict(monkeypatch, tmp_path, verdicts, same):
    results, readme = tmp_path / "results", tmp_path / "README.md"
    readme.write_text(f"# x\n\n{demo_runs.START}\nold\n{demo_runs.END}\n")
    todo = list(verdicts)

    def one_run(out: Path, log: Path) -> dict:  # what spc demo leaves behind, without running it
        out.mkdir(parents=True)
        (out / "demo.json").write_text(json.dumps({"clips": {"train": 2000, "validation": 250, "test": 250}}))
        log.write_text("1/10 (10%)\n")
        return _fake_run(todo.pop(0))

    monkeypatch.setattr(demo_runs, "one_run", one_run)
    monkeypatch.setattr(demo_runs, "RESULTS", results)  # never the recorded benchmarks/results/demo
    monkeypatch.setattr(demo_runs, "README", readme)
    monkeypatch.setattr(sys, "argv", ["demo_runs.py", "--work", str(tmp_path / "work"), "--runs", str(len(verdicts))])
    demo_runs.main()
    record = json.loads((results / "demo_runs.json").read_text())
    assert record["same_verdict"] is same
    assert [r["verdict"] for r in record["runs"]] == verdicts
    assert f"Verdicts of the {len(verdicts)} runs: {', '.join(verdicts)};" in readme.read_text()


# ---------------------------------------------------------------- gpu_measure.comparable and agreement
@pytest.fixture(scope="module")
def gm():
    spec = importlib.util.spec_from_file_location("gpu_measure_gates", ROOT / "benchmarks" / "gpu_measure.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


FULL = {"train": 2400, "validation": 300, "test": 300}


def test_gpu_measure_comparable_and_not(gm):
    ok, why = gm.comparable({"dry_run": True, "inputs": {"clips": FULL}})
    assert not ok and why.startswith("dry run")  # the dry run is never comparable, whatever its data
    ok, why = gm.comparable({"dry_run": False, "inputs": {"clips": {**FULL, "test": 299}}})
    assert not ok and why.startswith("different data") and "'test': 299" in why
    ok, why = gm.comparable({"dry_run": False})  # no inputs recorded: not the CPU run's data
    assert not ok and why.startswith("different data: {} clips")
    ok, why = gm.comparable({"dry_run": False, "inputs": {"clips": dict(FULL)}, "cpu_reference": {"code": {}}})
    assert ok and why.startswith("same model, same FSDD split") and "recipe commit" not in why
    ok, why = gm.comparable({"dry_run": False, "inputs": {"clips": dict(FULL)},
                             "cpu_reference": {"code": {"recipe_commits_since_reference": ["abc1", "abc2", "abc3"]}}})
    assert ok and "; 3 recipe commit(s) since the CPU run" in why


def _compress(retention: float, ci: list, verdict: str) -> dict:
    return {"retention": retention, "retention_ci": ci, "test_accuracy": 0.9, "verdict": verdict, "chosen": "pruned-2",
            "candidates": {"pruned-2": {"val_retention": 0.99}}}


def test_gpu_measure_agreement_true_and_false(gm):
    ref = {"compress": _compress(0.98, [0.95, 1.0], "PASS")}
    agree = gm.agreement({"compress": _compress(0.99, [0.96, 1.01], "PASS")}, ref, True, "why")
    assert agree["agree"] is True and agree["retention"]["cuda_within_cpu_ci"] is True
    assert agree["retention"]["diff"] == pytest.approx(0.01)
    outside = gm.agreement({"compress": _compress(0.94, [0.90, 0.97], "PASS")}, ref, True, "why")
    assert outside["agree"] is False and outside["retention"]["cuda_within_cpu_ci"] is False
    other = gm.agreement({"compress": _compress(0.99, [0.94, 1.01], "PASS, not significant at 300 clips")}, ref,
                         True, "why")
    assert other["agree"] is False and other["verdict"]["same"] is False
    assert other["retention"]["cuda_within_cpu_ci"] is True  # inside the interval: the verdict alone disagrees
