"""`proofroom demo --simulate`: simulated clients acting live on a running Proofroom.

Each simulated client is a browser as far as the server can tell: its own cookie jar, the
gallery page fetched first (the CSRF token from its meta tag, the photos from its
gallery-data), the email gate passed, the page's live socket held open (so the dashboard
lists it under "viewing now"), then favorites, comments and cart changes sent with the
X-CSRF-Token header exactly as web/static/js/common.js sends them. Nothing touches the
database, so the photographer's dashboard and Activity page move the way they do for real
clients. One action every `interval` seconds; a new client arrives now and then (rarely
enough to stay under the gate's per-address limit), and a refused action is reported and
skipped, never fatal.

The demo account's dashboard has a "Simulate a client" button (server/routes/
demo_simulate.py) that runs this same `simulate` inside the web process against the app's
own BASE_URL for a couple of minutes (`start_live`). One run per studio across every web
process: a Redis key claimed with SET NX holds it (and says until when it runs); the run
checks the key before each action, so "Stop" from any process ends it, and a crashed
process leaves nothing stuck once the key's TTL runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import random
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy import Select, select
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from .demo import DEMO_EMAIL
from .models import Event, Photographer, utcnow

FIRST = ["Olivia", "Liam", "Ava", "Noah", "Mia", "Ethan", "Zoe", "Leo", "Chloe", "Mateo",
         "Nora", "Sam", "Ines", "Kai", "Ruby", "Omar"]
LAST = ["Chen", "Patel", "Garcia", "Novak", "Okafor", "Larsen", "Silva", "Duarte", "Kowalski",
        "Brennan", "Ito", "Haddad"]
COMMENTS = ["Love this one!", "Could we have this in black and white?",
            "This is my favorite of the whole set.", "Can you brighten this a little?",
            "Perfect for the living room wall.", "Is a square crop possible?"]
#: Actions a client already through the gate picks from, with their weights.
ACTIONS = {"favorite": 6, "unfavorite": 1, "comment": 2, "cart": 2, "checkout": 1}
#: A client leaves after about this many actions; at most this many are around at once.
STAY = (6, 14)
CROWD = 3
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
_GALLERY_DATA = re.compile(r'<script type="application/json" id="gallery-data">(.*?)</script>',
                           re.S)
_IMAGE_ID = re.compile(r'data-image-id="(\d+)"')
_TITLE = re.compile(r"<title>(.*?)</title>", re.S)


class Refused(Exception):
    """The server said no (throttled, gallery closed…): reported, then skipped."""


@dataclass
class SimulatedClient:
    """One visitor's browser in one gallery."""

    http: httpx.AsyncClient
    slug: str
    name: str
    email: str
    rnd: random.Random
    csrf: str = ""
    title: str = ""
    images: list[dict] = field(default_factory=list)
    favorites: set[int] = field(default_factory=set)
    passed: bool = False
    left: int = 0
    socket: ClientConnection | None = None
    listener: asyncio.Task | None = None

    async def arrive(self) -> str:
        """Open the gallery page and pass the email gate."""
        page = await self.http.get(f"/g/{self.slug}")
        _check(page)
        self.csrf = _meta_csrf(page.text)
        found = _TITLE.search(page.text)
        self.title = html.unescape(found.group(1)) if found else self.slug
        self.images = _gallery_images(page.text)
        if not self.images:
            raise Refused(f"/g/{self.slug} shows no photos")
        gate = await self._post(f"/g/{self.slug}/gate", {"email": self.email, "name": self.name})
        self.passed = True
        self.left = self.rnd.randint(*STAY)
        await self._open_socket(int(gate.get("seq") or 0))
        return "opened the gallery and passed the email gate"

    async def _open_socket(self, seq: int) -> None:
        """The page's live socket, as gallery_live.js opens it: while it is open the
        photographer's dashboard lists this client under "viewing now"."""
        base = str(self.http.base_url).rstrip("/")
        cookie = "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())
        try:
            self.socket = await connect(
                base.replace("http", "ws", 1) + f"/ws/gallery/{self.slug}",
                additional_headers={"Cookie": cookie, "Origin": base})
            await self.socket.send(json.dumps({"last_seq": seq}))
        except (OSError, WebSocketException):
            self.socket = None  # the client still acts; it just is not "viewing now"
            return
        self.listener = asyncio.create_task(self._listen(self.socket))

    @staticmethod
    async def _listen(socket: ClientConnection) -> None:
        # Read what the server pushes (replies, banners…), as the page does, so the
        # socket never counts as a slow consumer.
        with contextlib.suppress(WebSocketException):
            async for _ in socket:
                pass

    async def leave(self) -> None:
        if self.listener is not None:
            self.listener.cancel()
        if self.socket is not None:
            with contextlib.suppress(WebSocketException, OSError):
                await self.socket.close()
        await self.http.aclose()

    async def act(self) -> str:
        """One action, picked at random: what it was, in words."""
        self.left -= 1
        kind = self.rnd.choices(list(ACTIONS), weights=list(ACTIONS.values()))[0]
        if kind == "unfavorite" and self.favorites:
            image_id = self.rnd.choice(sorted(self.favorites))
            await self._post(f"/g/{self.slug}/images/{image_id}/favorite", {"on": False})
            self.favorites.discard(image_id)
            return f"removed a favorite ({self._filename(image_id)})"
        if kind == "comment":
            image = self.rnd.choice(self.images)
            body = self.rnd.choice(COMMENTS)
            await self._post(f"/g/{self.slug}/images/{image['id']}/comments", {"body": body})
            return f"commented on {image['filename']}: “{body}”"
        if kind in ("cart", "checkout"):
            return await self._shop(kind)
        image = self.rnd.choice(self.images)
        await self._post(f"/g/{self.slug}/images/{image['id']}/favorite", {"on": True})
        self.favorites.add(image["id"])
        return f"favorited {image['filename']}"

    async def _shop(self, kind: str) -> str:
        found = await self.http.get(f"/g/{self.slug}/store.json")
        _check(found)
        store, cart = found.json().get("store"), found.json().get("cart") or {}
        if not store:
            return await self.act_favorite()
        if kind == "checkout" and cart.get("count"):
            await self._post(f"/g/{self.slug}/cart/stage", {"stage": "details"})
            return "went to checkout"
        items = [i for i in store["items"] if i["kind"] in ("print", "product")]
        if not items:
            return await self.act_favorite()
        item, image = self.rnd.choice(items), self.rnd.choice(self.images)
        choices = {group["name"]: group["choices"][0]["name"] for group in item["options"]}
        await self._post(f"/g/{self.slug}/cart/items", {
            "item_id": item["id"], "image_id": image["id"], "quantity": 1, "choices": choices})
        return f"added {item['name']} of {image['filename']} to the cart"

    async def act_favorite(self) -> str:
        image = self.rnd.choice(self.images)
        await self._post(f"/g/{self.slug}/images/{image['id']}/favorite", {"on": True})
        self.favorites.add(image["id"])
        return f"favorited {image['filename']}"

    def _filename(self, image_id: int) -> str:
        return next((i["filename"] for i in self.images if i["id"] == image_id), str(image_id))

    async def _post(self, path: str, payload: dict) -> dict:
        res = await self.http.post(path, json=payload, headers={
            "Accept": "application/json", "X-CSRF-Token": self.csrf})
        _check(res)
        return res.json()


