"""Demo data: a photographer and three released galleries of generated photographs, with
the store (a starter price list, a coupon) and Gallery Workflows (the three templates,
active, and sending rules) set up.

The pictures are drawn with Pillow (sky gradients, hills, a sun, a few figures) so each
looks different and thumbnails are worth looking at; names follow camera conventions.
"""

from __future__ import annotations

import io
import random
from datetime import timedelta

from PIL import Image, ImageDraw, ImageFilter
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import auth, galleries, uploads
from .db import Database
from .galleries import EventForm
from .media import MediaStore
from .models import Event, GalleryType, Photographer, utcnow
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


async def seed(db: Database, media: MediaStore, max_pixels: int) -> tuple[str, str, bool]:
    """Create the demo account and galleries once; returns (email, password, created)."""
    async with db.reader() as session:
        if await session.scalar(select(Photographer.id).where(Photographer.email == DEMO_EMAIL)):
            return DEMO_EMAIL, DEMO_PASSWORD, False
    account = await auth.new_account(email=DEMO_EMAIL, name="Avery Stone",
                                     password=DEMO_PASSWORD)  # hashed before the unit
    me_id, types = await db.write(_demo_account, account)
    for index, (title, kind, prefix, start, count) in enumerate(GALLERIES):
        await _seed_gallery(db, media, me_id, types[kind], title, kind, prefix, start, count,
                            index, max_pixels)
    return DEMO_EMAIL, DEMO_PASSWORD, True


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
