"""Progress of long loops on stderr: a Rich bar on a terminal, plain lines in logs; ``show=False`` for library use.

When stderr is not a terminal (a log file, CI, ``| tee``) Rich would draw the bar only when it
ends, so a long loop would print nothing for minutes. There ``make_progress`` returns a
``LineProgress`` instead: one plain line with the bar's fields (description, done/total, percent,
elapsed, rate, time left, the ``info`` field) every 10% or every 30 s, whichever comes first, once
a loop has run for a few seconds (short loops stay silent, as a finished bar would add nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, TypeVar

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, Task, TaskID, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

T = TypeVar("T")

#: a plain line every this fraction of the total ...
LINE_EVERY_FRACTION = 0.1
#: ... or every this many seconds, whichever comes first
LINE_EVERY_SECONDS = 30.0
#: a loop prints nothing until it has run this long
QUIET_SECONDS = 5.0


def make_progress(show: bool = True, *, console: Console | None = None,
                  clock: Callable[[], float] | None = None) -> Progress:
    """A progress display on stderr: a Rich bar on a terminal, ``LineProgress`` otherwise, nothing without ``show``."""
    console = console or Console(stderr=True)
    if show and not (console.is_terminal or console.is_jupyter):
        return LineProgress(console=console, clock=clock)
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
        console=console, disable=not show, transient=False, get_time=clock,
    )


def track(items: Iterable[T], description: str, total: int | None = None, show: bool = True, *,
          console: Console | None = None, clock: Callable[[], float] | None = None) -> Iterator[T]:
    """Iterate with a progress display (see ``make_progress``)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with make_progress(show, console=console, clock=clock) as progress:
        task = progress.add_task(description, total=total, info="")
        for item in items:
            yield item
            progress.advance(task)


@dataclass
class _Printed:
    """What the last plain line of a task said, and when."""

    first_completed: float
    at: float
    completed: float
    info: str = ""
    step: int = 0
    lines: int = 0


class LineProgress(Progress):
    """A Rich ``Progress`` (same API, tasks tracked by Rich) that prints plain lines instead of drawing a bar."""

    def __init__(self, console: Console | None = None, clock: Callable[[], float] | None = None,
                 every_fraction: float = LINE_EVERY_FRACTION, every_seconds: float = LINE_EVERY_SECONDS,
                 quiet_seconds: float = QUIET_SECONDS) -> None:
        super().__init__(console=console or Console(stderr=True), disable=True, get_time=clock)
        self.every_fraction, self.every_seconds, self.quiet_seconds = every_fraction, every_seconds, quiet_seconds
        self._printed: dict[TaskID, _Printed] = {}

    def add_task(self, description: str, start: bool = True, total: float | None = 100.0, completed: int = 0,
                 visible: bool = True, **fields: Any) -> TaskID:
        """Add a task and remember where it started (a resumed loop's rate counts only the new work)."""
        task_id = super().add_task(description, start, total, completed, visible, **fields)
        self._printed[task_id] = _Printed(completed, self.get_time(), completed,
                                          str(fields.get("info", "")), self._step(self._tasks[task_id]))
        return task_id

    def update(self, task_id: TaskID, **kwargs: Any) -> None:  # type: ignore[override]
        """Update as Rich does, then print a line when one is due."""
        super().update(task_id, **kwargs)
        self._maybe_print(task_id)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        """Advance as Rich does, then print a line when one is due."""
        super().advance(task_id, advance)
        self._maybe_print(task_id)

    def stop(self) -> None:
        """Print the last state of every long task whose last line is out of date."""
        for task_id, task in list(self._tasks.items()):
            if self._is_long(task_id) and self._changed(task_id):
                self._print(task_id)
        super().stop()

    def line(self, task: Task) -> str:
        """The plain line of a task: description, done/total (percent), elapsed, rate, time left, info."""
        printed = self._printed.get(task.id)
        elapsed = task.elapsed or 0.0
        parts = [f"{task.description}: {_count(task.completed)}"]
        if task.total:
            parts[0] += f"/{_count(task.total)} ({100 * task.completed / task.total:.0f}%)"
        parts.append(f"{_clock(elapsed)} elapsed")
        done = task.completed - (printed.first_completed if printed else 0.0)
        if elapsed > 0 and done > 0:
            rate = done / elapsed
            parts.append(f"{_count(rate)}/s" if rate >= 1 else f"{1 / rate:.1f} s each")
            if task.total and task.completed < task.total:
                parts.append(f"{_clock((task.total - task.completed) / rate)} left")
        info = str(task.fields.get("info", "") or "")
        return ", ".join(parts) + (f" | {info}" if info else "")

    # -- when a line is due
    def _step(self, task: Task) -> int:
        """Which tenth (``every_fraction``) of the total the task has reached."""
        if not task.total:
            return 0
        return int(min(task.completed, task.total) / task.total / self.every_fraction + 1e-9)

    def _is_long(self, task_id: TaskID) -> bool:
        p = self._printed[task_id]
        return p.lines > 0 or (self.get_time() - self._started(task_id)) >= self.quiet_seconds

    def _started(self, task_id: TaskID) -> float:
        task = self._tasks[task_id]
        return task.start_time if task.start_time is not None else self._printed[task_id].at

    def _changed(self, task_id: TaskID) -> bool:
        task, p = self._tasks[task_id], self._printed[task_id]
        return task.completed != p.completed or str(task.fields.get("info", "")) != p.info

    def _maybe_print(self, task_id: TaskID) -> None:
        task, p = self._tasks[task_id], self._printed[task_id]
        if not self._is_long(task_id) or not self._changed(task_id):
            return
        finished = bool(task.total) and task.completed >= task.total and p.completed < task.total
        if finished or self._step(task) > p.step or self.get_time() - p.at >= self.every_seconds:
            self._print(task_id)

    def _print(self, task_id: TaskID) -> None:
        task, p = self._tasks[task_id], self._printed[task_id]
        file = self.console.file
        file.write(self.line(task) + "\n")
        file.flush()
        p.at, p.completed, p.info, p.step = self.get_time(), task.completed, str(task.fields.get("info", "")), self._step(task)
        p.lines += 1


def _clock(seconds: float) -> str:
    """H:MM:SS, as Rich's bar shows time."""
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _count(x: float) -> str:
    """A count or a rate, short: 950, 12.5, 1.2k, 3.4M (byte counts of a download stay readable)."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e4)):
        if abs(x) >= scale:
            return f"{x / (scale if unit != 'k' else 1e3):.1f}{unit}"
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}"
