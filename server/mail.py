"""Outgoing email: every message is an OutboundEmail row first (the mail log), and an arq
job sends it after commit. Without SMTP_URL (the embedded default) the row is kept as
'stored' and shown in the panel's mail log; with it, aiosmtplib delivers it."""

from __future__ import annotations

import email.utils
from datetime import timedelta
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .models import OutboundEmail, utcnow
from .outbox import outbox_of

SEND_JOB = "send_email"
MAX_ATTEMPTS = 5
#: Wait before attempt 2, 3, 4, 5 (an SMTP server restarting, a provider's rate limit).
RETRY_DELAYS = (timedelta(seconds=5), timedelta(seconds=30), timedelta(minutes=2),
                timedelta(minutes=10))


def retry_delay(attempts_made: int) -> timedelta:
    return RETRY_DELAYS[min(max(attempts_made, 1), len(RETRY_DELAYS)) - 1]


async def queue_email(
    session: AsyncSession, photographer_id: int, *, kind: str, recipient: str, subject: str,
    body_text: str, body_html: str = "", contact_id: int | None = None,
    event_id: int | None = None,
) -> OutboundEmail:
    row = OutboundEmail(
        photographer_id=photographer_id, contact_id=contact_id, event_id=event_id, kind=kind,
        recipient=recipient, subject=" ".join(subject.split())[:300],  # one header line
        body_text=body_text, body_html=body_html,
        state="queued",
    )
    session.add(row)
    await session.flush()
    outbox_of(session).enqueue(SEND_JOB, row.id, job_id=f"send-email-{row.id}")
    return row


async def claim(session: AsyncSession, email_id: int) -> OutboundEmail | None:
    """Take a queued email for sending; None if another job already has (idempotent)."""
    claimed = await session.execute(
        update(OutboundEmail)
        .where(OutboundEmail.id == email_id, OutboundEmail.state == "queued")
        .values(state="sending", attempts=OutboundEmail.attempts + 1)
    )
    if not claimed.rowcount:
        return None
    return await session.scalar(select(OutboundEmail).where(OutboundEmail.id == email_id))


def build_message(row: OutboundEmail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = row.recipient
    message["Subject"] = row.subject
    message["Date"] = email.utils.formatdate(localtime=False)
    message["Message-ID"] = email.utils.make_msgid(domain="proofroom.app")
    message.set_content(row.body_text)
    if row.body_html:
        message.add_alternative(row.body_html, subtype="html")
    return message


async def deliver(smtp_url: str, message: EmailMessage) -> str:
    parts = urlsplit(smtp_url)
    await aiosmtplib.send(
        message,
        hostname=parts.hostname or "localhost",
        port=parts.port or (465 if parts.scheme == "smtps" else 25),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_tls=parts.scheme == "smtps",
        start_tls=True if parts.scheme == "smtp+starttls" else None,
        timeout=30,
    )
    return message["Message-ID"]


async def mark(session: AsyncSession, email_id: int, state: str, *,
               provider_message_id: str | None = None, error: str | None = None) -> None:
    await session.execute(
        update(OutboundEmail)
        .where(OutboundEmail.id == email_id)
        .values(state=state, provider_message_id=provider_message_id,
                error=(error or None) and error[:500],
                sent_at=utcnow() if state in ("sent", "stored") else None)
    )


async def mail_log(session: AsyncSession, photographer_id: int,
                   limit: int = 200) -> list[OutboundEmail]:
    rows = await session.scalars(
        select(OutboundEmail)
        .where(OutboundEmail.photographer_id == photographer_id)
        .order_by(OutboundEmail.created_at.desc(), OutboundEmail.id.desc())
        .limit(limit)
    )
    return list(rows)


async def process(db, smtp_url: str, sender: str, email_id: int) -> str:
    """The send job's whole flow, in three short transactions: claim, deliver, record.
    A failed attempt is noted on the row and the next one queued with a delay, until
    MAX_ATTEMPTS have failed (then the row is `failed`, with the last error)."""
    async with db.transaction() as session:
        row = await claim(session, email_id)
    if row is None:
        return "skipped"
    if not smtp_url:
        async with db.transaction() as session:
            await mark(session, email_id, "stored")
        return "stored"
    try:
        message_id = await deliver(smtp_url, build_message(row, sender))
    except (aiosmtplib.SMTPException, OSError) as exc:
        final = row.attempts >= MAX_ATTEMPTS
        async with db.transaction() as session:
            await mark(session, email_id, "failed" if final else "queued", error=str(exc))
            if not final:
                # A job that raises is not run again (arq retries only on its own Retry):
                # queue the next attempt ourselves, after the commit, a little later.
                outbox_of(session).enqueue(
                    SEND_JOB, email_id, job_id=f"send-email-{email_id}-try{row.attempts + 1}",
                    defer_until=utcnow() + retry_delay(row.attempts),
                )
        return "failed" if final else "retrying"
    async with db.transaction() as session:
        await mark(session, email_id, "sent", provider_message_id=message_id)
    return "sent"
