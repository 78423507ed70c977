"""The gallery side of Gallery Workflows through HTTP, on both backends: a gallery's client
contacts (add, add twice, remove, bad input, the limit), the workflow choice in the gallery
settings (follow the type's, none, another; a forged id changes nothing), the gallery's
timeline (pending rows, cancel and send-now of one item, a fragment for live updates) and
the public unsubscribe link. Another photographer gets a 404 for every id of the first one's
and changes nothing."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from conftest import (
    create_gallery,
    random_token,
    released_gallery,
    rows,
    scalar,
    seed_price_list,
)

from server.workflows import messages

DAY = 24 * 3600


# --- helpers -------------------------------------------------------------------------------


async def seed_type(db, photographer_id: int, name: str = "") -> int:
    from sqlalchemy import insert

    from server.models import GalleryType

    async with db.begin() as conn:
        return (await conn.execute(insert(GalleryType).values(
            photographer_id=photographer_id, name=name or f"Type {random_token()}")
            .returning(GalleryType.id))).scalar_one()


async def seed_workflow(db, photographer_id: int, *, type_id: int | None = None,
                        active: bool = True, name: str = "Wedding flow",
                        steps: tuple[dict, ...] = ()) -> tuple[int, list[int]]:
    """A workflow and its email steps, inserted directly (the builder is another test's).
    Default step: the gallery-live announcement to the clients, 7 days after release."""
    from sqlalchemy import insert

    from server.workflows.models import Workflow, WorkflowStep

    steps = steps or ({"name": "Gallery is live", "anchor": "release",
                       "offset_seconds": 7 * DAY},)
    async with db.begin() as conn:
        workflow_id = (await conn.execute(insert(Workflow).values(
            photographer_id=photographer_id, name=name, description="",
            gallery_type_id=type_id, active=active).returning(Workflow.id))).scalar_one()
        step_ids = []
        for position, step in enumerate(steps):
            values = {"photographer_id": photographer_id, "workflow_id": workflow_id,
                      "position": position, "kind": "email", "audience": "clients",
                      "at_send_time": False, "end_offset_seconds": 0,
                      "content": {"subject": "Your photos of {gallery_title}",
                                  "body": "Hello {first_name}."}, **step}
            step_ids.append((await conn.execute(insert(WorkflowStep).values(**values)
                                                .returning(WorkflowStep.id))).scalar_one())
    return workflow_id, step_ids


async def add_client(client, event_id: int, email: str, name: str = "Anna Smith"):
    return await client.post_form(f"/panel/events/{event_id}/clients",
                                  {"name": name, "email": email})


async def client_emails(db, event_id: int) -> list[str]:
    found = await rows(db, "SELECT c.email FROM gallery_clients g JOIN contacts c "
                           "ON c.id = g.contact_id WHERE g.event_id=:e ORDER BY c.email",
                       e=event_id)
    return [r[0] for r in found]


async def actions(db, event_id: int) -> list[tuple]:
    """(id, step_id, contact_id, state, reason) of the gallery's scheduled actions."""
    return [tuple(r) for r in await rows(
        db, "SELECT id, step_id, contact_id, state, reason FROM scheduled_actions "
            "WHERE event_id=:e ORDER BY id", e=event_id)]


def settings_form(type_id: int | None, **fields) -> dict:
    return {"title": "Smith Wedding", "gallery_type_id": str(type_id or ""),
            "download_single": "on", "download_bulk": "on", "download_size": "original",
            **fields}


async def typed_released_gallery(photographer, db) -> tuple[int, int, int, list[int]]:
    """A released gallery of a type whose active workflow has one pending step:
    (event id, type id, workflow id, step ids)."""
    type_id = await seed_type(db, photographer.photographer_id)
    workflow_id, steps = await seed_workflow(db, photographer.photographer_id, type_id=type_id)
    event_id, _, _ = await released_gallery(photographer, n_images=1,
                                            gallery_type_id=str(type_id))
    return event_id, type_id, workflow_id, steps


# --- clients -------------------------------------------------------------------------------


async def test_clients_add_twice_and_remove(photographer, db):
    event_id = await create_gallery(photographer)
    res = await add_client(photographer, event_id, "Anna@Example.com")
    assert res.status_code == 303, res.text
    assert res.headers["location"].endswith("#clients")
    assert await client_emails(db, event_id) == ["anna@example.com"]
    assert await scalar(db, "SELECT source FROM contacts WHERE email='anna@example.com' "
                            "AND photographer_id=:p", p=photographer.photographer_id) == "manual"
    res = await add_client(photographer, event_id, "anna@example.com")  # twice: a no-op
    assert res.status_code == 303
    assert await client_emails(db, event_id) == ["anna@example.com"]
    await add_client(photographer, event_id, "ben@example.com", name="Ben")
    page = (await photographer.get(f"/panel/events/{event_id}")).text
    assert "Anna Smith" in page and "ben@example.com" in page and 'id="clients"' in page
    contact_id = await scalar(db, "SELECT id FROM contacts WHERE email='anna@example.com' "
                                  "AND photographer_id=:p", p=photographer.photographer_id)
    remove = f"/panel/events/{event_id}/clients/{contact_id}/remove"
    res = await photographer.post_form(remove)
    assert res.status_code == 303
    assert await client_emails(db, event_id) == ["ben@example.com"]
    assert await scalar(db, "SELECT COUNT(*) FROM contacts WHERE id=:c", c=contact_id) == 1
    assert (await photographer.post_form(remove)).status_code == 404  # not a client any more
    page = await photographer.get(res.headers["location"])
    assert "Client removed." in page.text


async def test_removing_a_client_cancels_their_waiting_emails(photographer, db):
    """A fan-out's per-client rows are due as it runs; one still waiting when the client is
    removed is cancelled with the reason (the plan never revisits those rows)."""
    from sqlalchemy import insert

    from server.workflows.models import ScheduledAction

    event_id, _, _, (step,) = await typed_released_gallery(photographer, db)
    await add_client(photographer, event_id, "anna@example.com")
    contact_id = await scalar(db, "SELECT contact_id FROM gallery_clients WHERE event_id=:e",
                              e=event_id)
    async with db.begin() as conn:
        await conn.execute(insert(ScheduledAction).values(
            photographer_id=photographer.photographer_id, event_id=event_id, step_id=step,
            contact_id=contact_id, key=f"{event_id}:{step}:{contact_id}", label="Gallery is live",
            state="pending", next_attempt_at=datetime.now(UTC) + timedelta(days=1)))
    res = await photographer.post_form(f"/panel/events/{event_id}/clients/{contact_id}/remove")
    assert res.status_code == 303
    assert {(a[2], a[3], a[4]) for a in await actions(db, event_id)} == {
        (None, "pending", None),
        (contact_id, "cancelled", "No longer a client of this gallery.")}


async def test_client_bad_input_is_a_400_that_changes_nothing(photographer, db):
    event_id = await create_gallery(photographer)
    for data, message in (({"name": "Anna", "email": "not-an-email"}, "not valid"),
                          ({"name": "Anna", "email": ""}, "Email is required"),
                          ({"name": "A" * 121, "email": "a@example.com"}, "Name is too long")):
        res = await photographer.post_form(f"/panel/events/{event_id}/clients", data)
        assert res.status_code == 400, res.text
        assert message in res.text
        assert 'id="clients"' in res.text  # the gallery page, with what was typed
    assert await client_emails(db, event_id) == []
    assert (await photographer.post_form("/panel/events/999999/clients",
                                         {"email": "a@example.com"})).status_code == 404


async def test_a_gallery_has_at_most_fifty_clients(photographer, db):
    from sqlalchemy import insert

    from server.models import Contact
    from server.workflows.models import GalleryClient

    event_id = await create_gallery(photographer)
    pid = photographer.photographer_id
    async with db.begin() as conn:
        for i in range(50):
            cid = (await conn.execute(insert(Contact).values(
                photographer_id=pid, email=f"c{i}@example.com", name=f"C {i}", source="manual")
                .returning(Contact.id))).scalar_one()
            await conn.execute(insert(GalleryClient).values(
                event_id=event_id, contact_id=cid, photographer_id=pid))
    res = await add_client(photographer, event_id, "one-more@example.com")
    assert res.status_code == 400 and "at most 50 clients" in res.text
    assert len(await client_emails(db, event_id)) == 50
    res = await add_client(photographer, event_id, "c3@example.com")  # already one: fine
    assert res.status_code == 303


async def test_clients_are_tenant_walled(photographer, other_photographer, db):
    event_id = await create_gallery(photographer)
    await add_client(photographer, event_id, "anna@example.com")
    contact_id = await scalar(db, "SELECT contact_id FROM gallery_clients WHERE event_id=:e",
                              e=event_id)
    other_event = await create_gallery(other_photographer)
    assert (await add_client(other_photographer, event_id, "x@example.com")).status_code == 404
    assert (await other_photographer.post_form(
        f"/panel/events/{event_id}/clients/{contact_id}/remove")).status_code == 404
    # My contact is no client of their gallery, whatever they post.
    assert (await other_photographer.post_form(
        f"/panel/events/{other_event}/clients/{contact_id}/remove")).status_code == 404
    assert await client_emails(db, event_id) == ["anna@example.com"]
    assert await scalar(db, "SELECT COUNT(*) FROM contacts WHERE email='x@example.com'") == 0


# --- the workflow choice in the gallery settings -------------------------------------------


async def test_workflow_choice_replans_and_forged_ids_change_nothing(
        photographer, other_photographer, db):
    event_id, type_id, workflow_id, (step,) = await typed_released_gallery(photographer, db)
    assert [(a[1], a[3]) for a in await actions(db, event_id)] == [(step, "pending")]
    form = (await photographer.get(f"/panel/events/{event_id}/edit")).text
    assert "Wedding flow" in form and 'name="workflow_mode"' in form
    edit = f"/panel/events/{event_id}/edit"

    res = await photographer.post_form(edit, settings_form(type_id, workflow_mode="off"))
    assert res.status_code == 303, res.text
    assert await scalar(db, "SELECT workflows_off FROM events WHERE id=:e", e=event_id)
    assert [a[3] for a in await actions(db, event_id)] == ["cancelled"]

    other_id, (other_step,) = await seed_workflow(
        db, photographer.photographer_id, name="Portrait flow",
        steps=({"name": "Reminder", "anchor": "release", "offset_seconds": 3 * DAY},))
    res = await photographer.post_form(edit, settings_form(
        type_id, workflow_mode="pick", workflow_id=str(other_id)))
    assert res.status_code == 303, res.text
    assert await scalar(db, "SELECT workflow_id FROM events WHERE id=:e", e=event_id) == other_id
    assert {(a[1], a[3]) for a in await actions(db, event_id)} == {
        (step, "cancelled"), (other_step, "pending")}

    theirs, _ = await seed_workflow(db, other_photographer.photographer_id, name="Theirs")
    before = (await actions(db, event_id),
              await rows(db, "SELECT workflows_off, workflow_id FROM events WHERE id=:e",
                         e=event_id))
    for bad in (str(theirs), "999999", "abc", ""):
        res = await photographer.post_form(edit, settings_form(
            type_id, title="Renamed", workflow_mode="pick", workflow_id=bad))
        assert res.status_code == 400, (bad, res.text)
        assert "Pick a workflow from the list." in res.text
    res = await photographer.post_form(edit, settings_form(type_id, workflow_mode="nonsense"))
    assert res.status_code == 400
    assert (await actions(db, event_id),
            await rows(db, "SELECT workflows_off, workflow_id FROM events WHERE id=:e",
                       e=event_id)) == before
    assert await scalar(db, "SELECT title FROM events WHERE id=:e", e=event_id) == "Smith Wedding"

    # Not posted: the choice stays as it is.
    res = await photographer.post_form(edit, settings_form(type_id, title="Renamed"))
    assert res.status_code == 303
    assert await scalar(db, "SELECT workflow_id FROM events WHERE id=:e", e=event_id) == other_id

    res = await photographer.post_form(edit, settings_form(type_id, workflow_mode="type"))
    assert res.status_code == 303
    assert await rows(db, "SELECT workflows_off, workflow_id FROM events WHERE id=:e",
                      e=event_id) in ([(False, None)], [(0, None)])
    assert {(a[1], a[3]) for a in await actions(db, event_id)} == {
        (step, "pending"), (other_step, "cancelled")}


async def test_gallery_password_is_kept_for_the_password_merge_field(photographer, db):
    event_id = await create_gallery(photographer, password="open sesame")
    assert await scalar(db, "SELECT client_password FROM events WHERE id=:e",
                        e=event_id) == "open sesame"
    edit = f"/panel/events/{event_id}/edit"
    await photographer.post_form(edit, settings_form(None))  # empty: kept
    assert await scalar(db, "SELECT client_password FROM events WHERE id=:e",
                        e=event_id) == "open sesame"
    await photographer.post_form(edit, settings_form(None, clear_password="on"))
    assert await scalar(db, "SELECT client_password FROM events WHERE id=:e", e=event_id) is None


# --- the timeline ------------------------------------------------------------------------


async def test_timeline_shows_pending_rows_and_explains_no_workflow(photographer, db):
    event_id, _, _, _ = await typed_released_gallery(photographer, db)
    page = await photographer.get(f"/panel/events/{event_id}/timeline")
    assert page.status_code == 200
    assert "Gallery is live" in page.text and "Scheduled" in page.text
    assert "Send now" in page.text and "the gallery&#39;s clients" in page.text
    assert "timeline_live.js" in page.text and 'data-seq-from="content"' in page.text
    fragment = await photographer.get(f"/panel/events/{event_id}/timeline?fragment=1")
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<div id="timeline-region"')
    assert "<html" not in fragment.text and "Gallery is live" in fragment.text

    bare = await create_gallery(photographer)
    page = await photographer.get(f"/panel/events/{bare}/timeline")
    assert page.status_code == 200
    assert "No workflow emails for this gallery" in page.text
    assert "no gallery type" in page.text and "/panel/workflows" in page.text


async def test_cancel_one_pending_item(photographer, other_photographer, db):
    event_id, _, _, _ = await typed_released_gallery(photographer, db)
    (action_id, *_), = await actions(db, event_id)
    cancel = f"/panel/scheduled/{action_id}/cancel"
    assert (await other_photographer.post_form(cancel)).status_code == 404
    assert (await actions(db, event_id))[0][3] == "pending"
    res = await photographer.post_form(cancel)
    assert res.status_code == 303
    assert res.headers["location"] == f"/panel/events/{event_id}/timeline?done=cancelled"
    assert (await actions(db, event_id))[0][3:] == ("cancelled", "Cancelled by you")
    again = await photographer.post_form(cancel)
    assert again.status_code == 400 and "no longer waiting" in again.text
    page = (await photographer.get(f"/panel/events/{event_id}/timeline")).text
    assert "Cancelled by you" in page
    assert (await photographer.post_form("/panel/scheduled/999999/cancel")).status_code == 404


async def test_a_cancelled_item_stays_cancelled_when_the_gallery_is_replanned(photographer, db):
    event_id, _, _, _ = await typed_released_gallery(photographer, db)
    (action_id, *_), = await actions(db, event_id)
    assert (await photographer.post_form(f"/panel/scheduled/{action_id}/cancel")
            ).status_code == 303
    await add_client(photographer, event_id, "anna@example.com")  # re-plans the gallery
    assert (await actions(db, event_id))[0][3:] == ("cancelled", "Cancelled by you")


async def test_send_now_sends_it_at_once(photographer, other_photographer, db):
    event_id, _, _, _ = await typed_released_gallery(photographer, db)
    await add_client(photographer, event_id, "anna@example.com", name="Anna Smith")
    (action_id, *_), = await actions(db, event_id)
    send = f"/panel/scheduled/{action_id}/send-now"
    due_before = await scalar(db, "SELECT next_attempt_at FROM scheduled_actions WHERE id=:a",
                              a=action_id)
    assert (await other_photographer.post_form(send)).status_code == 404
    assert await scalar(db, "SELECT next_attempt_at FROM scheduled_actions WHERE id=:a",
                        a=action_id) == due_before
    assert await scalar(db, "SELECT COUNT(*) FROM outbound_emails WHERE event_id=:e",
                        e=event_id) == 0
    res = await photographer.post_form(send)
    assert res.status_code == 303, res.text
    # At once: its own job, not reconcile's next pass (at most a minute later).
    subject = await wait_for(db, "SELECT subject FROM outbound_emails WHERE event_id=:e "
                                 "AND recipient='anna@example.com'", timeout=8, e=event_id)
    assert subject == "Your photos of Smith Wedding"
    page = await photographer.get(f"/panel/events/{event_id}/timeline")
    assert "Sent to Anna Smith" in page.text and "Your photos of Smith Wedding" in page.text
    feed = await rows(db, "SELECT kind FROM activity_events WHERE event_id=:e "
                          "AND kind LIKE 'workflow%'", e=event_id)
    assert [r[0] for r in feed] == ["workflow_email_sent"]
    assert (await photographer.post_form(send)).status_code == 400  # no longer pending


async def wait_for(db, sql: str, timeout: float = 30, **params):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await scalar(db, sql, **params)
        if found is not None:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"nothing for {sql} after {timeout}s")


