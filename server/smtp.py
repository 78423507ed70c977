"""SMTP connections: a worker's pool of open ones, kept between sends.

A workflow can put thousands of emails due in one minute; opening a connection per
message (TCP, banner, EHLO, maybe STARTTLS and AUTH, then QUIT) costs more than the
message. The pool keeps up to `size` connections open and sends on them one message at a
time (aiosmtplib serialises a connection's transactions anyway). A connection that failed
mid-message is closed, never reused; one the server closed while idle is replaced once.
"""

from __future__ import annotations

import asyncio
import contextlib
from email.message import Message
from urllib.parse import unquote, urlsplit

import aiosmtplib


def client_for(smtp_url: str) -> aiosmtplib.SMTP:
    """`smtp://user:pass@host:25`, `smtp+starttls://…:587` or `smtps://…:465`."""
    parts = urlsplit(smtp_url)
    return aiosmtplib.SMTP(
        hostname=parts.hostname or "localhost",
        port=parts.port or (465 if parts.scheme == "smtps" else 25),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_tls=parts.scheme == "smtps",
        start_tls=True if parts.scheme == "smtp+starttls" else None,
        timeout=30,
    )


class SmtpPool:
    def __init__(self, smtp_url: str, size: int = 4) -> None:
        self.url = smtp_url
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots = asyncio.Semaphore(size)

    async def send(self, message: Message) -> None:
        async with self._slots:
            client = self._idle.pop() if self._idle else None
            if client is not None and client.is_connected:
                try:
                    await client.send_message(message)
                except aiosmtplib.SMTPServerDisconnected:
                    client = None  # closed by the server while idle: once more, fresh
                except BaseException:
                    client.close()
                    raise
                else:
                    self._idle.append(client)
                    return
            client = client_for(self.url)
            try:
                await client.connect()
                await client.send_message(message)
            except BaseException:
                client.close()
                raise
            self._idle.append(client)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client in idle:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.quit(), 5)
            client.close()
