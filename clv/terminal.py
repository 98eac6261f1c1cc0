"""The terminal of one ``clv`` command: our messages, tables and progress bars on screen; what libraries print
(MLflow INFO lines, Python warnings, JVM logs) in a log file, or on screen instead with ``--verbose``."""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from features.progress import ProgressFn

LOG_FILE_ENV = "CLV_LOG_FILE"
MAX_LOG_BYTES = 20_000_000  # a log file over this is started afresh


def default_log_file() -> Path:
    """``$CLV_LOG_FILE``, else ``$XDG_STATE_HOME/clv/clv.log`` (``~/.local/state/clv/clv.log``)."""
    if os.environ.get(LOG_FILE_ENV):
        return Path(os.environ[LOG_FILE_ENV]).expanduser()
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "clv" / "clv.log"


@dataclass
class Terminal:
    """Where a command writes: ``out`` for results (stdout), ``err`` for messages and progress (the screen's
    stderr), and the log file that holds everything else."""

    out: Console = field(default_factory=Console)
    err: Console = field(default_factory=lambda: Console(stderr=True))
    log_file: Path | None = None

    def status(self, what: str):
        """A spinner for a step whose length is unknown."""
        return self.err.status(what)

    @contextlib.contextmanager
    def progress(self, what: str) -> Iterator[ProgressFn]:
        """A progress bar with counts and time left; the stage calls the yielded function with
        (step, done, total)."""
        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("elapsed"),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=self.err,
            transient=True,
            disable=not self.err.is_terminal,  # a log or a pipe gets the results, not bar frames
        )
        with bar:
            task = bar.add_task(what, total=None)

            def update(step: str, done: int, total: int) -> None:
                bar.update(task, description=f"{what}: {step}", completed=done, total=total)

            yield update


_CURRENT: contextvars.ContextVar[Terminal | None] = contextvars.ContextVar("clv_terminal", default=None)


def current() -> Terminal:
    """The running command's terminal (a plain one when called from Python, outside the CLI)."""
    return _CURRENT.get() or Terminal()


@contextlib.contextmanager
def _in_use(term: Terminal) -> Iterator[Terminal]:
    token = _CURRENT.set(term)
    try:
        yield term
    finally:
        _CURRENT.reset(token)


def _fileno(stream) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None


@contextlib.contextmanager
def quiet(log_file: Path | None, verbose: bool = False, required: bool = False) -> Iterator[Terminal]:
    """Run a command with library output sent to ``log_file``: Python's ``sys.stderr`` and warnings, and, in a real
    process, file descriptor 2 too (the JVM and C libraries write there). With ``verbose`` nothing is moved. A log
    file that cannot be opened leaves library output on screen, or, when ``required`` (the user named it), is an
    ``OSError``."""
    if verbose or log_file is None:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
        with _in_use(Terminal(Console(file=sys.stdout), Console(file=sys.stderr))) as term:
            yield term
        return
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        if log_file.exists() and log_file.stat().st_size > MAX_LOG_BYTES:
            log_file.unlink()
        sink = open(log_file, "a", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115
    except OSError:  # no writable home: libraries keep the screen rather than the command failing
        if required:
            raise
        sink = None
    if sink is None:
        with _in_use(Terminal(Console(file=sys.stdout), Console(file=sys.stderr))) as term:
            yield term
        return
    sink.write(f"\n=== {dt.datetime.now().isoformat(timespec='seconds')} clv {' '.join(sys.argv[1:])}\n")
    real_err, saved_fd, screen = sys.stderr, None, sys.stderr
    handler = logging.StreamHandler(sink)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    try:
        if _fileno(real_err) == 2:
            real_err.flush()
            saved_fd = os.dup(2)
            screen = os.fdopen(os.dup(saved_fd), "w", buffering=1, encoding=getattr(real_err, "encoding", None))
            os.dup2(sink.fileno(), 2)
        sys.stderr = sink
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        logging.captureWarnings(True)
        with _in_use(Terminal(Console(file=sys.stdout), Console(file=screen), log_file)) as term:
            yield term
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        root.setLevel(old_level)
        sys.stderr = real_err
        if saved_fd is not None:
            sys.stdout.flush()
            os.dup2(saved_fd, 2)
            os.close(saved_fd)
            screen.close()
        sink.close()
