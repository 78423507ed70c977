"""Outgoing email: every message is an OutboundEmail row first (the mail log), and an arq
job sends it after commit. Without SMTP_URL (the embedded default) the row is kept as
'stored' and shown in the panel's mail log; with it, aiosmtplib delivers it.

The row is the job's truth (server/reconcile.py): queued -> sending (a lease) -> sent |
stored | queued again after a failed attempt (with `next_attempt_at`) | failed (with the
reason). A job claims the row with one conditional UPDATE, so a duplicate job does
nothing; a `sending` row whose lease has passed belonged to a worker that died and is
taken back. The Message-ID is derived from the row, so a message the SMTP server accepted
just before a crash and is sent again carries the same id (receivers drop the repeat).
"""

from __future__ import annotations

import asyncio
import email.utils
from datetime import datetime, timedelta
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import aiosmtplib
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from .models import OutboundEmail, utcnow
from .outbox import outbox_of
from .smtp import SmtpPool, client_for

SEND_JOB = "send_email"
#: What the mail log calls each kind of email.
KIND_LABELS = {
    "workflow": "Workflow", "workflow_test": "Workflow test", "order_confirmation": "Order",
    "comment_reply": "Comment reply", "favorites_download": "Favorites download",
    "verify_device": "Device link",
}
MAX_ATTEMPTS = 5
#: How long a claim holds a row; longer than the send job may run (aiosmtplib times out
#: each step after 30 s, the worker cancels a job after two thirds of the lease).
LEASE = timedelta(minutes=3)
#: Wait before attempt 2, 3, 4, 5 (an SMTP server restarting, a provider's rate limit).
RETRY_DELAYS = (timedelta(seconds=5), timedelta(seconds=30), timedelta(minutes=2),
                timedelta(minutes=10))


def retry_delay(attempts_made: int) -> timedelta:
    return RETRY_DELAYS[min(max(attempts_made, 1), len(RETRY_DELAYS)) - 1]


#: Rows that need a job (reconcile enqueues them), and rows a job holds.
WAITING = OutboundEmail.state == "queued"
LEASED = OutboundEmail.state == "sending"


def job_id(row: OutboundEmail) -> str:
    """One id per attempt: arq ignores a second enqueue of it while it (or its result)
    exists, and the next attempt is a new job, never blocked by the last one's result."""
    return f"send-email-{row.id}-{row.attempts + 1}"


def _claimable(now):
    due = or_(OutboundEmail.next_attempt_at.is_(None), OutboundEmail.next_attempt_at <= now)
    return and_(OutboundEmail.attempts < MAX_ATTEMPTS, or_(
        and_(OutboundEmail.state == "queued", due),
        and_(OutboundEmail.state == "sending", OutboundEmail.leased_until < now)))


def queue(
    session: Session, photographer_id: int, *, kind: str, recipient: str, subject: str,
    body_text: str, body_html: str = "", contact_id: int | None = None,
    event_id: int | None = None, lease: timedelta | None = None,
) -> OutboundEmail:
    """Add the email to the unit of work; its send job is enqueued after the commit.
    With `lease`, the caller (a job) claims it in the same unit and sends it itself after
    the commit (`send_claimed`), a job hop saved; if it dies first, the lease runs out and
    reconcile takes the row back like any other."""
    row = OutboundEmail(
        photographer_id=photographer_id, contact_id=contact_id, event_id=event_id, kind=kind,
        recipient=recipient, subject=" ".join(subject.split())[:300],  # one header line
        body_text=body_text, body_html=body_html,
        state="queued" if lease is None else "sending",
        attempts=0 if lease is None else 1,
        leased_until=None if lease is None else utcnow() + lease,
    )
    session.add(row)
    session.flush()
    if lease is None:
        outbox_of(session).enqueue(SEND_JOB, row.id, job_id=job_id(row))
    return row


def claim(session: Session, email_id: int, lease: timedelta = LEASE) -> OutboundEmail | None:
    """Lease a due email for sending: a queued one, or one whose sender died (its lease
    ran out). None if it is not claimable, e.g. another job has it (idempotent)."""
    now = utcnow()
    claimed = session.execute(
        update(OutboundEmail)
        .where(OutboundEmail.id == email_id, _claimable(now))
        .values(state="sending", attempts=OutboundEmail.attempts + 1,
                leased_until=now + lease, next_attempt_at=None)
    )
    if not claimed.rowcount:
        return None
    return session.scalar(select(OutboundEmail).where(OutboundEmail.id == email_id))


def message_id(row: OutboundEmail) -> str:
    """Stable across attempts (see the module docstring); created_at tells apart rows that
    reuse a deleted row's id (SQLite does that)."""
    return f"<mail-{row.id}-{int(row.created_at.timestamp() * 1e6):x}@proofroom.app>"