async def test_timeline_is_tenant_walled(photographer, other_photographer, db):
    event_id, _, _, _ = await typed_released_gallery(photographer, db)
    for url in (f"/panel/events/{event_id}/timeline",
                f"/panel/events/{event_id}/timeline?fragment=1"):
        assert (await other_photographer.get(url)).status_code == 404


# --- unsubscribe -------------------------------------------------------------------------


def token_for(server, photographer_id: int, contact_id: int, secret: str = "") -> str:
    contact = SimpleNamespace(photographer_id=photographer_id, id=contact_id)
    return messages.unsubscribe_token(secret or f"test-secret-{server.backend}", contact)


async def test_unsubscribe_link(server, photographer, other_photographer, new_client, db):
    event_id = await create_gallery(photographer)
    await add_client(photographer, event_id, "anna@example.com")
    contact_id = await scalar(db, "SELECT contact_id FROM gallery_clients WHERE event_id=:e",
                              e=event_id)
    unsubscribed = "SELECT unsubscribed_at FROM contacts WHERE id=:c"
    visitor = new_client()
    pid = photographer.photographer_id
    url = f"/unsubscribe/{token_for(server, pid, contact_id)}"
    forged = (f"/unsubscribe/{token_for(server, pid, contact_id, 'another secret')}",
              # Well signed, but my contact is no contact of theirs.
              f"/unsubscribe/{token_for(server, other_photographer.photographer_id, contact_id)}",
              url[:-3] + "abc", "/unsubscribe/garbled", "/unsubscribe/a%00b")
    for bad in forged:
        assert (await visitor.get(bad)).status_code == 404, bad
        assert (await visitor.post_form(bad)).status_code == 404, bad
    assert await scalar(db, unsubscribed, c=contact_id) is None
    page = await visitor.get(url)
    assert page.status_code == 200
    assert "Pat Lens" in page.text and "Unsubscribe</button>" in page.text
    assert await scalar(db, unsubscribed, c=contact_id) is None  # a GET changes nothing
    assert (await visitor.post_form(url, csrf=False)).status_code == 403
    assert await scalar(db, unsubscribed, c=contact_id) is None
    done = await visitor.post_form(url)
    assert done.status_code == 200 and "You are unsubscribed" in done.text
    first = await scalar(db, unsubscribed, c=contact_id)
    assert first is not None
    assert (await visitor.post_form(url)).status_code == 200  # idempotent
    assert await scalar(db, unsubscribed, c=contact_id) == first
    assert "You are unsubscribed" in (await visitor.get(url)).text
    gallery = (await photographer.get(f"/panel/events/{event_id}")).text
    assert re.search(r'class="badge[^"]*"[^>]*>Unsubscribed<', gallery)


