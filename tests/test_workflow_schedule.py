"""Gallery Workflows' scheduler (issue 13), end to end on both backends: real servers, real
Redis, a real SMTP server (aiosmtpd), short offsets (seconds, not at the studio's 09:00).

The database owns the schedule (one ScheduledAction row per step, gallery and contact);
arq only runs each row's job at its due time, and the job claims its row with a
conditional UPDATE. A gallery-anchored step first has one "fan-out" row (no contact) that,
when due, adds one row per audience contact. So: each email leaves once, at the time the
gallery, the step or the visitor last said, whatever the jobs, workers and Redis do.

Tests assert on outcomes only (rows, what the SMTP server got), never on how long it took.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import email
import email.policy
import os
import re
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time

import pytest
from aiosmtpd.controller import Controller
from conftest import (
    BACKENDS,
    RELAXED_LIMITS,
    Client,
    Server,
    _spawn,
    add_gallery_client,
    create_gallery,
    free_port,
    pass_gate,
    released_gallery,
    rows,
    scalar,
    seed_price_list,
    seed_workflow,
    serve_backend,
    sign_up,
)
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from test_durable_jobs import Rig, _children

LEASE_SECONDS = 5
EARLY = timedelta(seconds=1)  # a job may claim a row this long before its due time
UNSUBSCRIBED = "They unsubscribed from these emails."
ORDERED = "They placed an order."


# --- the SMTP sink ------------------------------------------------------------------------

@dataclass(frozen=True)
class Got:
    message_id: str
    recipients: tuple[str, ...]
    subject: str


class Sink:
    """aiosmtpd handler: keeps (Message-ID, recipients, subject) of every message. Each
    RCPT may wait `rcpt_delay` seconds, so a batch takes a while (and a kill lands in it)."""

    def __init__(self) -> None:
        self.got: list[Got] = []
        self.lock = threading.Lock()
        self.rcpt_delay = 0.0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if self.rcpt_delay:
            await asyncio.sleep(self.rcpt_delay)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.got.append(Got(str(message["Message-ID"]), tuple(envelope.rcpt_tos),
                                str(message["Subject"])))
        return "250 Message accepted for delivery"

    def marked(self, marker: str) -> list[Got]:
        """The workflow emails of one test (their subjects carry its marker)."""
        with self.lock:
            return [g for g in self.got if f"[{marker}" in g.subject]

    def per_recipient(self, marker: str, step: str = "") -> collections.Counter[str]:
        return collections.Counter(r for g in self.marked(f"{marker}:{step}" if step else marker)
                                   for r in g.recipients)


@contextlib.contextmanager
def smtp_sink() -> Iterator[tuple[Sink, str]]:
    sink, port = Sink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, f"smtp://127.0.0.1:{port}"
    finally:
        controller.stop()


# --- a shared server per backend, for the planning cases -------------------------------------

@dataclass
class Live:
    server: Server
    sink: Sink


@pytest.fixture(scope="module", params=BACKENDS)
def live(request, tmp_path_factory) -> Iterator[Live]:
    """A server per backend (embedded SQLite + in-process worker; PostgreSQL + Redis +
    `proofroom worker`) whose SMTP_URL is the sink. Tests isolate by photographer and by
    the marker in their subjects and recipients."""
    with smtp_sink() as (sink, url):
        limits = {**RELAXED_LIMITS, "SMTP_URL": url}
        with contextlib.contextmanager(serve_backend)(
                request.param, tmp_path_factory.mktemp(f"wf-{request.param}"),
                limits=limits) as srv:
            yield Live(srv, sink)


@pytest.fixture
async def engine(live: Live):
    made = live.server.engine()
    yield made
    await made.dispose()


@pytest.fixture
async def clients(live: Live):
    made: list[Client] = []

    def make() -> Client:
        made.append(Client(live.server.base_url))
        return made[-1]

    yield make
    for client in made:
        await client.aclose()


# --- studio, gallery, steps --------------------------------------------------------------

@dataclass
class Studio:
    photographer: Client
    engine: AsyncEngine
    type_id: int
    marker: str

    @property
    def pid(self) -> int:
        return self.photographer.photographer_id

    def step(self, name: str, anchor: str = "release", offset: int = 3,
             audience: str = "clients") -> dict:
        """An email step sent exactly at its time; its subject names the test and step."""
        return {"name": name, "anchor": anchor, "offset_seconds": offset,
                "audience": audience, "at_send_time": False,
                "content": {"subject": f"[{self.marker}:{name}] {{gallery_title}}",
                            "body": "Hi {first_name},\n\n{days_left} days left."}}

    def address(self, who: str) -> str:
        return f"{who}.{self.marker}@example.com"


async def open_studio(client: Client, engine: AsyncEngine) -> Studio:
    """A new photographer with a gallery type of its own (made in Settings): only the
    test's workflow is that type's."""
    photographer = await sign_up(client, engine)
    marker = uuid.uuid4().hex[:8]
    res = await photographer.post_form("/panel/settings/gallery-types",
                                       {"name": f"Type {marker}"})
    assert res.status_code == 303, res.text
    type_id = await scalar(engine, "SELECT id FROM gallery_types WHERE photographer_id=:p "
                                   "AND name=:n", p=photographer.photographer_id,
                           n=f"Type {marker}")
    return Studio(photographer, engine, type_id, marker)


def expiry_day(days_from_now: int) -> date:
    return (datetime.now(UTC) + timedelta(days=days_from_now)).date()


def ends(day: date) -> datetime:
    """A gallery's expires_at for an expiry date (the end of that day, UTC)."""
    return datetime.combine(day, day_time(23, 59, 59), tzinfo=UTC)


