"""Stopping on SIGTERM/SIGINT without raising into the interrupted code.

ECS stops a task with SIGTERM and sends SIGKILL 30 s later. A handler that raises an exception
lands wherever the main thread happens to be (inside a lock, a queue call, a half-written
buffer) and can leave the process unable to clean up. So the handler here only:

- records the signal (``requested``, ``signum``, ``count``) and starts the stop budget;
- shuts down the sockets registered with ``watch`` (the database connection), so a read
  blocked in ``recv`` returns at once instead of after the read timeout;
- lets CPython write the signal number to the wake-up descriptor (``signal.set_wakeup_fd``),
  which a supervisor waiting in ``select`` watches.

The code then stops at safe points of its own: ``check()`` raises ``Terminated`` there. The
handler takes no lock and never raises, so it cannot deadlock whatever it interrupts; a second
signal only bumps ``count`` (cleanup already under way is never abandoned).

Signals are delivered to the main thread only: helper threads are started with the stop signals
blocked (``signals_blocked``), so a blocking call in the main thread is always interrupted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

from etl.errors import Terminated

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextlib.contextmanager
def signals_blocked() -> Iterator[None]:
    """Block the stop signals in this thread for the block; threads and processes started
    inside inherit the mask (they then never receive a stop signal meant for the main thread,
    or receive it only once they are ready for it)."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def unblock_signals() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)


class StopRequest:
    """The process's answer to SIGTERM/SIGINT: a flag, a deadline and interrupted sockets."""

    def __init__(self, budget_seconds: float = 20.0) -> None:
        self.budget_seconds = budget_seconds
        self.signum: int | None = None
        self.count = 0
        self.signalled_at: float | None = None
        self.deadline: float | None = None
        self.wakeup_fd: int | None = None
        self._wakeup_write: int | None = None
        self._sockets: dict[int, Callable[[], Any]] = {}
        self._next_id = 0

    # -- installation ---------------------------------------------------------------------

    def install(self, *, wakeup: bool = False) -> StopRequest:
        """Handle the stop signals in this process (call from the main thread). With
        ``wakeup``, ``wakeup_fd`` becomes readable whenever a signal arrives."""
        if wakeup:
            r, w = os.pipe()
            os.set_blocking(r, False)
            os.set_blocking(w, False)
            signal.set_wakeup_fd(w, warn_on_full_buffer=False)
            self.wakeup_fd, self._wakeup_write = r, w
        else:
            signal.set_wakeup_fd(-1)
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_signal)
        return self

    def close_wakeup(self) -> None:
        """Forget the wake-up pipe (a forked worker closes the one it inherited)."""
        for fd in (self.wakeup_fd, self._wakeup_write):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.wakeup_fd = self._wakeup_write = None

    def drain_wakeup(self) -> None:
        if self.wakeup_fd is None:
            return
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while os.read(self.wakeup_fd, 512):
                pass

    def _on_signal(self, signum: int, _frame: object) -> None:
        # Runs in the main thread between two bytecodes of whatever it interrupted: no
        # locks, no logging, no exceptions.
        self.count += 1
        if self.signum is None:
            self.signum = signum
            self.signalled_at = time.monotonic()
            self.deadline = self.signalled_at + self.budget_seconds
        for get_socket in tuple(self._sockets.values()):
            _shutdown(get_socket)

    # -- the main code's side -------------------------------------------------------------

    def set_budget(self, seconds: float) -> None:
        """Seconds from the first signal to the end of cleanup (known once config is read)."""
        self.budget_seconds = seconds
        if self.signalled_at is not None:
            self.deadline = self.signalled_at + seconds

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def check(self) -> None:
        """A safe point: raise ``Terminated`` if a stop signal has arrived."""
        if self.signum is not None:
            raise Terminated(self.signum)

    def remaining(self, default: float) -> float:
        """Seconds left of the stop budget, or ``default`` when no signal has arrived."""
        if self.deadline is None:
            return default
        return max(0.0, min(default, self.deadline - time.monotonic()))

    def sleep(self, seconds: float) -> None:
        """``time.sleep`` that ends early (raising ``Terminated``) when a signal arrives."""
        end = time.monotonic() + seconds
        while True:
            self.check()
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.05))

    def watch(self, get_socket: Callable[[], Any]) -> None:
        """From now on a stop signal shuts down the socket ``get_socket()`` returns (read at
        signal time, since TLS replaces the socket object; ``None`` once closed)."""
        self._sockets[self._next_id] = get_socket
        self._next_id += 1
        if self.requested:  # the signal came before we registered: don't block at all
            _shutdown(get_socket)


def _shutdown(get_socket: Callable[[], Any]) -> None:
    try:
        sock = get_socket()
        if sock is not None:
            # The plain socket method: SSLSocket.shutdown would also drop its SSL object.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except Exception:  # noqa: S110 - already closed or never connected: nothing to interrupt
        pass
