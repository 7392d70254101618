"""E-mail over SMTP (smtplib), host and port from the site config."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage


def send(host: str, port: int, sender: str, to: str, subject: str, body: str) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message.set_content(body)
    with smtplib.SMTP(host, port, timeout=10) as smtp:
        smtp.send_message(message)
