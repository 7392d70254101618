"""A real SMTP server on this machine, for the tests and benchmarks: aiosmtpd (a dev
dependency) on 127.0.0.1, keeping every message it receives."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any


@dataclass
class Mailbox:
    """What the server received."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=default))
        return "250 OK"

    def link(self, to: str, kind: str = "confirm") -> str:
        """The newest link of `kind` mailed to `to`, as a path."""
        for message in reversed(self.messages):
            if message["To"] == to:
                body = message.get_body().get_content()
                found = re.search(
                    rf"http://[^/\s]+(/(?:access|opt-out|researcher)/{kind}/\S+)", body
                )
                if found:
                    return found.group(1)
        raise AssertionError(f"no {kind} link mailed to {to}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    from aiosmtpd.controller import Controller

    box = Mailbox(free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()
