"""Demo data: a photographer and three released galleries of generated photographs, with
the store (a starter price list, a coupon) and Gallery Workflows (the three templates,
active, and sending rules) set up, and the galleries' visitors: a few dozen contacts who
passed the email gate and favorited, commented (some answered by the photographer),
downloaded, filled carts to every checkout stage and placed orders.

The visitors act through the same service functions the routes call, one unit of work per
step, so every action is an ActivityEvent with its seq and moves the Activity report, the
dashboard, the comments inbox and the workflows' per-visitor emails exactly as a real
client would. Seeding is idempotent (`serve --demo` runs it on every start): a visitor who
already has a device (passed the gate) is left alone.

It reads like a real history, not a burst of "just now": the story spans about three weeks
(the school gallery first, the wedding last, its final visitor minutes ago), each visitor's
favorites, comments, the photographer's answer hours later, downloads, cart and order
following one another. The script runs in seconds; a `Clock` notes when each step ran and
when it happened in the story, then moves every timestamp the steps wrote (`_backdate`).

The pictures are drawn with Pillow (sky gradients, hills, a sun, a few figures) so each
looks different and thumbnails are worth looking at; names follow camera conventions.
"""

from __future__ import annotations

import io
import logging
import random
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from PIL import Image, ImageDraw, ImageFilter
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import (
    auth,
    comments,
    conversations,
    devices,
    downloads,
    favorites,
    galleries,
    image_sets,
    uploads,
)
from .db import Database
from .errors import DomainError
from .galleries import EventForm
from .media import MediaStore
from .models import (
    Base,
    Contact,
    Device,
    Event,
    GalleryType,
    OutboundEmail,
    Photographer,
    UTCDateTime,
    utcnow,
)
from .models import Image as GalleryImage
from .public import Guest
from .store import carts, orders, payments
from .store.models import Coupon, StoreSettings
from .store.starter import add_starter_price_list
from .workflows import builder, clients, presets
from .workflows.models import SendingRules

DEMO_EMAIL = "demo@proofroom.app"
DEMO_PASSWORD = "proofroom-demo"

PALETTES = {
    "Wedding": [((250, 214, 196), (126, 154, 188)), ((255, 236, 210), (190, 140, 160)),
                ((242, 226, 214), (140, 170, 150))],
    "Portrait": [((60, 70, 90), (210, 170, 140)), ((30, 30, 36), (190, 120, 90)),
                 ((120, 140, 160), (230, 220, 200))],
    "School": [((120, 180, 230), (250, 250, 235)), ((90, 160, 120), (240, 230, 180)),
               ((230, 120, 90), (250, 220, 160))],
}
GALLERIES = [
    ("Emma & Daniel — Wedding at Lakeview Manor", "Wedding", "IMG_", 4801, 48),
    ("The Alvarez Family Portraits", "Portrait", "DSC_", 2210, 42),
    ("Maple Grove Elementary — Picture Day", "School", "_MG_", 7340, 44),
]
#: Each gallery's client contacts (Clients card): the people its workflow emails.
CLIENTS = {
    "Wedding": [("Emma Carter", "emma.carter@example.com"),
                ("Daniel Reyes", "daniel.reyes@example.com")],
    "Portrait": [("Sofia Alvarez", "sofia.alvarez@example.com")],
    "School": [("Room 4 Parents", "room4.parents@example.com")],
}


