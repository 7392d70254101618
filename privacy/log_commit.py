"""Group commit for the access log: concurrent callers' entries share one write and one set of
fsyncs, as databases commit transactions.

A caller hands its entry over and waits. The first waiter with no writer at work becomes the
writer: it takes every entry queued so far and appends them with `AccessLog.append_many`; the
entries that arrive meanwhile form the next group. A caller returns only once its entry is
durable, so a crash loses no entry anyone was told about. An append that fails fails every
caller of its group (none of their entries was acknowledged).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from privacy.access_log import AccessLog


@dataclass
class _Waiter:
    item: tuple[str, str, dict[str, Any]]
    done: bool = False
    entry: dict[str, Any] | None = None
    error: BaseException | None = None


class GroupCommit:
    def __init__(self, log: AccessLog, max_group: int = 1_000) -> None:
        self.log = log
        self.max_group = max_group
        self._cond = threading.Condition()
        self._queue: list[_Waiter] = []
        self._writing = False
        self.groups = 0  # appends made (entries / groups is the mean group size)
        self.entries = 0

    def append(
        self, event: str, actor: str, details: dict[str, Any], now: datetime | None = None
    ) -> dict[str, Any]:
        """Log one entry; returns it once it is durable (raises what the append raised)."""
        me = _Waiter((event, actor, details))
        with self._cond:
            self._queue.append(me)
        while True:
            with self._cond:
                while self._writing and not me.done:
                    self._cond.wait()
                if me.done:
                    break
                self._writing = True
                group = self._queue[: self.max_group]
                del self._queue[: self.max_group]
            self._write(group, now)
        if me.error is not None:
            raise me.error
        assert me.entry is not None
        return me.entry

    def _write(self, group: list[_Waiter], now: datetime | None) -> None:
        try:
            entries = self.log.append_many([w.item for w in group], now)
        except BaseException as exc:
            for w in group:
                w.error = exc
        else:
            for w, entry in zip(group, entries, strict=True):
                w.entry = entry
            self.groups += 1
            self.entries += len(group)
        finally:
            with self._cond:
                self._writing = False
                for w in group:
                    w.done = True
                self._cond.notify_all()
