"""Progress reporting from long stages: a ``ProgressFn(step, done, total)`` the CLI draws as a bar, and ``Steps``
to count towards a known total."""

from __future__ import annotations

from collections.abc import Callable

ProgressFn = Callable[[str, int, int], None]


class Steps:
    """``total`` steps reported to ``progress`` as they are done (nothing happens without one)."""

    def __init__(self, progress: ProgressFn | None, total: int) -> None:
        self.progress, self.total, self.done = progress, max(total, 1), 0

    def advance(self, what: str, n: int = 1) -> None:
        """``n`` more steps done; the count never passes the total."""
        self.done = min(self.done + n, self.total)
        self.note(what)

    def note(self, what: str) -> None:
        """Say what is happening without counting a step."""
        if self.progress is not None:
            self.progress(what, self.done, self.total)

    def finish(self, what: str = "done") -> None:
        self.done = self.total
        self.note(what)