def _check(res: httpx.Response) -> None:
    if res.status_code >= 400:
        try:
            reason = res.json().get("error") or res.text
        except ValueError:
            reason = res.reason_phrase
        raise Refused(f"{res.request.method} {res.request.url.path}: {res.status_code} "
                      f"{str(reason)[:200]}")


def _meta_csrf(page: str) -> str:
    found = _CSRF_META.search(page)
    if found is None:
        raise Refused("the gallery page has no CSRF token (password protected?)")
    return found.group(1)


def _gallery_images(page: str) -> list[dict]:
    """The photos the page lists: its gallery-data, else the grid's tiles."""
    found = _GALLERY_DATA.search(page)
    if found:
        try:
            images = json.loads(found.group(1)).get("images") or []
            if images:
                return [{"id": int(i["id"]), "filename": i.get("filename") or str(i["id"])}
                        for i in images]
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
    tiles = dict.fromkeys(_IMAGE_ID.findall(page))
    return [{"id": int(i), "filename": f"photo {i}"} for i in tiles]


def new_identity(rnd: random.Random) -> tuple[str, str]:
    """A made-up visitor: a name and an address at example.net (never delivered). The
    same address drawn again is a returning client on a new browser, as in life."""
    first, last = rnd.choice(FIRST), rnd.choice(LAST)
    return f"{first} {last}", f"{first}.{last}{rnd.randrange(10, 100)}@example.net".lower()