async def test_an_unsubscribed_client_is_skipped_with_the_reason(server, photographer,
                                                                 new_client, db):
    event_id, _, _, _ = await typed_released_gallery(photographer, db)
    await add_client(photographer, event_id, "anna@example.com")
    contact_id = await scalar(db, "SELECT contact_id FROM gallery_clients WHERE event_id=:e",
                              e=event_id)
    visitor = new_client()
    url = f"/unsubscribe/{token_for(server, photographer.photographer_id, contact_id)}"
    await visitor.get(url)
    assert (await visitor.post_form(url)).status_code == 200
    (action_id, *_), = await actions(db, event_id)
    assert (await photographer.post_form(f"/panel/scheduled/{action_id}/send-now")
            ).status_code == 303
    reason = await wait_for(db, "SELECT reason FROM scheduled_actions WHERE event_id=:e "
                                "AND contact_id=:c AND state='skipped'", e=event_id,
                            c=contact_id)
    assert "unsubscribed" in reason
    assert await scalar(db, "SELECT COUNT(*) FROM outbound_emails WHERE event_id=:e",
                        e=event_id) == 0
    page = (await photographer.get(f"/panel/events/{event_id}/timeline")).text
    assert "Not sent to Anna Smith" in page and "They unsubscribed" in page


# --- in Chromium: the timeline fills live, the feed reads in words, the email links ------