def draw_photo(seed: int, kind: str, size: tuple[int, int] = (1800, 1200)) -> bytes:
    rnd = random.Random(seed)
    top, bottom = rnd.choice(PALETTES[kind])
    w, h = size if rnd.random() > 0.3 else (size[1], size[0])
    mask = Image.linear_gradient("L").resize((w, h))
    img = Image.composite(Image.new("RGB", (w, h), bottom), Image.new("RGB", (w, h), top), mask)
    d = ImageDraw.Draw(img, "RGBA")
    sun_x, sun_y, r = rnd.randint(0, w), rnd.randint(0, h // 3), rnd.randint(h // 14, h // 7)
    d.ellipse((sun_x - r, sun_y - r, sun_x + r, sun_y + r), fill=(255, 245, 220, 170))
    for layer in range(3):
        shade = tuple(max(0, c - 40 - layer * 30) for c in bottom) + (200,)
        base = h * (0.55 + layer * 0.12)
        pts = [(0, h)] + [(x, base + rnd.randint(-h // 10, h // 10))
                          for x in range(0, w + 200, w // 6)] + [(w, h)]
        d.polygon(pts, fill=shade)
    for _ in range(rnd.randint(1, 4)):  # people, roughly
        x, fh = rnd.randint(w // 6, 5 * w // 6), rnd.randint(h // 4, h // 2)
        color = (rnd.randint(20, 90), rnd.randint(20, 90), rnd.randint(30, 100), 235)
        d.ellipse((x - fh // 10, h - fh - fh // 5, x + fh // 10, h - fh), fill=color)
        d.rounded_rectangle((x - fh // 6, h - fh, x + fh // 6, h), radius=fh // 10, fill=color)
    img = img.filter(ImageFilter.GaussianBlur(1.2))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=82)
    return out.getvalue()


async def seed(db: Database, media: MediaStore, max_pixels: int,
               base_url: str = "http://127.0.0.1:8000",
               photos: int | None = None) -> tuple[str, str, bool]:
    """Create the demo account and galleries once, then their visitors' activity (each
    visitor once); returns (email, password, created). `photos`: at most this many per
    gallery (tests; the demo has 42-48)."""
    async with db.reader() as session:
        me_id = await session.scalar(
            select(Photographer.id).where(Photographer.email == DEMO_EMAIL))
    created = me_id is None
    clock, acted = Clock(), 0
    if created:
        account = await auth.new_account(email=DEMO_EMAIL, name="Avery Stone",
                                         password=DEMO_PASSWORD)  # hashed before the unit
        clock.mark("account")
        me_id, types = await db.write(_demo_account, account)
    # In story order (the school's first): each gallery (the first time), then its
    # visitors, so that seq and time agree.
    for index, (title, kind, prefix, start, count) in sorted(
            enumerate(GALLERIES), key=lambda item: -STORY[item[1][1]][0]):
        if created:
            clock.mark(kind)
            await _seed_gallery(db, media, me_id, types[kind], title, kind, prefix, start,
                                count if photos is None else min(count, photos), index,
                                max_pixels)
        acted += await seed_visitors(db, media, me_id, base_url, clock, kind)
    if acted or created:
        await db.write(_backdate, me_id, clock.story())
    return DEMO_EMAIL, DEMO_PASSWORD, created


def _demo_account(session: Session, account: auth.NewAccount) -> tuple[int, dict[str, int]]:
    """The demo photographer (unit of work): their id and gallery type ids by name."""
    me = auth.sign_up(session, account)
    me.business_name = "Avery Stone Photography"
    types = list(session.scalars(select(GalleryType).where(GalleryType.photographer_id == me.id)))
    # The store: a starter price list behind every gallery type, shipping, a welcome coupon.
    prices = add_starter_price_list(session, me.id)
    for gallery_type in types:
        gallery_type.price_list_id = prices.id
    session.add(StoreSettings(photographer_id=me.id, currency="USD", tax_rate_bp=0,
                              shipping_flat=800, free_shipping_over=15000))
    session.add(Coupon(photographer_id=me.id, code="WELCOME10", kind="percent", amount=10))
    session.flush()
    _demo_workflows(session, me.id, {t.name: t.id for t in types})
    return me.id, {t.name: t.id for t in types}


def _demo_workflows(session: Session, photographer_id: int, types: dict[str, int]) -> None:
    """Sending rules (09:00, quiet 21:00-08:00) and the three templates, each active for
    its gallery type; before any gallery exists, so releasing them plans their emails."""
    session.add(SendingRules(photographer_id=photographer_id, timezone="UTC",
                             send_minute=9 * 60, quiet_start=21 * 60, quiet_end=8 * 60))
    for key, template in presets.PRESETS.items():
        form = builder.WorkflowForm(name=template["name"], description=template["description"],
                                    gallery_type_id=types[template["gallery_type"]],
                                    active=True)
        builder.create_workflow(session, photographer_id, form, key)


def _released_gallery(session: Session, photographer_id: int, form: EventForm,
                      kind: str) -> Event:
    """A new gallery with its clients, released at once (unit of work)."""
    event = galleries.new_event(session, photographer_id, form)
    for name, email in CLIENTS[kind]:
        clients.add_client(session, photographer_id, event.id, name=name, email=email)
    return galleries.change_status(session, photographer_id, event.id, "released")


async def _seed_gallery(db, media, photographer_id, type_id, title, kind, prefix, start, count,
                        index, max_pixels) -> None:
    form = EventForm(
        title=title, gallery_type_id=str(type_id),
        expires_on=(utcnow() + timedelta(days=60 + 30 * index)).date().isoformat(),
        event_date=(utcnow() - timedelta(days=7 + 10 * index)).date().isoformat(),
        download_single=True, download_bulk=index != 2,
        # The wedding lets its clients pick a size (a menu on each download button).
        download_sizes=["original", "high", "web"] if index == 0 else ["original"],
    )
    event = await db.write(_released_gallery, photographer_id, form, kind)
    for n in range(count):
        data = draw_photo(start + n, kind)
        image = await uploads.upload(db, media, photographer_id, event.id,
                                     filename=f"{prefix}{start + n}.jpg", data=data,
                                     max_pixels=max_pixels)
        await uploads.process(db, media, image.id)
    if kind in DEMO_SETS:
        await db.write(_demo_sets, photographer_id, event.id, DEMO_SETS[kind])


#: The wedding comes in chapters, as a wedding photographer delivers it: (set, photos).
DEMO_SETS = {"Wedding": [("Getting ready", 10), ("Ceremony", 14), ("Portraits", 12),
                         ("Reception", 12)]}


def _demo_sets(session: Session, photographer_id: int, event_id: int,
               chapters: list[tuple[str, int]]) -> None:
    """The gallery's photos, in file name order, split into its sets in proportion (a
    demo seeded with fewer photos still has every set; unit of work)."""
    ids = list(session.scalars(select(GalleryImage.id).where(
        GalleryImage.event_id == event_id).order_by(GalleryImage.filename)))
    total, start, upto = sum(count for _, count in chapters), 0, 0
    for name, count in chapters:
        upto += count
        end = round(len(ids) * upto / total)
        chosen, start = ids[start:end], end
        if chosen:
            made = image_sets.create_set(session, photographer_id, event_id, name)
            image_sets.move_images(session, photographer_id, event_id, chosen, made.id)


# --- The galleries' visitors -------------------------------------------------------------

#: Who visits each gallery (its clients first); their emails are derived from the names.
VISITORS = {
    "Wedding": ["Emma Carter", "Daniel Reyes", "Margaret Carter", "Olivia Bennett", "Noah Kim",
                "Priya Shah", "Lucas Moreau", "Hannah Reyes", "Grace O'Neill", "Tom Whitaker"],
    "Portrait": ["Sofia Alvarez", "Marco Alvarez", "Lucia Alvarez", "Carmen Ruiz",
                 "Diego Alvarez", "Isabel Ortega", "Ana Torres", "Rafael Mendes"],
    "School": ["Jessica Nguyen", "Michael Brooks", "Aisha Rahman", "Kevin O'Brien",
               "Laura Fischer", "Samir Haddad", "Rachel Green", "Chris Park", "Mei Tanaka",
               "Jordan Hayes"],
}
COMMENTS = {
    "Wedding": ["Can we get this one in black and white?", "This is the one for the album!",
                "Could you soften the shadow on my dress here?",
                "Grandma will love this, can we order a big print?"],
    "Portrait": ["Love this! Could you brighten it a little?",
                 "Can you crop this one square for Instagram?",
                 "Is there a version where Diego has his eyes open?"],
    "School": ["Could we swap the background to the blue one?", "Is a retake possible for Liam?",
               "Can this one be printed as a wallet size?"],
}
REPLIES = ["Of course! I'll send the edited version within the week.",
           "Great choice. It's on my list for the album layout.",
           "Absolutely, I'll take care of it and let you know when it's ready."]
#: Where each visitor's cart ends up, in turn: None (no cart), a checkout stage, or an
#: order's state (placed, then moved on by the photographer).
CART_PLAN = ["cart", None, "review", "details", "placed", None, "cart", "paid", "shipped"]
#: Cart lines: (price item name, option choices).
CART_LINES = [("5x7 print", {"Paper": "Lustre"}), ("8x10 print", {"Paper": "Metallic"}),
              ("Digital file — web size", {}),
              ("Gallery canvas", {"Size": "12x18", "Frame": "Black float frame"})]
USER_AGENT = "Mozilla/5.0 (demo visitor)"
#: Each gallery's visitors arrive between these many days ago (the story's windows: the
#: school's picture day first, the wedding last; its last visitor is moved to just now).
STORY = {"School": (23, 15), "Portrait": (14, 7), "Wedding": (5, 0.5)}
#: Story time the account and galleries come before their first visitor.
LEAD = {"account": timedelta(days=3), "gallery": timedelta(hours=20)}
#: Columns that are not history (leases, retries, expiries): never moved.
NOT_HISTORY = {"leased_until", "next_attempt_at", "expires_at", "event_date"}
_VERIFY_LINK = re.compile(r"/verify/([A-Za-z0-9_-]+)")
log = logging.getLogger(__name__)


def visitor_email(name: str) -> str:
    return name.lower().replace("'", "").replace(" ", ".") + "@example.com"


@dataclass(frozen=True)
class Gallery:
    """A demo gallery as the visitors' script needs it (read once, outside the units)."""

    event: Event
    images: list[GalleryImage]


async def seed_visitors(db: Database, media: MediaStore, photographer_id: int,
                        base_url: str, clock: Clock, kind: str) -> int:
    """Each visitor of the `kind` gallery acts, once: returns how many acted this time.
    They arrive spread over the gallery's window of the story, one after the other."""
    found = await _demo_galleries(db, photographer_id)
    if kind not in found:
        return 0  # the photographer deleted or renamed that gallery
    # A visitor's number picks their script: fixed by their place in VISITORS.
    numbers = {name: n for n, name in enumerate(
        (name for names in VISITORS.values() for name in names), start=1)}
    names, acted = VISITORS[kind], 0
    first, last = (utcnow() - timedelta(days=d) for d in STORY[kind])
    for index, name in enumerate(names):
        planned = first + (last - first) * index / len(names)
        clock.at(max(planned, (clock.now or planned) + timedelta(minutes=25)), kind)
        try:
            acted += await _visit(db, media, found[kind], name, numbers[name], base_url,
                                  clock)
        except DomainError as exc:  # the photographer changed prices, coupons…
            log.warning("demo visitor %s stopped early: %s", name, exc)
    return acted


async def _demo_galleries(db: Database, photographer_id: int) -> dict[str, Gallery]:
    titles = {title: kind for title, kind, *_ in GALLERIES}
    async with db.reader() as session:
        events = await session.scalars(select(Event).where(
            Event.photographer_id == photographer_id, Event.title.in_(titles)))
        found = {}
        for event in events:
            images = await uploads.list_images(session, photographer_id, event.id,
                                               ready_only=True)
            if images:
                found[titles[event.title]] = Gallery(event, images)
    return found


async def _visit(db: Database, media: MediaStore, gallery: Gallery, name: str, number: int,
                 base_url: str, clock: Clock) -> int:
    """One visitor's script, a unit of work per step as their browser would make them,
    each step a little (or, for the photographer's part, hours) after the one before.
    Deterministic per visitor, so the demo looks the same on every machine."""
    event, rnd = gallery.event, random.Random(number)
    clock.rnd = random.Random(f"story-{number}")  # its own: the script's draws stay as they were
    email = visitor_email(name)
    guest = await db.write(_gate, event.id, email, name, base_url, number % 4 != 3)
    if guest is None:
        return 0  # seeded before
    images = gallery.images
    loved = rnd.sample(images, min(len(images), rnd.randint(3, 16)))
    for image in loved:  # browsing: a favorite every minute or so
        clock.after(20, 150)
        await db.write(_favorite, event.id, guest, [image.id])
    kind = next(k for title, k, *_ in GALLERIES if title == event.title)
    if number % 2 == 1:
        for image in loved[:rnd.randint(1, 2)]:
            clock.after(60, 600)
            await db.write(_comment, event.id, guest, image.id, rnd.choice(COMMENTS[kind]))
            if number % 3 != 1:  # some wait for an answer: the inbox has unread threads
                clock.after(2 * 3600, 9 * 3600)  # the photographer answers later that day
                await db.write(_reply, guest, image.id, rnd.choice(REPLIES), base_url)
    if number % 3 == 0 and event.download_single:
        await _downloads(db, media, event, guest, loved[:rnd.randint(1, 3)], clock)
    if number % 5 == 0 and event.download_bulk:
        clock.after(120, 900)
        await _bulk_download(db, media, event, guest, loved)
    plan = CART_PLAN[number % len(CART_PLAN)]
    if plan is not None:
        await _shop(db, event.id, guest, [i.id for i in loved], plan, base_url, rnd, clock)
    return 1


def _gate(session: Session, event_id: int, email: str, name: str, base_url: str,
          verify: bool) -> Guest | None:
    """The email gate (and, for most, the emailed link followed); None when this visitor
    already has a device: seeded before, so nothing is done twice."""
    event = session.get(Event, event_id)
    seen = session.scalar(
        select(Device.id).join(Contact, Contact.id == Device.contact_id)
        .where(Contact.photographer_id == event.photographer_id, Contact.email == email)
        .limit(1))
    if seen is not None:
        return None
    passed = devices.pass_gate(session, event, email=email, name=name, current=None,
                               user_agent=USER_AGENT, base_url=base_url)
    if not verify:
        return passed.guest
    body = session.scalar(
        select(OutboundEmail.body_text)
        .where(OutboundEmail.event_id == event.id, OutboundEmail.recipient == email,
               OutboundEmail.kind == "verify_device")
        .order_by(OutboundEmail.id.desc()).limit(1))
    token = _VERIFY_LINK.search(body or "")
    if token is None:
        return passed.guest
    return devices.use_link(session, event, token.group(1), current=passed.guest,
                            user_agent=USER_AGENT)


def _favorite(session: Session, event_id: int, guest: Guest, image_ids: list[int]) -> None:
    event = session.get(Event, event_id)
    for image_id in image_ids:
        favorites.toggle(session, event.id, event.title, guest, image_id, True)


def _comment(session: Session, event_id: int, guest: Guest, image_id: int, body: str) -> None:
    comments.add_client_comment(session, session.get(Event, event_id), guest, image_id, body)


def _reply(session: Session, guest: Guest, image_id: int, body: str, base_url: str) -> None:
    conversations.reply(session, guest.photographer_id, guest.contact_id, image_id, body,
                        client_present=True, base_url=base_url)


async def _downloads(db: Database, media: MediaStore, event: Event, guest: Guest,
                     images: list[GalleryImage], clock: Clock) -> None:
    for image in images:
        file = downloads.single_file(media, event, image)  # disk: outside the unit
        clock.after(30, 300)

        def record(session: Session, image_id: int = image.id,
                   file: downloads.FileDownload = file) -> None:
            downloads.record_single(session, session.get(Event, event.id), guest, image_id,
                                    file)

        await db.write(record)


async def _bulk_download(db: Database, media: MediaStore, event: Event, guest: Guest,
                         images: list[GalleryImage]) -> None:
    size = sum(downloads.single_file(media, event, image).size for image in images)

    def record(session: Session) -> None:
        downloads.record_bulk(session, session.get(Event, event.id), guest, "favorites",
                              len(images), size)

    await db.write(record)


async def _shop(db: Database, event_id: int, guest: Guest, image_ids: list[int], plan: str,
                base_url: str, rnd: random.Random, clock: Clock) -> None:
    """Fill a cart and take it as far as `plan`: a checkout stage or an order's state."""
    lines = rnd.sample(CART_LINES, rnd.randint(1, 3))
    clock.after(300, 2400)
    await db.write(_fill_cart, event_id, guest, image_ids, lines)
    if plan == "cart":
        return
    clock.after(60, 600)
    await db.write(_cart_step, event_id, guest, "details")
    if plan == "details":
        return
    if rnd.random() < 0.5:
        clock.after(20, 90)
        await db.write(_cart_step, event_id, guest, "coupon")
    clock.after(60, 300)
    version = await db.write(_cart_step, event_id, guest, "review")
    if plan == "review":
        return
    clock.after(30, 180)
    order_id = await db.write(_place, event_id, guest, version, base_url)
    steps = {"placed": [], "paid": ["paid"], "shipped": ["paid", "shipped"]}[plan]
    for state in steps:  # the studio's part: paid within hours, shipped the next day
        clock.after(3600, 6 * 3600) if state == "paid" else clock.after(16 * 3600, 30 * 3600)
        await db.write(orders.set_state, guest.photographer_id, order_id, state)


def _fill_cart(session: Session, event_id: int, guest: Guest, image_ids: list[int],
               lines: list[tuple[str, dict]]) -> None:
    event = session.get(Event, event_id)
    items = {item.name: item for item in carts.list_items(session, event).values()}
    for n, (name, choices) in enumerate(lines):
        if name in items:
            item = items[name]
            carts.add(session, event, guest, {
                "item_id": item.id, "choices": choices, "image_id": image_ids[n % len(image_ids)],
                "quantity": 1 if item.kind == "digital" else 1 + n % 2})


def _cart_step(session: Session, event_id: int, guest: Guest, step: str) -> int:
    """One checkout step; returns the cart's version after it."""
    event = session.get(Event, event_id)
    if step == "coupon":
        view = carts.apply_coupon(session, event, guest, "WELCOME10")
    elif step == "review":
        contact = session.get(Contact, guest.contact_id)
        view = carts.save_details(session, event, guest, {
            "name": contact.name, "email": contact.email, "phone": "555-0100",
            "line1": "12 Orchard Lane", "city": "Springfield", "region": "IL",
            "postal_code": "62701", "country": "US"})
    else:
        view = carts.set_stage(session, event, guest, step)
    return view["version"]


def _place(session: Session, event_id: int, guest: Guest, version: int, base_url: str) -> int:
    order = orders.place(session, session.get(Event, event_id), guest, version,
                         payments.DEFAULT, base_url)
    return order.id


# --- The story's time ----------------------------------------------------------------------


@dataclass
class Clock:
    """When each step of the seeding ran (real time) and when it happened in the story.

    A step's rows carry the real time they were written at, between the step's start and
    the next step's; `story()` pairs each step's start with its story time, and `_backdate`
    moves every such timestamp by its step's difference: order within a step and across
    steps is kept. The account and galleries are `mark`ed: their story time is set once
    their first visitor's is known (a while before it)."""

    anchors: list[tuple[datetime, datetime | None, str]] = field(default_factory=list)
    now: datetime | None = None
    rnd: random.Random = field(default_factory=lambda: random.Random(0))

    def mark(self, what: str) -> None:
        self.anchors.append((utcnow(), None, what))

    def at(self, when: datetime, what: str = "") -> None:
        self.now = when
        self.anchors.append((utcnow(), when, what))

    def after(self, low: float, high: float) -> None:
        """The next step, `low` to `high` seconds of story after the last one."""
        self.at(self.now + timedelta(seconds=self.rnd.uniform(low, high)))

    def story(self) -> list[tuple[datetime, datetime]]:
        """(real start, story time) per step, the last one a minute ago; the marked ones
        `LEAD` before the first visitor of theirs (the account before the first of all)."""
        timed = [(real, when, what) for real, when, what in self.anchors if when]
        if not timed:
            return []
        shift = utcnow() - timedelta(minutes=1) - max(when for _, when, _ in timed)
        first = {}
        for _, when, what in timed:
            first.setdefault(what, when)
        start = min(first.values())
        out: list[tuple[datetime, datetime]] = []
        for real, when, what in self.anchors:
            if when is None:
                when = (start - LEAD["account"] if what == "account"
                        else first.get(what, start) - LEAD["gallery"])
            if out:  # never before the step that ran before it: seq and time agree
                when = max(when, out[-1][1] - shift)
            out.append((real, when + shift))
        return out


def _backdate(session: Session, photographer_id: int,
              story: list[tuple[datetime, datetime]]) -> None:
    """Move the studio's timestamps written during the seeding to the story's time (unit
    of work): every table of the studio's, every history column (`NOT_HISTORY` aside).
    What lies before the seeding or after now (planned work) stays as it is."""
    if not story:
        return
    reals, end = [real for real, _ in story], utcnow()

    def moved(value: datetime | None) -> datetime | None:
        if value is None or not reals[0] <= value <= end:
            return value
        real, when = story[bisect_right(reals, value) - 1]
        return when + (value - real)

    for mapper in Base.registry.mappers:
        table = mapper.local_table
        if "photographer_id" not in table.c:
            continue
        columns = [prop.key for prop in mapper.column_attrs
                   if isinstance(prop.columns[0].type, UTCDateTime)
                   and prop.columns[0].name not in NOT_HISTORY]
        if not columns:
            continue
        cls = mapper.class_
        for row in session.scalars(select(cls).where(cls.photographer_id == photographer_id)):
            for key in columns:
                value = getattr(row, key)
                if moved(value) != value:
                    setattr(row, key, moved(value))
                    if key == "released_at":  # a gallery goes out a couple of days after
                        row.event_date = row.released_at - timedelta(days=2)
    me = session.get(Photographer, photographer_id)
    me.created_at = moved(me.created_at)
