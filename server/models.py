"""ORM models. Every tenant-owned row carries `photographer_id`; services always filter on it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, returns aware UTC: identical behaviour on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


def tenant_fk(index: bool = True) -> Mapped[int]:
    """`index=False` where a composite index already leads with photographer_id: a second
    index would only cost every insert a b-tree write."""
    return mapped_column(ForeignKey("photographers.id", ondelete="CASCADE"), index=index)


class Photographer(Base):
    __tablename__ = "photographers"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    business_name: Mapped[str] = mapped_column(String(120), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    last_event_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Settings → Brand (server/brand.py): logo key, accent and its text colour, cover
    #: typeface, public contact. One JSON value: templates (emails too) read it as it is.
    brand: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AuthSession(Base):
    """Server-side session row behind the signed cookie: logout can end it for real."""

    __tablename__ = "auth_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    photographer_id: Mapped[int] = tenant_fk()
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class LoginFailure(Base):
    """Failed password attempts, for throttling (per account email or per gallery)."""

    __tablename__ = "login_failures"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class GalleryType(Base):
    __tablename__ = "gallery_types"
    __table_args__ = (UniqueConstraint("photographer_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    photographer_id: Mapped[int] = tenant_fk()
    name: Mapped[str] = mapped_column(String(60))
    #: The store's default price list for galleries of this type.
    price_list_id: Mapped[int | None] = mapped_column(
        ForeignKey("price_lists.id", ondelete="SET NULL"))


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("photographer_id", "email"),
        Index("ix_contacts_tenant_name", "photographer_id", "name"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    photographer_id: Mapped[int] = tenant_fk()
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(120), default="")
    source: Mapped[str] = mapped_column(String(20), default="gate")  # gate | manual
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Followed the unsubscribe link of a workflow email: no workflow email reaches them.
    unsubscribed_at: Mapped[datetime | None]


class Device(Base):
    """A browser a contact used, made at the email gate. Unverified until it follows a
    one-time link emailed to the contact's address (DeviceLink); only a verified device
    sees what the contact did elsewhere. See server/devices.py."""

    __tablename__ = "devices"
    __table_args__ = (Index("ix_devices_tenant_contact", "photographer_id", "contact_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    photographer_id: Mapped[int] = tenant_fk(index=False)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    #: The name typed in this browser: what its gallery page calls the visitor until it is
    #: verified (the contact's own name is not shown to an unverified browser).
    name: Mapped[str] = mapped_column(String(120), default="")
    verified_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    user_agent: Mapped[str] = mapped_column(String(200), default="")


class DeviceLink(Base):
    """A one-time "continue on this device" link: only the token's sha256 is stored."""

    __tablename__ = "device_links"
    id: Mapped[int] = mapped_column(primary_key=True)
    photographer_id: Mapped[int] = tenant_fk()
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class DeviceFavorite(Base):
    """An unverified device favorited an image its contact had already favorited elsewhere:
    the contact's favorites don't change, but this device sees the heart it set (and only
    what it set), so its view never tells which images the contact had chosen."""

    __tablename__ = "device_favorites"
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"),
                                           primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"),
                                          primary_key=True)


def device_fk() -> Mapped[int | None]:
    """Which browser did it (None: before devices existed)."""
    return mapped_column(ForeignKey("devices.id", ondelete="SET NULL"))