async def simulate(base_url: str, slugs: list[str], *, interval: float = 3.0,
                   actions: int | None = None, seed: int | None = None,
                   say: Callable[[str], None] = print,
                   until: Callable[[], Awaitable[bool]] | None = None) -> int:
    """Act as clients against `base_url` until cancelled (or after `actions` actions that
    the server accepted, or once `until()` says False); returns how many were accepted.
    The CLI (`proofroom demo --simulate`) and the dashboard's button both run this."""
    if not slugs:
        raise ValueError("no galleries to visit")
    rnd = random.Random(seed)
    crowd: list[SimulatedClient] = []
    done = refused = 0
    try:
        # With a count to reach, give up when the server refuses far more than it accepts.
        while ((actions is None or (done < actions and refused <= 3 * actions))
               and (until is None or await until())):
            client = None
            try:
                if len(crowd) < CROWD and (not crowd or rnd.random() < 0.25):
                    name, email = new_identity(rnd)
                    client = SimulatedClient(
                        httpx.AsyncClient(base_url=base_url, timeout=30,
                                          headers={"User-Agent": "proofroom-demo-simulator"}),
                        rnd.choice(slugs), name, email, rnd)
                    crowd.append(client)
                    what = await client.arrive()
                else:
                    client = rnd.choice(crowd)
                    what = await client.act()
                done += 1
                where = client.title or client.slug
                say(f"{datetime.now():%H:%M:%S}  {client.name} ({where}) {what}")
            except (Refused, httpx.HTTPError) as exc:
                refused += 1
                say(f"{datetime.now():%H:%M:%S}  refused: {exc}")
                if client is not None and not client.passed:  # never got in: drop them
                    crowd.remove(client)
                    await client.leave()
            for gone in [c for c in crowd if c.passed and c.left <= 0]:
                crowd.remove(gone)
                await gone.leave()
            if actions is None or done < actions:
                await asyncio.sleep(interval)
    finally:
        for client in crowd:
            await client.leave()
    return done


# --- The dashboard's "Simulate a client" button ------------------------------------------

#: How long one press runs, and the pause between its actions.
LIVE_SECONDS = 120
LIVE_INTERVAL = 3.0
log = logging.getLogger("proofroom.demo")
#: Delete the run's key only while it is still that run's (a Stop and a new press in the
#: meantime leave the new run alone).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def offered(photographer: Photographer | None) -> bool:
    """Only the demo account (`proofroom serve --demo`'s) may simulate clients: it acts on
    the studio's own galleries, with made-up example.net visitors."""
    return photographer is not None and photographer.email == DEMO_EMAIL


def demo_slugs(photographer_id: int | None = None) -> Select:
    """The demo studio's galleries a simulated client can open (released, no password),
    for the CLI (any demo) and the button (that studio alone)."""
    query = (select(Event.slug).join(Photographer, Photographer.id == Event.photographer_id)
             .where(Photographer.email == DEMO_EMAIL, Event.status == "released",
                    Event.password_hash.is_(None))
             .order_by(Event.id))
    if photographer_id is not None:
        query = query.where(Event.photographer_id == photographer_id)
    return query


def _key(photographer_id: int) -> str:
    return f"proofroom:demo-simulation:{photographer_id}"


def _claim(raw: bytes | str | None) -> dict | None:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


async def live_until(redis, photographer_id: int) -> datetime | None:
    """When the studio's running simulation stops, or None when none runs."""
    claim = _claim(await redis.get(_key(photographer_id)))
    return datetime.fromisoformat(claim["ends_at"]) if claim else None


async def start_live(redis, photographer_id: int, base_url: str, slugs: list[str], *,
                     seconds: float = LIVE_SECONDS, interval: float = LIVE_INTERVAL
                     ) -> tuple[datetime, asyncio.Task | None]:
    """Start a simulation for the studio unless one already runs (in any process): when it
    stops, and the new run's task (None when one was already running)."""
    if not slugs:
        raise ValueError("no galleries to visit")
    key, token = _key(photographer_id), secrets.token_hex(8)
    ends = utcnow() + timedelta(seconds=seconds)
    claim = json.dumps({"token": token, "ends_at": ends.isoformat()})
    claimed = await redis.set(key, claim, nx=True, ex=int(seconds) + 30)
    if not claimed:
        return (await live_until(redis, photographer_id) or ends), None

    async def still_on() -> bool:
        held = _claim(await redis.get(key))  # None after a Stop, another's after a re-press
        return utcnow() < ends and held is not None and held.get("token") == token

    async def run() -> None:
        try:
            await simulate(base_url, slugs, interval=interval, until=still_on,
                           say=lambda line: log.info("demo simulation: %s", line))
        except Exception:
            log.exception("the demo simulation stopped on an error")
        finally:
            with contextlib.suppress(Exception):
                await redis.eval(_RELEASE, 1, key, claim)

    return ends, asyncio.create_task(run(), name=f"demo-simulation-{photographer_id}")


async def stop_live(redis, photographer_id: int) -> None:
    """End the studio's simulation: its run sees the key gone before its next action."""
    await redis.delete(_key(photographer_id))