ARTIFACTS = Path(__file__).parent / "artifacts"


async def panel_page(browser, client, base_url: str, width: int = 1440):
    context = await browser.new_context(viewport={"width": width, "height": 900})
    host = urlsplit(base_url).hostname
    await context.add_cookies([{"name": n, "value": v, "domain": host, "path": "/"}
                               for n, v in client.http.cookies.items()])
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    return context, page, problems


OVERFLOW_JS = """(selector) => [...document.querySelectorAll(selector)]
  .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
  .map((el) => el.outerHTML.slice(0, 80))"""


async def no_overflow(page) -> None:
    """Nothing of this page's own sticks out on the right (the page may clip it)."""
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= await page.evaluate("window.innerWidth"), "the page scrolls sideways"
    mine = (".page-head *, .clients-card *, #timeline-region *, .workflow-fieldset *, "
            ".share-bar")
    assert await page.evaluate(OVERFLOW_JS, mine) == []


@pytest.mark.browser
async def test_timeline_and_feed_follow_a_send_live(browser, server, photographer, db):
    from playwright.async_api import expect

    event_id, _, _, _ = await typed_released_gallery(photographer, db)
    await add_client(photographer, event_id, "anna@example.com", name="Anna Smith")
    await add_client(photographer, event_id, "ben.longname-with-a-very-long-address"
                     "@photography-example-studio.com", name="Benjamin Alexander Longname")
    context, page, problems = await panel_page(browser, photographer, server.base_url)
    ARTIFACTS.mkdir(exist_ok=True)
    await page.goto(f"{server.base_url}/panel/events/{event_id}")
    await expect(page.locator("#clients-list li")).to_have_count(2)
    await no_overflow(page)
    await page.screenshot(path=str(ARTIFACTS / "workflow-gallery-clients-1440.png"),
                          full_page=True)
    await page.goto(f"{server.base_url}/panel/events/{event_id}/timeline")
    await expect(page.locator("#timeline-region .tl-pending")).to_have_count(1)
    await page.screenshot(path=str(ARTIFACTS / "workflow-timeline-pending-1440.png"),
                          full_page=True)
    dashboard = await context.new_page()
    await dashboard.goto(f"{server.base_url}/panel")

    (action_id, *_), = await actions(db, event_id)
    res = await photographer.post_form(f"/panel/scheduled/{action_id}/send-now")
    assert res.status_code == 303
    # No reload: the region is fetched again when the sends arrive.
    sent = page.locator("#timeline-region .tl-sent")
    await expect(sent.filter(has_text="Sent to Anna Smith")).to_have_count(1, timeout=20000)
    await expect(sent.filter(has_text="Sent to Benjamin")).to_have_count(1)
    assert await page.evaluate("performance.getEntriesByType('navigation').length") == 1
    await expect(dashboard.locator("#feed .kind-workflow_email_sent").first).to_contain_text(
        "Gallery is live sent to")
    await expect(dashboard.locator("#feed")).to_contain_text(
        "sent to Anna Smith · “Your photos of Smith Wedding”")
    await page.screenshot(path=str(ARTIFACTS / "workflow-timeline-sent-1440.png"),
                          full_page=True)
    await dashboard.locator("#feed").screenshot(path=str(ARTIFACTS / "workflow-feed.png"))
    anna = await scalar(db, "SELECT id FROM contacts WHERE email='anna@example.com' AND "
                            "photographer_id=:p", p=photographer.photographer_id)
    await dashboard.goto(f"{server.base_url}/panel/contacts/{anna}")
    await expect(dashboard.locator("#timeline")).to_contain_text(
        "Gallery is live sent to Anna Smith · “Your photos of Smith Wedding”")
    await page.set_viewport_size({"width": 390, "height": 844})
    for name, path in (("clients", ""), ("timeline", "/timeline"), ("settings", "/edit")):
        await page.goto(f"{server.base_url}/panel/events/{event_id}{path}")
        await no_overflow(page)
        await page.screenshot(path=str(ARTIFACTS / f"workflow-gallery-{name}-390.png"),
                              full_page=True)
    await page.set_viewport_size({"width": 1440, "height": 900})
    await page.goto(f"{server.base_url}/panel/events/{event_id}/edit")
    await no_overflow(page)
    await page.locator("#workflow-choice").screenshot(
        path=str(ARTIFACTS / "workflow-gallery-settings-1440.png"))
    assert problems == []
    await context.close()


