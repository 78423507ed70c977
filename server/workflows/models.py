"""The Gallery Workflows' tables: workflows and their steps (what should happen, relative
to a gallery's life or a visitor's actions), the studio's sending rules, a gallery's
client contacts, and ScheduledAction, the database's schedule that arq only executes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base, tenant_fk, utcnow

STEP_KINDS = ("email", "banner", "announcement")
#: What a step's time is measured from. The gallery's (one time per gallery: its release,
#: its expiry, a fixed date, the shoot's date) and each visitor's (one time per contact).
GALLERY_ANCHORS = ("release", "expiry", "date", "event_date")
VISITOR_ANCHORS = ("first_visit", "cart_change", "first_favorite")
ANCHORS = GALLERY_ANCHORS + VISITOR_ANCHORS
AUDIENCES = ("clients", "visitors", "favorites", "favorites_no_order", "open_cart", "no_order")
#: pending -> claimed (a job's lease) -> sent | skipped (reason) | failed (reason);
#: cancelled (reason) when the plan no longer wants it.
ACTION_STATES = ("pending", "claimed", "sent", "skipped", "failed", "cancelled")


class Workflow(Base):
    __tablename__ = "workflows"
    id: Mapped[int] = mapped_column(primary_key=True)
    photographer_id: Mapped[int] = tenant_fk()
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(String(500), default="")
    gallery_type_id: Mapped[int | None] = mapped_column(
        ForeignKey("gallery_types.id", ondelete="SET NULL"))
    #: At most one active workflow per gallery type (activating one deactivates the rest).
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WorkflowStep(Base):
    """One email, banner or announcement. Its time is `anchor` + `offset_seconds` (signed:
    -7 days before expiry), or `at` for the "date" anchor; banners also end at
    `end_anchor` + `end_offset_seconds`. `content` holds what the kind needs: an email's
    subject, body, buttons and coupon; a banner's text, style and position."""

    __tablename__ = "workflow_steps"
    __table_args__ = (Index("ix_workflow_steps_workflow", "workflow_id", "position"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    photographer_id: Mapped[int] = tenant_fk(index=False)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[str] = mapped_column(String(20), default="email")
    name: Mapped[str] = mapped_column(String(120), default="")
    anchor: Mapped[str] = mapped_column(String(20), default="release")
    offset_seconds: Mapped[int] = mapped_column(Integer, default=0)
    at: Mapped[datetime | None]
    end_anchor: Mapped[str | None] = mapped_column(String(20))
    end_offset_seconds: Mapped[int] = mapped_column(Integer, default=0)
    end_at: Mapped[datetime | None]
    audience: Mapped[str] = mapped_column(String(20), default="clients")
    #: True: at the studio's send time of day; False: exactly at its time.
    at_send_time: Mapped[bool] = mapped_column(Boolean, default=True)
    content: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SendingRules(Base):
    """One row per studio (made on first save; defaults until then): when emails leave."""

    __tablename__ = "sending_rules"
    photographer_id: Mapped[int] = mapped_column(
        ForeignKey("photographers.id", ondelete="CASCADE"), primary_key=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    #: Minutes after local midnight of the send time of day (540 = 09:00).
    send_minute: Mapped[int] = mapped_column(Integer, default=9 * 60)
    #: Quiet hours, local minutes: nothing leaves from start to end (may wrap midnight);
    #: None: no quiet hours.
    quiet_start: Mapped[int | None] = mapped_column(Integer)
    quiet_end: Mapped[int | None] = mapped_column(Integer)


class GalleryClient(Base):
    """The gallery's client contacts (the couple, the parents): the "clients" audience."""

    __tablename__ = "gallery_clients"
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"),
                                          primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"),
                                            primary_key=True)
    photographer_id: Mapped[int] = tenant_fk()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScheduledAction(Base):
    """One row per (gallery, step, contact): its due time and state. A gallery-anchored
    email step first has one row with no contact (a "fan-out"): when due, it resolves the
    audience then and adds one row per contact. `key` makes each (gallery, step, contact)
    unique, so a step sends at most once per contact per gallery whatever the jobs do.
    `next_attempt_at` is the due time (the name reconcile's Kind reads)."""

    __tablename__ = "scheduled_actions"
    __table_args__ = (Index("ix_scheduled_due", "state", "next_attempt_at"),
                      Index("ix_scheduled_event", "event_id", "state"),
                      Index("ix_scheduled_tenant", "photographer_id", "created_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    photographer_id: Mapped[int] = tenant_fk(index=False)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    step_id: Mapped[int | None] = mapped_column(
        ForeignKey("workflow_steps.id", ondelete="SET NULL"))
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(80), unique=True)
    #: What the timeline says of it when its step is gone.
    label: Mapped[str] = mapped_column(String(200), default="")
    state: Mapped[str] = mapped_column(String(20), default="pending")
    reason: Mapped[str | None] = mapped_column(String(300))
    next_attempt_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    leased_until: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(500))
    email_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbound_emails.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]



class BannerEvent(Base):
    """A visitor saw, dismissed or clicked a banner or announcement: once per (gallery,
    step, contact, kind), at its first time. The workflow page counts them, and orders
    placed after a click."""

    __tablename__ = "banner_events"
    __table_args__ = (UniqueConstraint("event_id", "step_id", "contact_id", "kind"),
                      Index("ix_banner_events_step", "step_id", "kind"))
    id: Mapped[int] = mapped_column(primary_key=True)
    photographer_id: Mapped[int] = tenant_fk()
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    step_id: Mapped[int] = mapped_column(ForeignKey("workflow_steps.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))  # view | dismiss | click
    at: Mapped[datetime] = mapped_column(default=utcnow)
