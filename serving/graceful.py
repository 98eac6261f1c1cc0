"""Shutdown without resetting a request that is already on the wire.

On SIGTERM uvicorn stops listening and, in the same event-loop callback, closes every connection that has no request
being handled. A request a client has already written on a kept-alive connection, but which the loop has not read
yet (it arrived since the loop last polled: tens of ms under load, seconds while a big body is validated), is then
closed unread: the client sees a connection reset (``make bench-service``, section 4). Deferring each connection's
shutdown by one loop iteration lets the loop poll first: such a request is parsed, so uvicorn serves it with
keep-alive off instead of closing it. Idle connections still close, one iteration later. (The same idea, for freshly
accepted connections, is Kludex/uvicorn PR #3124.) A request written after that iteration is still reset: only
traffic stopped before the signal (a load balancer draining the instance) avoids that.
"""

from __future__ import annotations

import contextlib


def defer_idle_close() -> None:
    """Patch uvicorn's HTTP protocols (idempotent); no-op if their layout is not the one this was written for."""
    for module, name in (
        ("uvicorn.protocols.http.h11_impl", "H11Protocol"),
        ("uvicorn.protocols.http.httptools_impl", "HttpToolsProtocol"),
    ):
        with contextlib.suppress(ImportError, AttributeError):
            cls = getattr(__import__(module, fromlist=[name]), name)
            original = cls.shutdown
            if getattr(original, "deferred_by_clv", False):
                continue

            def shutdown(self, _original=original) -> None:
                # a timer of 0 runs in the next iteration, after the I/O callbacks of that iteration's poll
                self.loop.call_later(0, _shut_unless_closing, self, _original)

            shutdown.deferred_by_clv = True
            cls.shutdown = shutdown


def _shut_unless_closing(protocol, shutdown) -> None:
    if not protocol.transport.is_closing():  # the client may have gone meanwhile
        shutdown(protocol)
