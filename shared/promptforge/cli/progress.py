"""A live progress display for one job: a rich bar on a terminal, plain lines in CI logs.

Feed it every status body the poller gets (``update``); it shows how many prompts
have an outcome (completed + failed) out of ``prompt_count``, the split between the
two, the current dispatch rate the server reports (``dispatch_rate_rpm``), elapsed
time and an ETA from the recent throughput.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn

__all__ = ["JobProgress"]


class JobProgress:
    """Shows one job's progress; use as ``with JobProgress(job_id) as p: p.update(status)``.

    On a terminal it draws a live ``rich`` bar. Otherwise (``console.is_terminal`` is
    false: a pipe, a CI log) it prints one plain line per ``plain_interval`` seconds,
    on every status change and at the end.
    """

    def __init__(
        self,
        job_id: str,
        *,
        console: Console | None = None,
        plain_interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.job_id = job_id
        self._console = console or Console()
        self._plain_interval = plain_interval
        self._clock = clock
        self._started = clock()
        self._samples: deque[tuple[float, int]] = deque()
        self._last: dict[str, Any] | None = None
        self._last_printed_at: float | None = None
        self._last_printed_status: str | None = None
        self._unprinted = False
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if self._console.is_terminal:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[counts]}"),
                TextColumn("[cyan]{task.fields[rate]}"),
                TextColumn("elapsed {task.fields[elapsed]}  ETA {task.fields[eta]}"),
                console=self._console,
                get_time=clock,
            )

    def __enter__(self) -> JobProgress:
        if self._progress is not None:
            self._progress.start()
            self._task = self._progress.add_task(
                _short(self.job_id), total=None, counts="", rate="", elapsed="0:00:00", eta="-"
            )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the live display, or print the last plain line if it was not printed."""
        if self._progress is not None:
            self._progress.stop()
        elif self._unprinted and self._last is not None:
            self._print_line(self._last, self._clock())

    def update(self, status: dict[str, Any]) -> None:
        """Show a status body from ``GET /v1/jobs/{id}/status``."""
        now = self._clock()
        self._last = status
        done = _int(status.get("completed_count")) + _int(status.get("failed_count"))
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[1][0] >= _WINDOW_SECONDS:
            self._samples.popleft()
        if self._progress is not None and self._task is not None:
            total = _int(status.get("prompt_count")) or None
            self._progress.update(
                self._task,
                description=f"{_short(self.job_id)} {status.get('status', '?')}",
                total=total,
                completed=done,
                counts=_counts(status),
                rate=_rate(status),
                elapsed=_clock_text(now - self._started),
                eta=self._eta_text(status, done),
            )
            return
        state = str(status.get("status", ""))
        due = (
            self._last_printed_at is None
            or state != self._last_printed_status
            or now - self._last_printed_at >= self._plain_interval
        )
        if due:
            self._print_line(status, now)
        else:
            self._unprinted = True

    def plain_line(self, status: dict[str, Any]) -> str:
        """The one-line text form of a status body, as printed in non-terminal mode."""
        now = self._clock()
        done = _int(status.get("completed_count")) + _int(status.get("failed_count"))
        total = _int(status.get("prompt_count"))
        share = f" ({100 * done / total:.1f}%)" if total else ""
        parts = [
            f"job {self.job_id} {status.get('status', '?')}",
            f"{done:,}/{total:,}{share}",
            _counts(status),
            f"rate {_rate(status)}",
            f"elapsed {_clock_text(now - self._started)}",
            f"ETA {self._eta_text(status, done)}",
        ]
        return " | ".join(parts)

    def _print_line(self, status: dict[str, Any], now: float) -> None:
        self._console.print(self.plain_line(status), soft_wrap=True, highlight=False, markup=False)
        self._last_printed_at = now
        self._last_printed_status = str(status.get("status", ""))
        self._unprinted = False

    def _eta_text(self, status: dict[str, Any], done: int) -> str:
        """Remaining prompts over the recent throughput (or the dispatch rate before any)."""
        state = status.get("status")
        if state in _FINAL:
            return "0:00:00"
        total = _int(status.get("prompt_count"))
        if state != "PROCESSING" or total <= 0:
            return "-"
        per_second = 0.0
        first_t, first_done = self._samples[0]
        last_t, last_done = self._samples[-1]
        if last_t - first_t >= 1.0 and last_done > first_done:
            per_second = (last_done - first_done) / (last_t - first_t)
        elif isinstance(status.get("dispatch_rate_rpm"), int | float):
            per_second = float(status["dispatch_rate_rpm"]) / 60.0
        if per_second <= 0:
            return "-"
        return _clock_text(max(0, total - done) / per_second)


def _counts(status: dict[str, Any]) -> str:
    """``N completed, M failed`` plus tokens and cost when the server reports them."""
    text = f"{_int(status.get('completed_count')):,} completed, "
    text += f"{_int(status.get('failed_count')):,} failed"
    tokens = status.get("tokens_used")
    if isinstance(tokens, int) and tokens > 0:
        text += f", {tokens:,} tokens"
    cost = status.get("estimated_cost_usd")
    if isinstance(cost, int | float) and cost > 0:
        text += f", ~${cost:,.2f}" if cost >= 0.01 else ", <$0.01"
    return text


def _rate(status: dict[str, Any]) -> str:
    rpm = status.get("dispatch_rate_rpm")
    if not isinstance(rpm, int | float) or isinstance(rpm, bool):
        return "- req/min"
    return f"{rpm:,.1f} req/min" if rpm < 10 else f"{rpm:,.0f} req/min"


def _clock_text(seconds: float) -> str:
    whole = int(max(0.0, seconds))
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _short(job_id: str) -> str:
    return job_id[:8]


_FINAL = ("COMPLETED", "FAILED")
_WINDOW_SECONDS = 60.0