FEED_WORDS_JS = """async () => {
  const m = await import('/static/js/activity_apply.js');
  const base = { seq: 9, event_id: 1, contact_id: 2, contact_name: 'Anna',
                 event_title: 'Smith Wedding', at: '2026-01-02T10:00:00+00:00' };
  const sent = { ...base, kind: 'workflow_email_sent',
                 payload: { step: 'Reminder', subject: '3 days left to order', email_id: 5 } };
  const skipped = { ...base, kind: 'workflow_skipped',
                    payload: { step: 'Reminder', reason: 'They unsubscribed.' } };
  const row = { event_id: 1, contact_id: 2, favorites: 3, comments: 1, last_saved: 'x',
                last_saved_at: 'x' };
  const summary = { today: { visits: 1, favorites: 2, comments: 0, downloads: 0 },
                    open_orders: 1 };
  const words = (d) => `${d.who} ${d.verb} ${d.what}${d.where}`;
  const today = () => true;
  return {
    sent: words(m.describeWorkflow(sent, 'Anna')),
    skipped: words(m.describeWorkflow(skipped, 'Anna')),
    rows: [m.applyToRow(row, sent), m.applyToRow(row, skipped)], row,
    summaries: [m.applyToSummary(summary, sent, today),
                m.applyToSummary(summary, skipped, today)], summary,
    other: m.describeWorkflow({ ...base, kind: 'visit' }, 'Anna'),
  };
}"""