def gallery_form(studio: Studio, **fields) -> dict:
    return {"title": "Smith Wedding", "download_single": "on", "download_bulk": "on",
            "download_size": "original", "gallery_type_id": str(studio.type_id), **fields}


async def new_gallery(studio: Studio, clients: tuple[str, ...] = (), **fields) -> tuple[int, dict]:
    """A draft gallery of the studio's type with these client contacts: (id, {who: id})."""
    event_id = await create_gallery(studio.photographer, **gallery_form(studio, **fields))
    contacts = {who: await add_gallery_client(studio.engine, studio.pid, event_id,
                                              studio.address(who), f"{who.title()} Client")
                for who in clients}
    return event_id, contacts


async def release(studio: Studio, event_id: int) -> None:
    res = await studio.photographer.post_form(f"/panel/events/{event_id}/status",
                                              {"status": "released"})
    assert res.status_code == 303, res.text


async def edit_gallery(studio: Studio, event_id: int, **fields) -> None:
    """The panel's gallery editor, posted (it re-plans the gallery's schedule)."""
    res = await studio.photographer.post_form(f"/panel/events/{event_id}/edit",
                                              gallery_form(studio, **fields))
    assert res.status_code == 303, res.text


# --- reading the schedule ------------------------------------------------------------------

def as_utc(value) -> datetime | None:
    """A timestamp column read with plain SQL (naive UTC; a string on SQLite), aware."""
    if value is None or isinstance(value, datetime):
        return value and value.replace(tzinfo=UTC)
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


@dataclass
class Action:
    id: int
    step_id: int | None
    contact_id: int | None
    state: str
    reason: str | None
    due: datetime
    attempts: int
    email_id: int | None


async def actions(engine: AsyncEngine, event_id: int) -> list[Action]:
    found = await rows(engine, "SELECT id, step_id, contact_id, state, reason, "
                               "next_attempt_at, attempts, email_id FROM scheduled_actions "
                               "WHERE event_id=:e ORDER BY id", e=event_id)
    return [Action(*r[:5], as_utc(r[5]), *r[6:]) for r in found]


def of(found: list[Action], step_id: int, contact_id: int | None = None) -> Action:
    (action,) = [a for a in found if a.step_id == step_id and a.contact_id == contact_id]
    return action


