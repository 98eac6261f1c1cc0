"""Helpers for tests that start real processes: a free loopback port, and a server subprocess that is up for a
``with`` block (``from tests.helpers import free_port, running_server``)."""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago (closed again: nothing listens there now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen, grace: float = 30) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within ``grace`` seconds; reaped either way."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def answers(url: str, timeout: float = 2) -> bool:
    """True once a GET of ``url`` is answered 200 (an error status, a refused or timed-out connection: False)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status == 200
    except (OSError, http.client.HTTPException):  # HTTPError is an OSError
        return False


@contextlib.contextmanager
def running_server(
    cmd: Sequence[str],
    url: str,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike | None = None,
    log: str | os.PathLike | None = None,
    timeout: float = 180,
    grace: float = 30,
) -> Iterator[subprocess.Popen]:
    """Start ``cmd``, wait until a GET of ``url`` answers 200, yield the process; SIGTERM (then SIGKILL after
    ``grace`` seconds) when the block ends, unless it has exited already.

    Its stdout and stderr go to the file ``log`` (kept, for tests that read it) or to a temporary file. If the
    process exits, or ``url`` does not answer within ``timeout`` seconds, RuntimeError with the command, how it
    ended and the end of its output."""
    with contextlib.ExitStack() as stack:
        if log is None:
            log = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="server-"))) / "server.log"
        out = stack.enter_context(open(log, "w"))  # noqa: SIM115 (closed by the stack, after the process)
        proc = subprocess.Popen(list(map(str, cmd)), env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        stack.callback(stop, proc, grace)
        deadline = time.monotonic() + timeout
        while not answers(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                command = " ".join(map(str, cmd))
                if proc.poll() is not None:
                    what = f"{command} exited with {proc.returncode} before {url} answered"
                else:
                    what = f"{url} did not answer 200 within {timeout:g} s of starting {command}"
                raise RuntimeError(f"{what}; its output ends:\n{Path(log).read_text(errors='replace')[-3000:]}")
            time.sleep(0.25)
        yield proc
