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

The pictures are drawn with Pillow (sky gradients, hills, a sun, a few figures) so each
looks different and thumbnails are worth looking at; names follow camera conventions.
"""

from __future__ import annotations

import io
import logging
import random
import re
from dataclasses import dataclass
from datetime import timedelta

from PIL import Image, ImageDraw, ImageFilter
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import auth, comments, conversations, devices, downloads, favorites, galleries, uploads
from .db import Database
from .errors import DomainError
from .galleries import EventForm
from .media import MediaStore
from .models import (
    Contact,
    Device,
    Event,
    GalleryType,
    OutboundEmail,
    Photographer,
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
    if created:
        account = await auth.new_account(email=DEMO_EMAIL, name="Avery Stone",
                                         password=DEMO_PASSWORD)  # hashed before the unit
        me_id, types = await db.write(_demo_account, account)
        for index, (title, kind, prefix, start, count) in enumerate(GALLERIES):
            await _seed_gallery(db, media, me_id, types[kind], title, kind, prefix, start,
                                count if photos is None else min(count, photos), index,
                                max_pixels)
    await seed_visitors(db, media, me_id, base_url)
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
        download_single=True, download_bulk=index != 2, download_size="original",
    )
    event = await db.write(_released_gallery, photographer_id, form, kind)
    for n in range(count):
        data = draw_photo(start + n, kind)
        image = await uploads.upload(db, media, photographer_id, event.id,
                                     filename=f"{prefix}{start + n}.jpg", data=data,
                                     max_pixels=max_pixels)
        await uploads.process(db, media, image.id)


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
                        base_url: str) -> int:
    """Each demo visitor's activity, once: returns how many visitors acted this time."""
    found = await _demo_galleries(db, photographer_id)
    acted, number = 0, 0
    for kind, names in VISITORS.items():
        for name in names:
            number += 1
            if kind not in found:
                continue  # the photographer deleted or renamed that gallery
            try:
                acted += await _visit(db, media, found[kind], name, number, base_url)
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
                 base_url: str) -> int:
    """One visitor's script, a unit of work per step as their browser would make them.
    Deterministic per visitor, so the demo looks the same on every machine."""
    event, rnd = gallery.event, random.Random(number)
    email = visitor_email(name)
    guest = await db.write(_gate, event.id, email, name, base_url, number % 4 != 3)
    if guest is None:
        return 0  # seeded before
    images = gallery.images
    loved = rnd.sample(images, min(len(images), rnd.randint(3, 16)))
    await db.write(_favorite, event.id, guest, [i.id for i in loved])
    kind = next(k for title, k, *_ in GALLERIES if title == event.title)
    if number % 2 == 1:
        for image in loved[:rnd.randint(1, 2)]:
            await db.write(_comment, event.id, guest, image.id, rnd.choice(COMMENTS[kind]))
            if number % 3 != 1:  # some wait for an answer: the inbox has unread threads
                await db.write(_reply, guest, image.id, rnd.choice(REPLIES), base_url)
    if number % 3 == 0 and event.download_single:
        await _downloads(db, media, event, guest, loved[:rnd.randint(1, 3)])
    if number % 5 == 0 and event.download_bulk:
        await _bulk_download(db, media, event, guest, loved)
    plan = CART_PLAN[number % len(CART_PLAN)]
    if plan is not None:
        await _shop(db, event.id, guest, [i.id for i in loved], plan, base_url, rnd)
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
                     images: list[GalleryImage]) -> None:
    for image in images:
        file = downloads.single_file(media, event, image)  # disk: outside the unit

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
                base_url: str, rnd: random.Random) -> None:
    """Fill a cart and take it as far as `plan`: a checkout stage or an order's state."""
    lines = rnd.sample(CART_LINES, rnd.randint(1, 3))
    await db.write(_fill_cart, event_id, guest, image_ids, lines)
    if plan == "cart":
        return
    await db.write(_cart_step, event_id, guest, "details")
    if plan == "details":
        return
    if rnd.random() < 0.5:
        await db.write(_cart_step, event_id, guest, "coupon")
    version = await db.write(_cart_step, event_id, guest, "review")
    if plan == "review":
        return
    order_id = await db.write(_place, event_id, guest, version, base_url)
    steps = {"placed": [], "paid": ["paid"], "shipped": ["paid", "shipped"]}[plan]
    for state in steps:
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