class Event(Base):
    """A client gallery."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(primary_key=True)
    photographer_id: Mapped[int] = tenant_fk()
    title: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    gallery_type_id: Mapped[int | None] = mapped_column(
        ForeignKey("gallery_types.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(20), default="draft")  # draft | released
    event_date: Mapped[datetime | None]
    released_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    password_hash: Mapped[str | None] = mapped_column(String(200))
    download_single: Mapped[bool] = mapped_column(Boolean, default=True)
    download_bulk: Mapped[bool] = mapped_column(Boolean, default=True)
    download_size: Mapped[str] = mapped_column(String(20), default="original")  # original | web
    #: The sizes clients may pick from (server/downloads.py SIZES): a comma list in that
    #: order, e.g. "original,web". Supersedes download_size, kept only as the legacy value.
    download_sizes: Mapped[str] = mapped_column(String(40), default="original",
                                                server_default="original")
    download_pin: Mapped[str | None] = mapped_column(String(4))
    cover_image_id: Mapped[int | None] = mapped_column(Integer)
    #: The store: off, or this gallery's price list (None: its gallery type's).
    store_enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    price_list_id: Mapped[int | None] = mapped_column(
        ForeignKey("price_lists.id", ondelete="SET NULL"))
    #: Gallery Workflows: off, or this gallery's workflow (None: its gallery type's active
    #: one). See server/workflows/planner.py.
    workflows_off: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    workflow_id: Mapped[int | None] = mapped_column(
        ForeignKey("workflows.id", ondelete="SET NULL"))
    #: The gallery password as typed, for the {password} merge field of the clients' emails
    #: (it is a secret the clients are sent anyway); the hash above is what unlocks.
    client_password: Mapped[str | None] = mapped_column(String(100))
    #: How the gallery orders its photos: taken (capture time, from EXIF) | filename |
    #: manual (the photographer dragged them: Image.position).
    photo_order: Mapped[str] = mapped_column(String(10), default="taken",
                                             server_default="taken")
    #: A visible mark on the client gallery's thumbnails and previews (server/watermark.py):
    #: its text ("" = the studio's name), where it goes and its opacity in percent.
    watermark: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    watermark_text: Mapped[str] = mapped_column(String(60), default="", server_default="")
    watermark_position: Mapped[str] = mapped_column(String(12), default="center",
                                                    server_default="center")
    watermark_opacity: Mapped[int] = mapped_column(Integer, default=35, server_default="35")
    #: text | logo (the studio's brand logo, Settings → Brand; its name's text without one).
    watermark_kind: Mapped[str] = mapped_column(String(8), default="text",
                                                server_default="text")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or utcnow())

    def state(self, now: datetime | None = None) -> str:
        if self.status != "released":
            return "draft"
        return "expired" if self.is_expired(now) else "released"


class Image(Base):
    __tablename__ = "images"
    __table_args__ = (Index("ix_images_event_position", "event_id", "position"),
                      Index("ix_images_state", "state"))
    id: Mapped[int] = mapped_column(primary_key=True)
    photographer_id: Mapped[int] = tenant_fk()
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255))  # exactly as uploaded
    storage_key: Mapped[str] = mapped_column(String(255), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    width: Mapped[int] = mapped_column(Integer, default=0)
    height: Mapped[int] = mapped_column(Integer, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    #: When the camera took it (EXIF DateTimeOriginal, the camera's clock, kept as if UTC):
    #: for ordering only. None: the file did not say.
    taken_at: Mapped[datetime | None]
    #: The set (Ceremony, Reception …) it is shown in; None: in no set (server/image_sets.py).
    set_id: Mapped[int | None] = mapped_column(
        ForeignKey("image_sets.id", ondelete="SET NULL"), index=True)
    state: Mapped[str] = mapped_column(String(20), default="processing")  # processing|ready|failed
    error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The resize job's lease and retries (server/reconcile.py): a 'processing' row with no
    # lease waits for a job; one whose lease has passed belonged to a worker that died.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    leased_until: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]


class ImageSet(Base):
    """A set of a gallery's photos (Ceremony, Reception, Portraits …): the client sees each
    non-empty one as a tab. Sets only filter; the gallery's photo order stays."""

    __tablename__ = "image_sets"
    __table_args__ = (Index("ix_image_sets_event_position", "event_id", "position"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    photographer_id: Mapped[int] = tenant_fk()
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(60))
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Visit(Base):
    """One row per (event, contact): CREATED (first_at), LAST SAVED (last_at), and the
    per-column counts of the Activity report, kept in step by activity.record() in the
    same transaction as the action (so the report is one indexed query, not aggregation)."""

    __tablename__ = "visits"
    __table_args__ = (
        UniqueConstraint("event_id", "contact_id"),
        # A contact's rows (contact record, search results), newest first.
        Index("ix_visits_tenant_contact", "photographer_id", "contact_id", "last_at"),
        # One per sortable column of the report, so any sort reads a page, not the table.
        Index("ix_visits_tenant_last", "photographer_id", "last_at"),
        Index("ix_visits_tenant_first", "photographer_id", "first_at"),
        Index("ix_visits_tenant_favorites", "photographer_id", "favorites"),
        Index("ix_visits_tenant_comments", "photographer_id", "comments"),
        Index("ix_visits_tenant_single", "photographer_id", "single_downloads"),
        Index("ix_visits_tenant_bulk", "photographer_id", "bulk_downloads"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    photographer_id: Mapped[int] = tenant_fk(index=False)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    first_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_at: Mapped[datetime] = mapped_column(default=utcnow)
    count: Mapped[int] = mapped_column(Integer, default=1)
    favorites: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    comments: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    single_downloads: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    bulk_downloads: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: SAVED CART: the open cart's item count, value (minor units) and stage.
    cart_items: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cart_value: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cart_stage: Mapped[str] = mapped_column(String(20), default="", server_default="")


class Favorite(Base):
    __tablename__ = "favorites"
    __table_args__ = (UniqueConstraint("image_id", "contact_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    photographer_id: Mapped[int] = tenant_fk()
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    note: Mapped[str] = mapped_column(String(500), default="")
    device_id: Mapped[int | None] = device_fk()
    # Loaded with the row (one join): the panel marks what came from unverified browsers.
    device: Mapped[Device | None] = relationship(lazy="joined", viewonly=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Comment(Base):
    __tablename__ = "comments"
    __table_args__ = (Index("ix_comments_thread", "image_id", "contact_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    photographer_id: Mapped[int] = tenant_fk()
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    author: Mapped[str] = mapped_column(String(20), default="client")  # client | photographer
    body: Mapped[str] = mapped_column(Text)
    read_by_photographer: Mapped[bool] = mapped_column(Boolean, default=False)
    read_by_client: Mapped[bool] = mapped_column(Boolean, default=True)
    device_id: Mapped[int | None] = device_fk()
    # Loaded with the row (one join): the panel marks what came from unverified browsers.
    device: Mapped[Device | None] = relationship(lazy="joined", viewonly=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Download(Base):
    __tablename__ = "downloads"
    id: Mapped[int] = mapped_column(primary_key=True)
    photographer_id: Mapped[int] = tenant_fk()
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    image_id: Mapped[int | None] = mapped_column(ForeignKey("images.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(10))  # single | bulk
    scope: Mapped[str] = mapped_column(String(20), default="image")  # image | all | favorites
    size: Mapped[str] = mapped_column(String(20), default="original")
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    file_count: Mapped[int] = mapped_column(Integer, default=1)
    device_id: Mapped[int | None] = device_fk()
    # Loaded with the row (one join): the panel marks what came from unverified browsers.
    device: Mapped[Device | None] = relationship(lazy="joined", viewonly=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ActivityEvent(Base):
    """Append-only log; (photographer_id, seq) has no gaps (see server/activity.py)."""

    __tablename__ = "activity_events"
    __table_args__ = (
        UniqueConstraint("photographer_id", "seq"),
        # A contact's timeline, newest first, without walking the tenant's whole log.
        Index("ix_activity_contact", "photographer_id", "contact_id", "seq"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    photographer_id: Mapped[int] = tenant_fk(index=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboundEmail(Base):
    """Every email the system sends: the mail log. Queued rows are sent by an arq job."""

    __tablename__ = "outbound_emails"
    __table_args__ = (Index("ix_outbound_tenant_created", "photographer_id", "created_at"),
                      Index("ix_outbound_emails_state", "state"))
    id: Mapped[int] = mapped_column(primary_key=True)
    photographer_id: Mapped[int] = tenant_fk()
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(40))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text, default="")
    # queued -> sending (leased) -> sent | stored | queued again (backoff) | failed
    state: Mapped[str] = mapped_column(String(20), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    provider_message_id: Mapped[str | None] = mapped_column(String(300))
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    leased_until: Mapped[datetime | None]  # while `sending`: after this, taken back
    next_attempt_at: Mapped[datetime | None]  # while `queued` after a failure: the backoff


# The store's tables join the same metadata (migrations, create_all).
from .store import models as _store_models  # noqa: E402, F401
from .workflows import models as _workflow_models  # noqa: E402, F401