async def until(check, timeout: float = 60, what: str = ""):
    """Poll `check()` until it returns something truthy; that."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {getattr(check, 'last', '')}")
        await asyncio.sleep(0.2)


async def settled(engine: AsyncEngine, event_id: int, n_rows: int,
                  timeout: float = 60) -> list[Action]:
    """The gallery's rows once there are `n_rows` and none is pending or claimed, and every
    email they made has left (state 'sent')."""
    async def check():
        found = await actions(engine, event_id)
        emails = await rows(engine, "SELECT state FROM outbound_emails WHERE event_id=:e "
                                    "AND kind='workflow'", e=event_id)
        check.last = (found, emails)
        done = len(found) == n_rows and all(a.state not in ("pending", "claimed")
                                            for a in found)
        return found if done and all(s == "sent" for (s,) in emails) else None

    return await until(check, timeout, f"{n_rows} settled rows of gallery {event_id}")


async def workflow_emails(engine: AsyncEngine, event_id: int) -> list:
    return await rows(engine, "SELECT contact_id, recipient, subject, state, "
                              "provider_message_id, created_at FROM outbound_emails "
                              "WHERE event_id=:e AND kind='workflow' ORDER BY id", e=event_id)


async def activity_kinds(engine: AsyncEngine, event_id: int) -> collections.Counter:
    return collections.Counter(await rows(
        engine, "SELECT kind, contact_id FROM activity_events WHERE event_id=:e "
                "AND kind LIKE 'workflow%'", e=event_id))


# --- release ---------------------------------------------------------------------------------

async def test_release_sends_the_announcement_once_to_each_client(live, engine, clients):
    studio = await open_studio(clients(), engine)
    _, (step_id,) = await seed_workflow(engine, studio.pid, studio.type_id,
                                        [studio.step("live", offset=2)])
    event_id, contacts = await new_gallery(studio, ("ann", "bob", "cy"),
                                           expires_on=str(expiry_day(30)))
    assert await actions(engine, event_id) == []  # a draft has no release: nothing planned
    await release(studio, event_id)
    (fan_out,) = await actions(engine, event_id)
    assert (fan_out.contact_id, fan_out.state) == (None, "pending")

    found = await settled(engine, event_id, 1 + 3)
    assert of(found, step_id).state == "sent"
    assert of(found, step_id).reason == "Planned for 3 recipients."
    for contact_id in contacts.values():
        row = of(found, step_id, contact_id)
        assert (row.state, row.reason, row.attempts) == ("sent", None, 1)
        assert row.email_id is not None

    await until(lambda: _count(live.sink.marked(studio.marker), 3), what="3 SMTP messages")
    assert live.sink.per_recipient(studio.marker) == {studio.address(w): 1
                                                      for w in ("ann", "bob", "cy")}
    sent = await workflow_emails(engine, event_id)
    assert sorted(e.recipient for e in sent) == sorted(studio.address(w) for w in contacts)
    assert {e.state for e in sent} == {"sent"}
    assert {e.provider_message_id for e in sent} == {
        g.message_id for g in live.sink.marked(studio.marker)}
    assert all(e.subject == f"[{studio.marker}:live] Smith Wedding" for e in sent)
    assert await activity_kinds(engine, event_id) == {
        ("workflow_email_sent", c): 1 for c in contacts.values()}
    log = (await studio.photographer.get("/panel/mail")).text
    assert all(studio.address(w) in log for w in contacts)


async def _count(found: list, n: int) -> bool:
    return len(found) >= n


# --- expiry moved --------------------------------------------------------------------------

async def test_moving_the_expiry_moves_pending_reminders_and_they_send_at_the_new_time(
        live, engine, clients):
    studio = await open_studio(clients(), engine)
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=12)
    d2, d3 = expiry_day(2), expiry_day(3)
    # "moved" is due `soon` once the gallery expires on d2; "stale" is due `soon` while it
    # expires on d3 (a day before the move, so moving the expiry earlier passes it).
    _, (moved, stale) = await seed_workflow(engine, studio.pid, studio.type_id, [
        studio.step("moved", "expiry", int((soon - ends(d2)).total_seconds())),
        studio.step("stale", "expiry", int((soon - ends(d3)).total_seconds()))])
    event_id, contacts = await new_gallery(studio, ("ann", "bob"), expires_on=str(d3))
    await release(studio, event_id)
    before = await actions(engine, event_id)
    assert of(before, moved).due == soon + timedelta(days=1)
    assert of(before, stale).due == soon

    await edit_gallery(studio, event_id, expires_on=str(d2))
    after = await actions(engine, event_id)
    assert (of(after, moved).state, of(after, moved).due) == ("pending", soon)
    assert of(after, stale).state == "skipped"
    assert of(after, stale).reason.endswith("had passed when it was planned.")

    found = await settled(engine, event_id, 2 + 2)
    assert of(found, stale).state == "skipped"  # its old job, at `soon`, did nothing
    for contact_id in contacts.values():
        assert of(found, moved, contact_id).state == "sent"
    await until(lambda: _count(live.sink.marked(studio.marker), 2), what="2 SMTP messages")
    assert live.sink.per_recipient(studio.marker, "moved") == {
        studio.address("ann"): 1, studio.address("bob"): 1}
    assert live.sink.per_recipient(studio.marker, "stale") == {}
    for sent in await workflow_emails(engine, event_id):
        assert as_utc(sent.created_at) >= soon - EARLY  # at the new time, not before
    assert collections.Counter(k for k, _ in await activity_kinds(engine, event_id)) == {
        "workflow_skipped": 1, "workflow_email_sent": 2}


# --- a step edited after release ---------------------------------------------------------------

async def test_a_step_edited_or_removed_after_release_moves_or_cancels_its_pending_items(
        live, engine, clients):
    studio = await open_studio(clients(), engine)
    workflow_id, (edited, removed) = await seed_workflow(engine, studio.pid, studio.type_id, [
        studio.step("edited", offset=3600), studio.step("removed", offset=7200)])
    event_id, contacts = await new_gallery(studio, ("ann",), expires_on=str(expiry_day(30)))
    await release(studio, event_id)
    released_at = as_utc(await scalar(engine, "SELECT released_at FROM events WHERE id=:e",
                                      e=event_id))
    assert of(await actions(engine, event_id), edited).due == released_at + timedelta(hours=1)

    # One step now says "a few seconds after release": the builder's form speaks in days
    # and hours, so the step row is changed with SQL and the gallery editor re-plans.
    offset = int((datetime.now(UTC) - released_at).total_seconds()) + 5
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE workflow_steps SET offset_seconds=:o WHERE id=:s"),
                           {"o": offset, "s": edited})
    await edit_gallery(studio, event_id, expires_on=str(expiry_day(30)))
    assert of(await actions(engine, event_id), edited).due == \
        released_at + timedelta(seconds=offset)
    # The other step is removed in the builder: its pending item is cancelled at once.
    res = await studio.photographer.post_form(
        f"/panel/workflows/{workflow_id}/steps/{removed}/delete")
    assert res.status_code == 303, res.text
    after = await actions(engine, event_id)
    (gone,) = [a for a in after if a.step_id != edited]  # step_id: NULL now
    assert gone.state == "cancelled" and gone.reason
    assert of(after, edited).state == "pending"

    found = await settled(engine, event_id, 3)
    assert of(found, edited, contacts["ann"]).state == "sent"
    await until(lambda: _count(live.sink.marked(studio.marker), 1), what="the email")
    assert live.sink.per_recipient(studio.marker) == {studio.address("ann"): 1}
    (sent,) = await workflow_emails(engine, event_id)
    assert as_utc(sent.created_at) >= released_at + timedelta(seconds=offset) - EARLY


# --- the store: abandoned cart, an order --------------------------------------------------------

async def shop(studio: Studio, clients, steps: list[dict]):
    """A released gallery with a price list following a workflow of `steps`, and a client
    at its gate: (event id, slug, image ids, price ids, step ids, visitor, contact id)."""
    _, step_ids = await seed_workflow(studio.engine, studio.pid, studio.type_id, steps)
    event_id, slug, images = await released_gallery(
        studio.photographer, n_images=2, **gallery_form(studio, expires_on=str(expiry_day(30))))
    ids = await seed_price_list(studio.engine, studio.pid, event_id)
    visitor = clients()
    await pass_gate(visitor, slug, email=studio.address("jane"), name="Jane Client")
    contact_id = await scalar(studio.engine, "SELECT id FROM contacts WHERE email=:m",
                              m=studio.address("jane"))
    return event_id, slug, [i["id"] for i in images], ids, step_ids, visitor, contact_id


async def add_to_cart(visitor: Client, slug: str, **item) -> dict:
    res = await visitor.post_json(f"/g/{slug}/cart/items", item)
    assert res.status_code == 200, res.text
    return res.json()


async def test_a_cart_changed_again_before_the_delay_gets_one_email_at_the_new_time(
        live, engine, clients):
    studio = await open_studio(clients(), engine)
    event_id, slug, images, ids, (step,), visitor, contact_id = await shop(
        studio, clients, [studio.step("cart", "cart_change", 5, "open_cart")])
    await add_to_cart(visitor, slug, item_id=ids["web"], image_id=images[0])
    first = of(await actions(engine, event_id), step, contact_id)
    assert first.state == "pending"
    await asyncio.sleep(2)
    await add_to_cart(visitor, slug, item_id=ids["web"], image_id=images[1])
    changed = as_utc(await scalar(engine, "SELECT updated_at FROM carts WHERE contact_id=:c",
                                  c=contact_id))
    second = of(await actions(engine, event_id), step, contact_id)
    assert second.id == first.id and second.due == changed + timedelta(seconds=5) > first.due

    found = await settled(engine, event_id, 1)
    assert of(found, step, contact_id).state == "sent"
    assert of(found, step, contact_id).attempts == 1
    await until(lambda: _count(live.sink.marked(studio.marker), 1), what="the email")
    await asyncio.sleep(1)  # were there a second one, it would have come with the first
    assert live.sink.per_recipient(studio.marker) == {studio.address("jane"): 1}
    (sent,) = await workflow_emails(engine, event_id)
    assert as_utc(sent.created_at) >= second.due - EARLY


async def test_an_order_cancels_the_abandoned_cart_and_favorites_reminders(live, engine,
                                                                          clients):
    studio = await open_studio(clients(), engine)
    event_id, slug, images, ids, (cart, fav), visitor, contact_id = await shop(
        studio, clients, [studio.step("cart", "cart_change", 3600, "open_cart"),
                          studio.step("fav", "first_favorite", 3600, "favorites")])
    res = await visitor.post_json(f"/g/{slug}/images/{images[0]}/favorite", {"on": True})
    assert res.status_code == 200, res.text
    await add_to_cart(visitor, slug, item_id=ids["print"], image_id=images[0],
                      choices={"Paper": "Lustre"})
    found = await actions(engine, event_id)
    assert {of(found, cart, contact_id).state, of(found, fav, contact_id).state} == {"pending"}

    res = await visitor.post_json(f"/g/{slug}/cart/details", {
        "name": "Jane Client", "email": studio.address("jane"), "line1": "1 Main St",
        "city": "Springfield", "postal_code": "12345", "country": "US"})
    assert res.status_code == 200, res.text
    res = await visitor.post_json(f"/g/{slug}/checkout", {"version": res.json()["version"]})
    assert res.status_code == 200, res.text

    found = await actions(engine, event_id)
    for step in (cart, fav):
        row = of(found, step, contact_id)
        assert (row.state, row.reason) == ("cancelled", ORDERED)
    assert live.sink.per_recipient(studio.marker) == {}


# --- unsubscribe ---------------------------------------------------------------------------

async def test_the_unsubscribe_link_is_honoured_by_every_later_step(live, engine, clients):
    studio = await open_studio(clients(), engine)
    _, (hello, later) = await seed_workflow(engine, studio.pid, studio.type_id, [
        studio.step("hello", offset=2), studio.step("later", offset=15)])
    event_id, contacts = await new_gallery(studio, ("ann", "bob"),
                                           expires_on=str(expiry_day(30)))
    await release(studio, event_id)

    async def bobs_email():
        return await scalar(engine, "SELECT body_text FROM outbound_emails WHERE "
                                    "contact_id=:c AND kind='workflow'", c=contacts["bob"])

    # Bob follows the link in the first email and confirms.
    body = await until(bobs_email, what="bob's first email")
    path = "/unsubscribe/" + body.split("/unsubscribe/", 1)[1].split()[0]
    bob = clients()
    assert (await bob.get(path)).status_code == 200
    assert (await bob.post_form(path)).status_code == 200
    assert await scalar(engine, "SELECT unsubscribed_at FROM contacts WHERE id=:c",
                        c=contacts["bob"]) is not None

    found = await settled(engine, event_id, 2 + 4)
    for step in (hello, later):
        assert of(found, step, contacts["ann"]).state == "sent"
    assert of(found, hello, contacts["bob"]).state == "sent"  # before he unsubscribed
    skipped = of(found, later, contacts["bob"])
    assert (skipped.state, skipped.reason, skipped.email_id) == ("skipped", UNSUBSCRIBED, None)
    await until(lambda: _count(live.sink.marked(studio.marker), 3), what="3 emails")
    assert live.sink.per_recipient(studio.marker, "hello") == {
        studio.address("ann"): 1, studio.address("bob"): 1}
    assert live.sink.per_recipient(studio.marker, "later") == {studio.address("ann"): 1}
    assert (await activity_kinds(engine, event_id))[
        ("workflow_skipped", contacts["bob"])] == 1


# --- crashes, Redis, several workers, duplicate jobs: rigs of their own -----------------------

@pytest.fixture(params=BACKENDS)
def rig(request, own_redis_server) -> Iterator:
    """Factory: `start(private_redis=False, worker=True)` -> a Rig (tests/test_durable_jobs)
    whose SMTP server is a Sink and whose jobs lease their rows for 5 s. SQLite: the
    embedded default (in-process worker) unless `worker=False`; PostgreSQL (and SQLite
    with `worker=False`): `proofroom worker` processes the test starts."""
    with contextlib.ExitStack() as stack:
        def start(*, private_redis: bool = False, worker: bool = True) -> Rig:
            sink, url = stack.enter_context(smtp_sink())
            external = request.param == "postgres" or not worker
            srv, redis = own_redis_server(
                request.param, own_redis=private_redis or request.param == "postgres",
                worker=not external,
                env={"SMTP_URL": url, "PROOFROOM_JOB_LEASE_SECONDS": str(LEASE_SECONDS)})
            made = Rig(request.param, srv, sink, redis, external)
            made.strays.extend(_children(made.web.pid))
            stack.callback(_kill_strays, made)
            if external and worker:
                made.start_worker()
            return made

        yield start


def _kill_strays(rig: Rig) -> None:
    rig.server.stop()
    for pid in rig.strays:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


async def rig_studio(rig: Rig) -> Studio:
    client = Client(rig.server.base_url)
    RIG_CLIENTS.append(client)
    return await open_studio(client, rig.server.engine())


RIG_CLIENTS: list[Client] = []


@pytest.fixture(autouse=True)
async def close_rig_clients():
    yield
    while RIG_CLIENTS:
        client = RIG_CLIENTS.pop()
        await client.aclose()


async def announce(studio: Studio, n_clients: int, offset: int = 3,
                   steps: tuple[str, ...] = ("live",)) -> tuple[int, list[int], dict]:
    """A gallery with `n_clients` clients following release steps due in `offset` s,
    released: (event id, step ids, contacts)."""
    _, step_ids = await seed_workflow(studio.engine, studio.pid, studio.type_id,
                                      [studio.step(s, offset=offset) for s in steps])
    event_id, contacts = await new_gallery(
        studio, tuple(f"c{n:03d}" for n in range(n_clients)), expires_on=str(expiry_day(30)))
    await release(studio, event_id)
    return event_id, step_ids, contacts


def assert_once_each(sink: Sink, studio: Studio, expected: set[str],
                     message_ids: list[str], in_doubt: int = 0) -> None:
    """Each recipient got exactly one email (one Message-ID); a Message-ID reached the
    server twice at most `in_doubt` times (a sender killed between the server's "accepted"
    and its commit: the same Message-ID, which receivers drop)."""
    got = sink.marked(studio.marker)
    by_id = collections.Counter(g.message_id for g in got)
    ids_of = collections.defaultdict(set)
    for g in got:
        for r in g.recipients:
            ids_of[r].add(g.message_id)
    assert set(ids_of) == expected
    assert {r: len(ids) for r, ids in ids_of.items()} == dict.fromkeys(expected, 1)
    assert set(by_id) == set(message_ids) and len(message_ids) == len(expected)
    twice = [m for m, n in by_id.items() if n > 1]
    assert len(twice) <= in_doubt, (twice, in_doubt)


async def message_ids(engine: AsyncEngine, event_id: int) -> list[str]:
    return [e.provider_message_id for e in await workflow_emails(engine, event_id)]


async def test_a_worker_killed_mid_run_then_restarted_sends_each_due_email_once(rig):
    rig = rig()
    rig.inbox.rcpt_delay = 0.3  # the batch takes a while: the kill lands inside it
    studio = await rig_studio(rig)
    n = 40
    event_id, (step,), contacts = await announce(studio, n, offset=2)
    await until(lambda: _count(rig.inbox.marked(studio.marker), 3), what="the first sends")
    if rig.external_worker:
        rig.kill_worker()
    else:
        rig.kill_web()  # the in-process worker (and the embedded Redis) with it
    in_doubt = await scalar(studio.engine, "SELECT count(*) FROM outbound_emails WHERE "
                                           "event_id=:e AND state='sending'", e=event_id)
    states = collections.Counter(a.state for a in await actions(studio.engine, event_id))
    assert states["pending"] + states["claimed"] > 0 or in_doubt, states  # mid-run
    if rig.external_worker:
        rig.start_worker()
    else:
        rig.start_web()

    found = await settled(studio.engine, event_id, 1 + n, timeout=90)
    assert {a.state for a in found} == {"sent"}
    assert_once_each(rig.inbox, studio, {studio.address(f"c{k:03d}") for k in range(n)},
                     await message_ids(studio.engine, event_id), in_doubt)
    print(f"\n{rig.backend}: killed with {dict(states)} rows, {in_doubt} emails in doubt")
    await studio.engine.dispose()


async def test_redis_flushed_then_reconcile_restores_every_pending_action(rig):
    rig = rig(private_redis=True)
    studio = await rig_studio(rig)
    event_id, steps, contacts = await announce(studio, 4, offset=4, steps=("one", "two"))
    with rig.redis.client() as client:
        client.flushall()  # every deferred job, gone; the rows still say pending
    found = await settled(studio.engine, event_id, 2 + 2 * 4, timeout=100)
    assert {a.state for a in found} == {"sent"}
    assert {a.attempts for a in found} == {1}
    expected = {studio.address(f"c{k:03d}") for k in range(4)}
    for step in ("one", "two"):
        assert rig.inbox.per_recipient(studio.marker, step) == dict.fromkeys(expected, 1)
    assert any(f == "reconcile" for f, _, o in rig.job_lines() if o == "ok")
    await studio.engine.dispose()


async def test_two_workers_on_the_same_queue_send_nothing_twice(rig):
    rig = rig(private_redis=True, worker=False)
    studio = await rig_studio(rig)
    n = 150
    event_id, _, contacts = await announce(studio, n, offset=12)
    rig.start_worker()
    second = _spawn(["server.cli", "worker"], rig.server.env, rig.server.var_dir / "worker2.log")
    rig.server.processes.append(second)
    logs = [rig.server.var_dir / log for log in ("worker.log", "worker2.log")]

    async def both_up() -> bool:  # both take jobs before the step is due
        return all(log.exists() and "Starting worker" in log.read_text() for log in logs)

    await until(both_up, what="both workers")
    assert (await actions(studio.engine, event_id))[0].state == "pending"

    found = await settled(studio.engine, event_id, 1 + n, timeout=60)
    assert {a.state for a in found} == {"sent"}
    assert {a.attempts for a in found} == {1}
    assert_once_each(rig.inbox, studio, {studio.address(f"c{k:03d}") for k in range(n)},
                     await message_ids(studio.engine, event_id))
    # Both took part: each ran some of the 1 + n jobs (one job may claim and send up to
    # runner.BATCH due rows at once, so which one sent how many is left to them).
    ran = [collections.Counter(re.findall(r"job=run_scheduled_action id=\S+ outcome=(\w+)",
                                          log.read_text())) for log in logs]
    print(f"\n{rig.backend}: run_scheduled_action outcomes per worker: {ran}")
    assert all(sum(r.values()) for r in ran), ran
    await studio.engine.dispose()


async def test_the_same_action_enqueued_20_times_under_other_ids_sends_one_email(rig):
    from arq.connections import RedisSettings, create_pool

    rig = rig(private_redis=True, worker=False)
    studio = await rig_studio(rig)
    _, (step,) = await seed_workflow(studio.engine, studio.pid, studio.type_id,
                                     [studio.step("visit", "first_visit", 4, "visitors")])
    event_id, _ = await new_gallery(studio, expires_on=str(expiry_day(30)))
    await release(studio, event_id)
    slug = await scalar(studio.engine, "SELECT slug FROM events WHERE id=:e", e=event_id)
    visitor = Client(rig.server.base_url)
    RIG_CLIENTS.append(visitor)
    await pass_gate(visitor, slug, email=studio.address("jane"), name="Jane Client")
    (row,) = await actions(studio.engine, event_id)
    assert row.state == "pending" and row.contact_id is not None

    pool = await create_pool(RedisSettings.from_dsn(rig.redis.url))
    try:  # 20 at once before its time, 20 at its time: arq keeps all 40 (new ids)
        past = datetime.now(UTC) - timedelta(minutes=1)
        for when in (past, row.due):
            jobs = await asyncio.gather(*(pool.enqueue_job(
                "run_scheduled_action", row.id, _job_id=f"dup-{uuid.uuid4().hex}",
                _defer_until=when) for _ in range(20)))
            assert all(j is not None for j in jobs)
    finally:
        await pool.aclose()
    rig.inbox.rcpt_delay = 1.0  # the one send is still going when the others run
    rig.start_worker()

    found = await settled(studio.engine, event_id, 1)
    assert (found[0].state, found[0].attempts) == ("sent", 1)

    async def all_ran():
        lines = [o for f, j, o in rig.job_lines()
                 if f == "run_scheduled_action" and j.startswith("dup-")]
        return lines if len(lines) >= 40 else None

    outcomes = collections.Counter(await until(all_ran, what="40 duplicate jobs"))
    assert outcomes["ok"] <= 1 and outcomes["skipped"] >= 39
    await until(lambda: _count(rig.inbox.marked(studio.marker), 1), what="the email")
    await asyncio.sleep(1)
    assert rig.inbox.per_recipient(studio.marker) == {studio.address("jane"): 1}
    await studio.engine.dispose()
