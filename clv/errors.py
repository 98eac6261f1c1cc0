"""How a command ends: bad input is exit 2 with one message, a bug exit 1 with one message (the traceback in the log
file), Ctrl-C or SIGTERM exit 130 after the open run and registry entry are cleaned up."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import traceback
from collections.abc import Callable

import typer

from clv.terminal import current
from features import InputError
from features.engine import out_of_memory_errors


@contextlib.contextmanager
def terminate_as_interrupt():
    """SIGTERM (a job scheduler stopping us, `kill`) unwinds like Ctrl-C: an open MLflow run ends FAILED and a
    model version registered without its alias is deleted, instead of the process vanishing mid-write."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _details(term) -> str:
    """Where the traceback went: the screen with CLV_DEBUG=1, else the log file when there is one."""
    if os.environ.get("CLV_DEBUG"):
        traceback.print_exc(file=term.err.file)
        return ""
    if term.log_file is None:
        return " (set CLV_DEBUG=1 for the traceback)"
    traceback.print_exc()  # sys.stderr: the log file
    return f" (traceback in {term.log_file})"


def handle_errors(fn: Callable) -> Callable:
    """Map InputError to exit 2 and anything unexpected to exit 1, each with one readable message."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        term = current()
        say = functools.partial(term.err.print, highlight=False, soft_wrap=True)
        try:
            with terminate_as_interrupt():
                return fn(*args, **kwargs)
        except InputError as exc:
            say(f"[bold red]error:[/] {exc}")
            raise typer.Exit(2) from None
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            say("interrupted")
            raise typer.Exit(130) from None
        except out_of_memory_errors() as exc:  # a limit reached, not a bug
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            where = _details(term)
            say(
                f"[bold red]out of memory:[/] {first}\nGive DuckDB more with --memory-limit (e.g. 8GB), or run on a "
                f"machine with more memory; nothing was written.{where}"
            )
            raise typer.Exit(1) from None
        except Exception as exc:
            where = _details(term)
            say(f"[bold red]internal error:[/] {type(exc).__name__}: {exc}{where}")
            raise typer.Exit(1) from None

    return wrapper