def build_message(row: OutboundEmail, sender: str) -> Message:
    """A multipart/alternative message (plain text, and HTML when there is some).

    Built with the compat32 classes (email.mime), not EmailMessage: its header registry
    parses every header it is given, which cost ~1 ms per message, as much as the rest of
    a workflow send. Non-ASCII headers are encoded explicitly (RFC 2047)."""
    text = MIMEText(row.body_text, "plain", "utf-8")
    if row.body_html:
        message: Message = MIMEMultipart("alternative")
        message.attach(text)
        message.attach(MIMEText(row.body_html, "html", "utf-8"))
    else:
        message = text
    name, address = email.utils.parseaddr(sender)
    message["From"] = email.utils.formataddr((name, address), charset="utf-8")
    message["To"] = row.recipient
    message["Subject"] = Header(row.subject, "utf-8") if not row.subject.isascii() \
        else row.subject
    message["Date"] = email.utils.formatdate(localtime=False)
    message["Message-ID"] = message_id(row)
    return message


async def deliver(smtp_url: str, message: Message, pool: SmtpPool | None = None) -> str:
    """Over one of the pool's open connections, or a connection of its own."""
    if pool is not None:
        await pool.send(message)
    else:
        client = client_for(smtp_url)
        async with client:
            await client.send_message(message)
    return message["Message-ID"]


def mark(session: Session, email_id: int, state: str, provider_message_id: str | None = None,
         error: str | None = None, next_attempt_at: datetime | None = None) -> None:
    session.execute(
        update(OutboundEmail)
        .where(OutboundEmail.id == email_id)
        .values(state=state, provider_message_id=provider_message_id,
                error=(error or None) and error[:500], leased_until=None,
                next_attempt_at=next_attempt_at,
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


async def process(db, smtp_url: str, sender: str, email_id: int,
                  lease: timedelta = LEASE, pool: SmtpPool | None = None) -> str:
    """The send job's whole flow, in three short units of work: claim, deliver, record.
    A failed attempt is noted on the row and the next one queued with a delay, until
    MAX_ATTEMPTS have failed or the server refused the message for good (then the row is
    `failed`, with the reason)."""
    row = await db.write(claim, email_id, lease)
    if row is None:
        return "skipped"
    return (await send_claimed(db, smtp_url, sender, [row], pool))[0]


async def send_claimed(db, smtp_url: str, sender: str, rows: list[OutboundEmail],
                       pool: SmtpPool | None = None) -> list[str]:
    """Deliver (or store) emails this job has claimed, side by side over the pool's
    connections, then record how each went in one unit. Returns their outcomes."""
    if not rows:
        return []
    if not smtp_url:
        return await db.write(_record_all, rows, [None] * len(rows), False)
    results = await asyncio.gather(
        *(deliver(smtp_url, build_message(row, sender), pool) for row in rows),
        return_exceptions=True)
    for result in results:  # anything but an SMTP or network failure is a bug: raise it
        if isinstance(result, BaseException) and not isinstance(
                result, aiosmtplib.SMTPException | OSError):
            raise result
    return await db.write(_record_all, rows, results, True)


def _record_all(session: Session, rows: list[OutboundEmail], results: list,
                delivered: bool) -> list[str]:
    outcomes = []
    for row, result in zip(rows, results, strict=True):
        if not delivered:
            mark(session, row.id, "stored")
            outcomes.append("stored")
        elif isinstance(result, BaseException):
            outcomes.append(_record_failure(session, row, result))
        else:
            mark(session, row.id, "sent", result)
            outcomes.append("sent")
    return outcomes


def _permanent(exc: Exception) -> bool:
    """A 5xx answer (unknown mailbox, message refused) will not change on a retry."""
    codes = [getattr(exc, "code", 0)] + [
        r.code for r in getattr(exc, "recipients", ())]
    return any(500 <= (code or 0) < 600 for code in codes)


def _record_failure(session: Session, row: OutboundEmail, exc: BaseException) -> str:
    """`failed` for good after the last attempt or a permanent refusal, else queued again
    with the next attempt's delay."""
    final = row.attempts >= MAX_ATTEMPTS or _permanent(exc)
    due = None if final else utcnow() + retry_delay(row.attempts)
    mark(session, row.id, "queued" if due else "failed",
         error=str(exc) or type(exc).__name__, next_attempt_at=due)
    if due:
        # A job that raises is not run again (arq retries only on its own Retry):
        # queue the next attempt ourselves, after the commit (reconcile would too);
        # the job id counts this claim's attempt, so it is a new one.
        outbox_of(session).enqueue(SEND_JOB, row.id, job_id=job_id(row), defer_until=due)
    return "failed" if final else "retrying"
