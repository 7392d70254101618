"""Group commit for the access log: concurrent callers' entries share one write and one set of
fsyncs, as databases commit transactions.

A caller hands its entry to the log's writer, a thread of its own, and gets a future. The
writer takes every entry queued so far and appends them with `AccessLog.append_many`; the
entries that arrive meanwhile form the next group. A future resolves only once its entry is
durable, so a crash loses no entry anyone was told about. An append that fails fails every
caller of its group (none of their entries was acknowledged). Threads wait on the future
(`append`); the site's event loop awaits it (`asyncio.wrap_future`), holding no thread.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from privacy.access_log import AccessLog


@dataclass
class _Waiter:
    item: tuple[str, str, dict[str, Any]]
    now: datetime | None
    done: Future[dict[str, Any]]


class GroupCommit:
    def __init__(self, log: AccessLog, max_group: int = 1_000) -> None:
        self.log = log
        self.max_group = max_group
        self._cond = threading.Condition()
        self._queue: list[_Waiter] = []
        self._writer: threading.Thread | None = None
        self.groups = 0  # appends made (entries / groups is the mean group size)
        self.entries = 0

    def submit(
        self, event: str, actor: str, details: dict[str, Any], now: datetime | None = None
    ) -> Future[dict[str, Any]]:
        """Queue one entry; the future gives it once it is durable (or what the append raised)."""
        me = _Waiter((event, actor, details), now, Future())
        with self._cond:
            self._queue.append(me)
            if self._writer is None:  # daemon: it holds nothing a caller was not told about
                self._writer = threading.Thread(target=self._write, daemon=True, name="log")
                self._writer.start()
            self._cond.notify()
        return me.done

    def append(
        self, event: str, actor: str, details: dict[str, Any], now: datetime | None = None
    ) -> dict[str, Any]:
        """Log one entry; returns it once it is durable (raises what the append raised)."""
        return self.submit(event, actor, details, now).result()

    def _write(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                group = self._queue[: self.max_group]
                del self._queue[: self.max_group]
            try:  # the group's time is its first entry's (tests pass one; the site passes none)
                entries = self.log.append_many([w.item for w in group], group[0].now)
            except BaseException as exc:
                for w in group:
                    w.done.set_exception(exc)
                continue
            self.groups += 1
            self.entries += len(group)
            for w, entry in zip(group, entries, strict=True):
                w.done.set_result(entry)
