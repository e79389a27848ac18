"""Recorded results are newer than the code they measure, every result says which script writes it, and no figure in
the READMEs sits outside a section a script writes (issue 38). The mechanism is shown to fail on a stale record."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import records  # noqa: E402

GOOD = {"script": "benchmarks/bench.py", "measures": ["toolchain/measured.py"]}

#: measured figures as READMEs write them: ratios (2.44x), times (3.1 ms, 7.4 min), three-decimal rates (0.997)
FIGURE = re.compile(r"(?<![\w.])\d+\.\d+x\b|(?<![\w.])\d+(\.\d+)? ?(ms|min|minutes)\b|(?<![\w.\-])0\.\d{3}\b")


def _git_checkout() -> bool:
    return subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=ROOT, capture_output=True).returncode == 0


def test_every_recorded_result_is_newer_than_the_code_it_measures():
    if not _git_checkout():
        pytest.skip("not a git checkout: commit times are what the check reads")
    assert records.problems() == []


def test_the_check_fails_when_a_measured_module_changes_after_its_result(records_repo, git_in):
    import os
    import time

    repo = records_repo({"r.json": GOOD})
    assert records.problems(repo) == []
    time.sleep(1.1)  # commit times have a resolution of one second
    (repo / "toolchain" / "measured.py").write_text("x = 2\n")
    git_in(repo, "commit", "-q", "-am", "the code changes")
    assert records.problems(repo) == ["r.json: toolchain/measured.py changed after the result was recorded: run "
                                      "benchmarks/bench.py again"]
    time.sleep(1.1)
    (repo / "benchmarks" / "results" / "r.json").write_text('{"again": 1}')
    (repo / "benchmarks" / "results" / "orphan.json").write_text("{}")
    git_in(repo, "add", "-A")
    git_in(repo, "commit", "-q", "-m", "the result again, and one no script writes")
    assert records.problems(repo) == ["orphan.json: no entry in measures.json says which script writes it"]
    assert os.path.isdir(repo)


def _outside_sections(text: str) -> str:
    return re.sub(r"<!-- ([\w-]+):start -->.*?<!-- \1:end -->", "", text, flags=re.S)


@pytest.mark.parametrize("readme", ["README.md", "benchmarks/README.md"])
def test_no_measured_figure_sits_outside_a_generated_section(readme):
    text = _outside_sections((ROOT / readme).read_text())
    found = [m.group(0) for m in FIGURE.finditer(text)]
    assert found == [], f"{readme} states figures outside a generated section: {found[:10]}"


def test_the_figure_check_finds_a_hand_written_figure():
    assert FIGURE.search("compress chose pruned-3 at 2.44x") and FIGURE.search("retention 0.997 on test")
    assert FIGURE.search("the run took 7.4 min")
    assert not FIGURE.search(_outside_sections("<!-- a:start -->2.44x<!-- a:end --> keeps 95% by default"))
