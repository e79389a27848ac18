"""Progress in logs: plain lines every 10% or 30 s when stderr is not a terminal (a fake clock, no timing)."""

from __future__ import annotations

import io
import re

from rich.console import Console

from spc.progress import LineProgress, make_progress, track


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def log_console() -> tuple[Console, io.StringIO]:
    """A console writing to a buffer, as stderr does into a log file (not a terminal)."""
    buf = io.StringIO()
    return Console(file=buf, force_terminal=False, width=80), buf


def lines(buf: io.StringIO) -> list[str]:
    return [line for line in buf.getvalue().splitlines() if line]


def test_not_a_terminal_gives_plain_lines_not_a_bar():
    console, _ = log_console()
    assert isinstance(make_progress(console=console), LineProgress)
    assert not isinstance(make_progress(False, console=console), LineProgress)
    tty = Console(file=io.StringIO(), force_terminal=True)
    assert not isinstance(make_progress(console=tty), LineProgress)


def test_a_line_every_tenth_with_the_bar_fields():
    console, buf = log_console()
    clock = FakeClock()
    with make_progress(console=console, clock=clock) as progress:
        task = progress.add_task("training", total=100, info="")
        for step in range(100):
            clock.now += 1.0  # 1 s a step: every 10 steps is 10 s, so 10% comes before 30 s
            progress.update(task, advance=1, info=f"epoch {step // 50 + 1}/2 loss 0.500")
    out = lines(buf)
    assert len(out) == 10, out
    assert out[0] == "training: 10/100 (10%), 0:00:10 elapsed, 1/s, 0:01:30 left | epoch 1/2 loss 0.500"
    assert out[4].startswith("training: 50/100 (50%), 0:00:50 elapsed")
    assert out[-1] == "training: 100/100 (100%), 0:01:40 elapsed, 1/s | epoch 2/2 loss 0.500"


def test_a_line_every_30_seconds_when_tenths_are_slow():
    console, buf = log_console()
    clock = FakeClock()
    with make_progress(console=console, clock=clock) as progress:
        task = progress.add_task("distilling", total=1000, info="")
        for _ in range(20):  # 20 steps of 10 s: 2% of the total in 200 s
            clock.now += 10.0
            progress.advance(task)
    out = lines(buf)
    elapsed = [re.search(r"(\d+:\d\d:\d\d) elapsed", line)[1] for line in out]
    assert elapsed[:6] == ["0:00:30", "0:01:00", "0:01:30", "0:02:00", "0:02:30", "0:03:00"]
    assert out[0].startswith("distilling: 3/1000 (0%)") and "0.1/s" not in out[0] and "10.0 s each" in out[0]
    assert out[-1].startswith("distilling: 20/1000 (2%), 0:03:20 elapsed")  # the stop line: where it got to


def test_short_loops_stay_quiet():
    console, buf = log_console()
    clock = FakeClock()
    for _ in track(range(50), "reading test", console=console, clock=clock):
        clock.now += 0.01
    assert buf.getvalue() == ""


def test_track_prints_lines_and_a_status_change_at_the_end():
    console, buf = log_console()
    clock = FakeClock()
    for _ in track(list(range(20)), "scoring orders", console=console, clock=clock):
        clock.now += 3.0
    out = lines(buf)
    # quiet for 5 s (the 10% at 3 s is not printed), then each further tenth, the last at 100%
    assert out[0].startswith("scoring orders: 2/20 (10%), 0:00:06 elapsed")
    assert out[-1].startswith("scoring orders: 20/20 (100%), 0:01:00 elapsed")
    assert len(out) == 10


def test_info_set_after_the_last_step_is_printed_at_stop():
    console, buf = log_console()
    clock = FakeClock()
    with make_progress(console=console, clock=clock) as progress:
        task = progress.add_task("training", total=10, completed=5, info="")  # resumed at half way
        for _ in range(5):
            clock.now += 2.0
            progress.update(task, advance=1, info="epoch 2/2 loss 0.300")
        clock.now += 4.0
        progress.update(task, info="epoch 2/2 loss 0.300 val 0.910")
    out = lines(buf)
    # the rate counts only the 5 steps done in this run
    assert out[-2] == "training: 10/10 (100%), 0:00:10 elapsed, 2.0 s each | epoch 2/2 loss 0.300"
    assert out[-1] == "training: 10/10 (100%), 0:00:14 elapsed, 2.8 s each | epoch 2/2 loss 0.300 val 0.910"
    assert "0:00:02 elapsed" not in buf.getvalue()  # quiet for the first 5 s


def test_unknown_total_prints_by_time():
    console, buf = log_console()
    clock = FakeClock()
    with make_progress(console=console, clock=clock) as progress:
        task = progress.add_task("downloading", total=None, info="")
        for _ in range(7):
            clock.now += 10.0
            progress.advance(task, 2_500_000)
    out = lines(buf)
    assert out[0] == "downloading: 7.5M, 0:00:30 elapsed, 250.0k/s"
    assert len(out) == 3  # 30 s, 60 s, and the stop line at 70 s


def test_disabled_progress_prints_nothing():
    console, buf = log_console()
    for _ in track(range(3), "x", show=False, console=console, clock=FakeClock()):
        pass
    assert buf.getvalue() == ""
