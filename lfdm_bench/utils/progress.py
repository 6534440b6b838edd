"""Progress bars that suit where they are written: a tqdm bar on a terminal, a plain line now and then elsewhere.

tqdm redraws its bar with carriage returns, which fill a log file or a CI log with frames (730 KB for one benchmark
run). :func:`progress_bar` returns a tqdm bar when the stream is a terminal and otherwise a :class:`LineProgress`,
which prints one plain line (no carriage return) every ``interval`` seconds and a last one when it closes. Every
progress bar of the package goes through :func:`progress_bar` (a test checks that no other module imports tqdm).
"""

from __future__ import annotations

import sys
import time
from typing import Any, Iterable, Iterator, TextIO

# seconds between two lines when the stream is not a terminal
LINE_INTERVAL = 30.0


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class LineProgress:
    """The interface of a tqdm bar used here (iteration, ``update``, ``set_postfix``, ``close``, ``with``) that writes
    ``desc: n/total unit (p%), elapsed, rate[, postfix]`` as plain lines: at most one per ``interval`` seconds, and one
    when it closes (if anything happened since the last line)."""

    def __init__(self, iterable: Iterable | None = None, *, total: int | None = None, initial: int = 0,
                 desc: str = "", unit: str = "it", file: TextIO | None = None, interval: float = LINE_INTERVAL,
                 disable: bool = False) -> None:
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total, self.n, self.initial = total, int(initial), int(initial)
        self.desc, self.unit, self.file, self.interval, self.disable = desc, unit, file, float(interval), disable
        self.postfix: dict[str, Any] = {}
        self.start = self.last = time.monotonic()
        self.printed_n: int | None = None
        self.closed = False

    def __iter__(self) -> Iterator:
        if self.iterable is None:
            raise TypeError("LineProgress: nothing to iterate (give an iterable)")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __len__(self) -> int:
        return int(self.total or 0)

    def line(self) -> str:
        """The current state as one line."""
        elapsed = time.monotonic() - self.start
        done = self.n - self.initial
        rate = f", {done / elapsed:.2f} {self.unit}/s" if elapsed > 0 and done > 0 else ""
        if self.total:
            count = f"{self.n}/{self.total} {self.unit} ({100.0 * self.n / self.total:.0f}%)"
        else:
            count = f"{self.n} {self.unit}"
        post = ", " + ", ".join(f"{k}={v}" for k, v in self.postfix.items()) if self.postfix else ""
        return f"{self.desc + ': ' if self.desc else ''}{count}, {_duration(elapsed)}{rate}{post}"

    def _emit(self) -> None:
        stream = self.file if self.file is not None else sys.stderr
        stream.write(self.line() + "\n")
        stream.flush()
        self.last, self.printed_n = time.monotonic(), self.n

    def update(self, n: int = 1) -> None:
        self.n += int(n)
        if not self.disable and time.monotonic() - self.last >= self.interval:
            self._emit()

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True, **kwargs: Any) -> None:
        self.postfix = {**(ordered_dict or {}), **kwargs}

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or ""

    def refresh(self) -> None:
        """A no-op (lines are printed on their own schedule)."""

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if not self.disable and self.printed_n != self.n and self.n > self.initial:
            self._emit()


def progress_bar(iterable: Iterable | None = None, *, total: int | None = None, initial: int = 0, desc: str = "",
                 unit: str = "it", disable: bool = False, file: TextIO | None = None,
                 interval: float = LINE_INTERVAL, **tqdm_kwargs: Any) -> Any:
    """A progress bar over ``iterable`` (or one updated by hand with ``total``) written to ``file`` (default stderr):
    a tqdm bar when ``file`` is a terminal, else a :class:`LineProgress` (a plain line every ``interval`` seconds);
    ``tqdm_kwargs`` (e.g. ``dynamic_ncols``) go to tqdm only."""
    stream = file if file is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    try:
        terminal = bool(isatty()) if callable(isatty) else False
    except (ValueError, OSError):  # a closed stream
        terminal = False
    if disable or not terminal:
        return LineProgress(iterable, total=total, initial=initial, desc=desc, unit=unit, file=file,
                            interval=interval, disable=disable)
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, initial=initial, desc=desc, unit=unit, file=stream, **tqdm_kwargs)
