"""The Activity report: one row per (contact, event) with activity, and its detail tabs.

The list reads the Visit rows, whose counters activity.record() keeps in step, so a page of
the report is a single indexed query whatever the size of the activity log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from . import activity
from .errors import NotFound
from .models import ActivityEvent, Comment, Contact, Download, Event, Favorite, Image, Visit
from .store.models import Order

SORTS = {
    "name": Contact.name,
    "email": Contact.email,
    "event": Event.title,
    "favorites": Visit.favorites,
    "comments": Visit.comments,
    "single": Visit.single_downloads,
    "bulk": Visit.bulk_downloads,
    "created": Visit.first_at,
    "last": Visit.last_at,
    "cart": Visit.cart_value,
}
PER_PAGE = 50


@dataclass
class ReportRow:
    visit_id: int
    contact_id: int
    name: str
    email: str
    event_id: int
    event_title: str
    favorites: int
    comments: int
    single_downloads: int
    bulk_downloads: int
    created: datetime
    last_saved: datetime
    #: SAVED CART: the open cart's item count, value (minor units) and checkout stage,
    #: kept in step by server/store/carts.changed().
    cart_items: int = 0
    cart_value: int = 0
    cart_stage: str = ""

    def as_json(self) -> dict:
        data = dict(self.__dict__)
        data["created"] = self.created.isoformat()
        data["last_saved"] = self.last_saved.isoformat()
        return data


@dataclass
class ReportPage:
    rows: list[ReportRow]
    total: int
    page: int
    pages: int
    sort: str
    direction: str


def _filtered(photographer_id: int, event_id: int | None, q: str | None, contact_id=None):
    query = (
        # Columns, not Visit entities: a page of plain rows skips the ORM's identity map.
        select(Visit.id, Visit.contact_id, Contact.name, Contact.email, Visit.event_id,
               Event.title, Visit.favorites, Visit.comments, Visit.single_downloads,
               Visit.bulk_downloads, Visit.first_at, Visit.last_at, Visit.cart_items,
               Visit.cart_value, Visit.cart_stage)
        .join(Contact, Contact.id == Visit.contact_id)
        .join(Event, Event.id == Visit.event_id)
        .where(Visit.photographer_id == photographer_id)
    )
    if event_id:
        query = query.where(Visit.event_id == event_id)
    if contact_id:
        query = query.where(Visit.contact_id == contact_id)
    q = (q or "").strip().lower()
    if q:
        # The search box is literal text: % and _ must not act as LIKE wildcards.
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        # Matching contacts first, then their visits: a scan of the (small) contacts table
        # and index lookups, instead of walking every visit to test its contact.
        matching = select(Contact.id).where(
            Contact.photographer_id == photographer_id,
            or_(func.lower(Contact.name).like(like, escape="\\"),
                func.lower(Contact.email).like(like, escape="\\")))
        query = query.where(Visit.contact_id.in_(matching))
    return query


async def report(
    session: AsyncSession, photographer_id: int, *, event_id: int | None = None,
    q: str | None = None, sort: str = "last", direction: str = "desc", page: int = 1,
    per_page: int = PER_PAGE,
) -> ReportPage:
    sort = sort if sort in SORTS else "last"
    direction = "asc" if direction == "asc" else "desc"
    q = (q or "")[:100]
    query = _filtered(photographer_id, event_id, q)
    total = await _count(session, photographer_id, event_id, query if q.strip() else None)
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    column = SORTS[sort]
    order = column.asc() if direction == "asc" else column.desc()
    result = await session.execute(
        query.order_by(order, Visit.id.desc()).limit(per_page).offset((page - 1) * per_page)
    )
    rows = [ReportRow(*r) for r in result.all()]
    return ReportPage(rows, total, page, pages, sort, direction)


async def _count(session: AsyncSession, photographer_id: int, event_id: int | None,
                 searched) -> int:
    """Rows in the report. Unsearched, the visits alone say it (every visit has its contact
    and gallery): an index count instead of counting a three-table join."""
    if searched is not None:
        return await session.scalar(select(func.count()).select_from(searched.subquery()))
    query = select(func.count()).select_from(Visit).where(Visit.photographer_id == photographer_id)
    if event_id:
        query = query.where(Visit.event_id == event_id)
    return await session.scalar(query)


async def report_row(session: AsyncSession, photographer_id: int, event_id: int,
                     contact_id: int) -> ReportRow | None:
    result = await session.execute(
        _filtered(photographer_id, event_id, None, contact_id=contact_id)
    )
    found = result.first()
    return ReportRow(*found) if found else None


async def contact_rows(session: AsyncSession, photographer_id: int,
                       contact_id: int) -> list[ReportRow]:
    result = await session.execute(
        _filtered(photographer_id, None, None, contact_id=contact_id).order_by(
            Visit.last_at.desc())
    )
    return [ReportRow(*r) for r in result.all()]


@dataclass
class Detail:
    contact: Contact
    event: Event
    row: ReportRow


async def detail(session: AsyncSession, photographer_id: int, event_id: int,
                 contact_id: int) -> Detail:
    row = await report_row(session, photographer_id, event_id, contact_id)
    if row is None:
        raise NotFound("No activity for this contact in this gallery.")
    contact = await session.get(Contact, contact_id)
    event = await session.get(Event, event_id)
    return Detail(contact, event, row)


async def favorites_of(session: AsyncSession, photographer_id: int, event_id: int,
                       contact_id: int) -> list[tuple[Favorite, Image]]:
    result = await session.execute(
        select(Favorite, Image)
        .join(Image, Image.id == Favorite.image_id)
        .where(Favorite.photographer_id == photographer_id, Favorite.event_id == event_id,
               Favorite.contact_id == contact_id)
        .order_by(Image.position, Image.id)
    )
    return [tuple(r) for r in result.all()]


async def comments_of(session: AsyncSession, photographer_id: int, event_id: int,
                      contact_id: int) -> list[tuple[Comment, Image]]:
    result = await session.execute(
        select(Comment, Image)
        .join(Image, Image.id == Comment.image_id)
        .where(Comment.photographer_id == photographer_id, Comment.event_id == event_id,
               Comment.contact_id == contact_id)
        .order_by(Comment.created_at.desc(), Comment.id.desc())
    )
    return [tuple(r) for r in result.all()]


async def downloads_of(session: AsyncSession, photographer_id: int, event_id: int,
                       contact_id: int) -> list[tuple[Download, Image | None]]:
    result = await session.execute(
        select(Download, Image)
        .outerjoin(Image, Image.id == Download.image_id)
        .where(Download.photographer_id == photographer_id, Download.event_id == event_id,
               Download.contact_id == contact_id)
        .order_by(Download.created_at.desc(), Download.id.desc())
    )
    return [tuple(r) for r in result.all()]


async def orders_of(session: AsyncSession, photographer_id: int, event_id: int,
                    contact_id: int) -> list[Order]:
    """The SAVED CART tab: the contact's orders in this gallery, newest first."""
    return list(await session.scalars(
        select(Order).where(Order.photographer_id == photographer_id,
                            Order.event_id == event_id, Order.contact_id == contact_id)
        .order_by(Order.placed_at.desc(), Order.id.desc())))


async def timeline(session: AsyncSession, photographer_id: int, contact_id: int,
                   limit: int = 100) -> list[tuple[ActivityEvent, str | None]]:
    result = await session.execute(
        select(ActivityEvent, Event.title)
        .outerjoin(Event, Event.id == ActivityEvent.event_id)
        .where(ActivityEvent.photographer_id == photographer_id,
               ActivityEvent.contact_id == contact_id)
        .order_by(ActivityEvent.seq.desc())
        .limit(limit)
    )
    return [tuple(r) for r in result.all()]


async def recent(session: AsyncSession, photographer_id: int, limit: int = 30) -> list[dict]:
    """The live feed's first screen: the newest envelopes, newest first."""
    newest = await activity.latest_seq(session, photographer_id)
    items = await activity.since(session, photographer_id, max(0, newest - limit), limit)
    return list(reversed(items))