@pytest.mark.browser
async def test_feed_words_for_workflow_kinds_move_no_counter(browser, server, photographer):
    """activity_apply.js: the words, and no LAST SAVED or counter change (photographer kinds)."""
    context, page, problems = await panel_page(browser, photographer, server.base_url)
    await page.goto(f"{server.base_url}/panel")
    result = await page.evaluate(FEED_WORDS_JS)
    assert result["sent"] == "Reminder sent to Anna · “3 days left to order” · Smith Wedding"
    assert result["skipped"] == "Not sent to Anna: They unsubscribed (Reminder · Smith Wedding)"
    assert result["rows"] == [result["row"], result["row"]]
    assert result["summaries"] == [result["summary"], result["summary"]]
    assert result["other"] is None and problems == []
    await context.close()


@pytest.mark.browser
async def test_email_buttons_open_favorites_and_the_shop(browser, server, photographer, db):
    from playwright.async_api import expect

    event_id, slug, _ = await released_gallery(photographer, n_images=2)
    await seed_price_list(db, photographer.photographer_id, event_id)
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    await page.goto(f"{server.base_url}/g/{slug}?view=favorites")
    await expect(page.locator('.seg[data-view="favorites"]')).to_have_class(re.compile("active"))
    await expect(page.locator("#favorites-empty")).to_be_visible()
    await page.goto(f"{server.base_url}/g/{slug}?view=shop")
    await expect(page.locator("#gate")).to_be_visible()  # Shop asks who she is first
    await page.fill("#gate-name", "Jane Client")
    await page.fill("#gate-email", "jane@example.com")
    await page.click("#gate-form button[type=submit]")
    await expect(page.locator("#store-picker")).to_be_visible()
    await page.goto(f"{server.base_url}/g/{slug}")
    await expect(page.locator("#store-picker")).to_be_hidden()
    assert problems == []
    await context.close()
