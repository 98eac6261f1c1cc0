"""SIGTERM must not reset a request already written on a kept-alive connection (serving/graceful.py)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
import uvicorn

from serving.graceful import defer_idle_close

pytestmark = pytest.mark.integration  # a real uvicorn server on a loopback socket


def _ask(conn: socket.socket, path: str) -> None:
    conn.sendall(f"GET {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode())


def _answer(conn: socket.socket) -> str:
    data = b""
    try:
        while not data.endswith(b"ok"):
            chunk = conn.recv(1000)
            if not chunk:
                return "closed unanswered"
            data += chunk
    except OSError as exc:
        return type(exc).__name__
    return data.split(b"\r\n")[0].decode()


@pytest.mark.parametrize("patched", [False, True])
def test_a_request_written_before_the_shutdown_is_answered_not_reset(patched, monkeypatch):
    """The loop is busy when the client writes its next request on an idle kept-alive connection, and uvicorn's
    shutdown (stop listening, shut every connection down) runs before the loop polls again. Unpatched, uvicorn
    closes that connection unread and the client sees a reset; patched, the request is answered."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    original = H11Protocol.shutdown
    while getattr(original, "deferred_by_clv", False):  # patched already (serving.service imported): unwrap
        original = original.__defaults__[0]
    monkeypatch.setattr(H11Protocol, "shutdown", original)  # undone after the test
    if patched:
        defer_idle_close()
    server: uvicorn.Server

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        if scope["path"] == "/busy":
            time.sleep(0.3)  # the loop is busy: the client writes meanwhile
            server.should_exit = True
            for listener in server.servers:  # what Server.shutdown does first, in one callback
                listener.close()
            for connection in list(server.server_state.connections):
                connection.shutdown()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", http="h11", loop="asyncio"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.time() + 10
    while not server.started:
        assert time.time() < deadline
        time.sleep(0.01)
    kept = socket.create_connection(("127.0.0.1", port), timeout=5)
    busy = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        _ask(kept, "/")
        assert _answer(kept) == "HTTP/1.1 200 OK"  # now idle, kept alive
        _ask(busy, "/busy")
        time.sleep(0.1)
        _ask(kept, "/")  # written before the shutdown, while the loop is busy
        second, busy_answer = _answer(kept), _answer(busy)
    finally:
        kept.close()
        busy.close()
        thread.join(10)
    assert busy_answer == "HTTP/1.1 200 OK"
    assert second == ("HTTP/1.1 200 OK" if patched else "ConnectionResetError")
