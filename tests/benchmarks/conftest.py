"""Fixtures the benchmark-script tests share: a throwaway git repository laid out as records.py expects."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Callable

import pytest

def git(repo: Path, *args: str) -> None:
    """Run git in ``repo`` with a fixed identity (no user config needed)."""
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"})


@pytest.fixture
def git_in() -> Callable[..., None]:
    """``git_in(repo, *args)``: git in a fixture repo (for the commits a test adds)."""
    return git


@pytest.fixture
def records_repo(tmp_path: Path) -> Callable[[dict], Path]:
    """``make(entries)``: a git repo with one script, one measured module and one committed result ``r.json``,
    ``entries`` as its measures.json, all in one commit."""

    def make(entries: dict) -> Path:
        repo = tmp_path / "repo"
        (repo / "benchmarks" / "results").mkdir(parents=True)
        (repo / "toolchain").mkdir()
        (repo / "benchmarks" / "bench.py").write_text("print(1)\n")
        (repo / "toolchain" / "measured.py").write_text("x = 1\n")
        (repo / "benchmarks" / "results" / "r.json").write_text("{}")
        (repo / "benchmarks" / "results" / "measures.json").write_text(json.dumps({"results": entries}))
        git(repo, "init", "-q")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "code and result")
        return repo

    return make
