"""The Gallery Workflows builder through HTTP, on both backends: workflows from the
Wedding, Portrait and School templates; editing a step moves a released gallery's pending
ScheduledAction at once; one active workflow per gallery type; duplicating; deleting
cancels what was pending; the sending rules; an email step's preview and test email.

Bad input is a 400 that changes nothing; another photographer gets a 404 for every id of
the first one's and changes nothing of theirs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from conftest import create_gallery, gate_contact_id, rows, scalar
from playwright.async_api import expect

BASE = "/panel/workflows"
DAY = 86400


def as_json(value):
    return json.loads(value) if isinstance(value, str) else value


def aware(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def type_id(db, client, name: str) -> int:
    return await scalar(db, "SELECT id FROM gallery_types WHERE photographer_id=:p "
                            "AND name=:n", p=client.photographer_id, n=name)


async def make_workflow(client, db, preset: str = "wedding", *, type_name: str = "Wedding",
                        name: str = "", active: bool = True) -> int:
    data = {"preset": preset, "name": name or f"{preset.title() or 'Blank'} flow",
            "description": "Ours", "gallery_type_id": str(await type_id(db, client, type_name))}
    if active:
        data["active"] = "on"
    res = await client.post_form(f"{BASE}/new", data)
    assert res.status_code == 303, res.text
    return int(res.headers["location"].split("?")[0].rsplit("/", 1)[1])


async def steps_of(db, workflow_id: int) -> list[dict]:
    found = await rows(db, "SELECT id, kind, name, anchor, offset_seconds, audience, "
                           "at_send_time, content, position, end_anchor, end_offset_seconds "
                           "FROM workflow_steps WHERE workflow_id=:w ORDER BY position, id",
                       w=workflow_id)
    return [{"id": r[0], "kind": r[1], "name": r[2], "anchor": r[3], "offset": r[4],
             "audience": r[5], "at_send_time": bool(r[6]), "content": as_json(r[7]),
             "position": r[8], "end_anchor": r[9], "end_offset": r[10]} for r in found]


def step_form(step: dict, **changes) -> dict:
    """The step editor's fields for `step` (as steps_of reads it), with changes."""
    seconds = abs(step["offset"])
    content = step["content"]
    data = {"kind": step["kind"], "name": step["name"], "anchor": step["anchor"],
            "amount": str(seconds // DAY if seconds % DAY == 0 else seconds // 60),
            "unit": "days" if seconds % DAY == 0 else "minutes",
            "direction": "before" if step["offset"] < 0 else "after",
            "audience": step["audience"], "subject": content.get("subject", ""),
            "body": content.get("body", ""), "coupon_code": content.get("coupon_code", ""),
            "text": content.get("text", ""), "style": content.get("style", "notice"),
            "position": content.get("position", "top"),
            "after_n": str(content.get("after_n", 12)),
            "end_anchor": step["end_anchor"] or ""}
    if step["at_send_time"]:
        data["at_send_time"] = "on"
    for n, button in enumerate(content.get("buttons", []), start=1):
        data.update({f"button{n}_action": button["action"], f"button{n}_label": button["label"],
                     f"button{n}_url": button["url"]})
    data.update(changes)
    return data


async def released(client, db, type_name: str = "Wedding", days: int = 30) -> int:
    expires = (datetime.now(UTC) + timedelta(days=days)).date().isoformat()
    event_id = await create_gallery(client, gallery_type_id=str(await type_id(db, client,
                                                                             type_name)),
                                    expires_on=expires)
    res = await client.post_form(f"/panel/events/{event_id}/status", {"status": "released"})
    assert res.status_code == 303
    return event_id


async def actions(db, event_id: int, step_id: int) -> list[tuple]:
    return await rows(db, "SELECT state, next_attempt_at, reason FROM scheduled_actions "
                          "WHERE event_id=:e AND step_id=:s ORDER BY id", e=event_id, s=step_id)


async def snapshot(db, photographer_id: int) -> dict[str, list]:
    state = {table: await rows(db, f"SELECT * FROM {table} WHERE photographer_id=:p "
                                   "ORDER BY 1", p=photographer_id)
             for table in ("workflows", "workflow_steps", "sending_rules")}
    # The planned ones: those due now (the announcement) are the worker's to change.
    later = datetime.now(UTC) + timedelta(hours=1)
    state["actions"] = [r for r in await rows(
        db, "SELECT id, state, next_attempt_at FROM scheduled_actions WHERE "
            "photographer_id=:p ORDER BY id", p=photographer_id) if aware(r[2]) > later]
    return state


async def test_templates_make_whole_workflows_and_the_list_shows_them(photographer, db):
    me = photographer
    page = await me.get(BASE)
    assert page.status_code == 200 and "No workflows yet" in page.text
    for key in ("wedding", "portrait", "school", "blank"):
        assert f'data-preset="{key}"' in page.text
    assert "Gallery Workflows" in page.text and ">Clients<" in page.text
    res = await me.post_form("/panel/store/coupons", {"code": "WELCOME10", "kind": "percent",
                                                      "amount": "10", "active": "on"})
    assert res.status_code == 303
    form = await me.get(f"{BASE}/new?preset=wedding")
    assert form.status_code == 200 and 'value="Wedding"' in form.text

    wedding = await make_workflow(me, db, "wedding")
    portrait = await make_workflow(me, db, "portrait", type_name="Portrait")
    school = await make_workflow(me, db, "school", type_name="School")
    blank = await make_workflow(me, db, "", type_name="School", name="Empty one",
                                active=False)

    steps = await steps_of(db, wedding)
    emails = [s for s in steps if s["kind"] == "email"]
    assert sorted(s["offset"] for s in emails if s["anchor"] == "expiry") == [
        -7 * DAY, -4 * DAY, -DAY]
    live = next(s for s in emails if s["anchor"] == "release")
    assert live["offset"] == 0 and not live["at_send_time"]
    cart = next(s for s in emails if s["anchor"] == "cart_change")
    assert cart["offset"] == DAY and cart["audience"] == "open_cart"
    banner = next(s for s in steps if s["kind"] == "banner")
    assert (banner["anchor"], banner["offset"], banner["end_anchor"]) == ("expiry", -3 * DAY,
                                                                          "expiry")
    assert banner["content"]["position"] == "top"
    for s in emails:
        assert s["content"]["subject"] and "{" in s["content"]["body"]
        assert len(s["content"]["buttons"]) <= 2

    favorites = next(s for s in await steps_of(db, portrait)
                     if s["anchor"] == "release" and s["offset"] == 2 * DAY)
    assert favorites["audience"] == "favorites_no_order"
    school_steps = await steps_of(db, school)
    assert school_steps[0]["anchor"] == "event_date" and school_steps[0]["offset"] == DAY
    between = next(s for s in school_steps if s["kind"] == "banner")
    assert between["content"]["position"] == "between" and between["content"]["after_n"] == 12
    coupon = next(s for s in school_steps if s["anchor"] == "cart_change")
    assert coupon["content"]["coupon_code"] == "WELCOME10"
    assert await steps_of(db, blank) == []

    listing = (await me.get(BASE)).text
    for name in ("Wedding flow", "Portrait flow", "School flow", "Empty one"):
        assert name in listing
    editor = (await me.get(f"{BASE}/{wedding}")).text
    for text in ("7 days before expiry · at 09:00", "1 day after the last cart change",
                 "At release · immediately", "From 3 days before expiry until expiry",
                 "The gallery&#39;s clients", "Visitors with an open cart"):
        assert text in editor, text
    step_page = await me.get(f"{BASE}/{wedding}/steps/{cart['id']}")
    assert step_page.status_code == 200
    assert 'data-merge="{first_name}"' in step_page.text
    assert 'data-merge="{coupon_code}"' in step_page.text


async def test_editing_a_step_moves_a_released_gallerys_pending_action(photographer, db):
    me = photographer
    flow = await make_workflow(me, db, "wedding")
    event_id = await released(me, db)
    reminder = next(s for s in await steps_of(db, flow) if s["offset"] == -7 * DAY)
    [(state, due, _)] = await actions(db, event_id, reminder["id"])
    assert state == "pending"

    res = await me.post_form(f"{BASE}/{flow}/steps/{reminder['id']}",
                             step_form(reminder, amount="10"))
    assert res.status_code == 303, res.text
    [(state, moved, _)] = await actions(db, event_id, reminder["id"])
    assert state == "pending" and aware(due) - aware(moved) == timedelta(days=3)

    # The sending rules move it too: an hour later, in the same unit as the save.
    res = await me.post_form(f"{BASE}/sending-rules", {
        "timezone": "UTC", "send_time": "10:00", "quiet_start": "21:00", "quiet_end": "08:00"})
    assert res.status_code == 303, res.text
    [(state, later, _)] = await actions(db, event_id, reminder["id"])
    assert state == "pending" and aware(later) - aware(moved) == timedelta(hours=1)
    assert aware(later).hour == 10
    page = (await me.get(f"{BASE}/sending-rules")).text
    assert 'value="10:00"' in page and 'value="21:00"' in page
    for bad in ({"send_time": "25:00"}, {"timezone": "Mars/Base"},
                {"quiet_start": "22:00", "quiet_end": ""}):
        before = await snapshot(db, me.photographer_id)
        res = await me.post_form(f"{BASE}/sending-rules", {
            "timezone": "UTC", "send_time": "10:00", **bad})
        assert res.status_code == 400, bad
        assert await snapshot(db, me.photographer_id) == before

    # Deleting the step cancels its pending action, with the reason.
    res = await me.post_form(f"{BASE}/{flow}/steps/{reminder['id']}/delete")
    assert res.status_code == 303
    assert await scalar(db, "SELECT COUNT(*) FROM workflow_steps WHERE id=:s",
                        s=reminder["id"]) == 0
    states = await rows(db, "SELECT state, reason FROM scheduled_actions WHERE event_id=:e "
                            "AND label=:l", e=event_id, l=reminder["name"])
    assert states and all(s == "cancelled" for s, _ in states), states
    assert {r for _, r in states} == {"The step was removed from its workflow."}

    # A step added later is planned at once for the released gallery.
    res = await me.post_form(f"{BASE}/{flow}/steps/new", {
        "kind": "email", "anchor": "expiry", "amount": "2", "unit": "days",
        "direction": "before", "audience": "clients", "at_send_time": "on",
        "subject": "Two days left, {first_name}", "body": "See you soon."})
    assert res.status_code == 303, res.text
    added = next(s for s in await steps_of(db, flow) if s["offset"] == -2 * DAY)
    [(state, _, _)] = await actions(db, event_id, added["id"])
    assert state == "pending"
    positions = [s["offset"] for s in await steps_of(db, flow) if s["anchor"] == "expiry"]
    assert positions == sorted(positions)  # placed in time order


async def test_a_dated_step_is_in_the_studios_time_zone(photographer, db):
    me = photographer
    res = await me.post_form(f"{BASE}/sending-rules", {"timezone": "Europe/Paris",
                                                       "send_time": "09:00"})
    assert res.status_code == 303, res.text
    flow = await make_workflow(me, db, "", name="Dated")
    event_id = await released(me, db)
    day = (datetime.now(UTC) + timedelta(days=10)).date()
    res = await me.post_form(f"{BASE}/{flow}/steps/new", {
        "kind": "email", "anchor": "date", "at_local": f"{day.isoformat()}T10:30",
        "audience": "clients", "subject": "Studio news", "body": "Hello {first_name}"})
    assert res.status_code == 303, res.text
    [step] = await steps_of(db, flow)
    [(state, due, _)] = await actions(db, event_id, step["id"])
    paris = datetime(day.year, day.month, day.day, 10, 30, tzinfo=ZoneInfo("Europe/Paris"))
    assert state == "pending" and aware(due) == paris and paris.utcoffset()
    editor = (await me.get(f"{BASE}/{flow}")).text
    assert f"On {day:%b} {day.day}, {day.year} at 10:30" in editor
    form = (await me.get(f"{BASE}/{flow}/steps/{step['id']}")).text
    assert f'value="{day.isoformat()}T10:30"' in form


async def test_one_active_workflow_per_gallery_type(photographer, db):
    me = photographer
    first = await make_workflow(me, db, "wedding", name="First")
    second = await make_workflow(me, db, "wedding", name="Second")
    event_id = await released(me, db)

    def active_of(flows):
        return {r[0]: bool(r[1]) for r in flows}

    flows = await rows(db, "SELECT id, active FROM workflows WHERE photographer_id=:p",
                       p=me.photographer_id)
    assert active_of(flows) == {first: False, second: True}
    second_steps = {s["id"] for s in await steps_of(db, second)}
    pending = await rows(db, "SELECT step_id FROM scheduled_actions WHERE event_id=:e AND "
                             "state='pending'", e=event_id)
    assert pending and {r[0] for r in pending} <= second_steps

    res = await me.post_form(f"{BASE}/{first}/active", {"active": "on"})
    assert res.status_code == 303
    flows = await rows(db, "SELECT id, active FROM workflows WHERE photographer_id=:p",
                       p=me.photographer_id)
    assert active_of(flows) == {first: True, second: False}
    first_steps = {s["id"] for s in await steps_of(db, first)}
    pending = await rows(db, "SELECT step_id FROM scheduled_actions WHERE event_id=:e AND "
                             "state='pending'", e=event_id)
    assert pending and {r[0] for r in pending} <= first_steps
    listing = (await me.get(BASE)).text
    assert listing.count(">Active<") == 1

    res = await me.post_form(f"{BASE}/{first}/active", {})
    assert res.status_code == 303
    assert await scalar(db, "SELECT COUNT(*) FROM scheduled_actions WHERE event_id=:e AND "
                            "state='pending'", e=event_id) == 0


async def test_duplicate_copies_steps_inactive_and_delete_cancels_pending(photographer, db):
    me = photographer
    flow = await make_workflow(me, db, "wedding", name="Original")
    event_id = await released(me, db)
    res = await me.post_form(f"{BASE}/{flow}/duplicate")
    assert res.status_code == 303
    copy = int(res.headers["location"].split("?")[0].rsplit("/", 1)[1])
    name, active = (await rows(db, "SELECT name, active FROM workflows WHERE id=:w",
                               w=copy))[0]
    assert name == "Original (copy)" and not active
    original, copied = await steps_of(db, flow), await steps_of(db, copy)
    strip = [{k: v for k, v in s.items() if k != "id"} for s in original]
    assert strip == [{k: v for k, v in s.items() if k != "id"} for s in copied]

    # Moving a step swaps it with its neighbour; at an end it stays.
    ids = [s["id"] for s in copied]
    res = await me.post_form(f"{BASE}/{copy}/steps/{ids[1]}/move", {"direction": "up"})
    assert res.status_code == 303
    res = await me.post_form(f"{BASE}/{copy}/steps/{ids[-1]}/move", {"direction": "down"})
    assert res.status_code == 303
    assert [s["id"] for s in await steps_of(db, copy)] == [ids[1], ids[0], *ids[2:]]

    # The reminders (the announcement, due now, is the worker's to send meanwhile).
    later = datetime.now(UTC) + timedelta(hours=1)
    planned = [r[0] for r in await rows(
        db, "SELECT id, next_attempt_at FROM scheduled_actions WHERE event_id=:e AND "
            "state='pending'", e=event_id) if aware(r[1]) > later]
    assert len(planned) >= 3
    res = await me.post_form(f"{BASE}/{flow}/delete")
    assert res.status_code == 303 and res.headers["location"] == f"{BASE}?saved=deleted"
    assert await scalar(db, "SELECT COUNT(*) FROM workflows WHERE id=:w", w=flow) == 0
    assert await scalar(db, "SELECT COUNT(*) FROM workflow_steps WHERE workflow_id=:w",
                        w=flow) == 0
    after = dict((r[0], r[1:]) for r in await rows(
        db, "SELECT id, state, reason FROM scheduled_actions WHERE event_id=:e", e=event_id))
    assert all(after[i] == ("cancelled", "The workflow was deleted.") for i in planned), after
    assert not [r for r in after.values() if r[0] == "pending"]
    assert len(await steps_of(db, copy)) == len(original)  # the copy is untouched


async def test_bad_input_is_a_clear_400_and_changes_nothing(photographer, other_photographer,
                                                            db):
    me, other = photographer, other_photographer
    flow = await make_workflow(me, db, "wedding")
    await released(me, db)
    res = await other.post_form("/panel/store/coupons", {"code": "THEIRS20", "kind": "percent",
                                                         "amount": "20", "active": "on"})
    assert res.status_code == 303
    cart = next(s for s in await steps_of(db, flow) if s["anchor"] == "cart_change")
    banner = next(s for s in await steps_of(db, flow) if s["kind"] == "banner")
    url = f"{BASE}/{flow}/steps/{cart['id']}"
    cases = [
        (url, step_form(cart, subject="  "), "Subject is required"),
        (url, step_form(cart, body="x" * 10_001), "Body is too long"),
        (url, step_form(cart, amount="-5"), "Amount must be a whole number"),
        (url, step_form(cart, amount="9999", unit="days"), "at most 366 days"),
        (url, step_form(cart, amount="2", direction="before"), "not come before it"),
        (url, step_form(cart, anchor="tomorrow"), "When must be one of"),
        (url, step_form(cart, audience="everyone"), "Audience must be one of"),
        (url, step_form(cart, button1_action="url", button1_url="javascript:alert(1)"),
         "must be a web address"),
        (url, step_form(cart, coupon_code="THEIRS20"), "Pick one of your active coupons"),
        (url, step_form(cart, kind="robot"), "Kind must be one of"),
        (f"{BASE}/{flow}/steps/{banner['id']}", step_form(banner, text=""),
         "Text is required"),
        (f"{BASE}/{flow}/steps/new", step_form(cart, anchor="date", at_local="soon"),
         "YYYY-MM-DD"),
        (f"{BASE}/{flow}", {"name": "", "gallery_type_id": str(await type_id(db, me,
                                                                              "Wedding"))},
         "Name is required"),
        (f"{BASE}/{flow}", {"name": "Mine", "gallery_type_id": str(
            await type_id(db, other, "Wedding"))}, "Pick one of your gallery types"),
        (f"{BASE}/new", {"name": "New", "preset": "wedding"}, "Pick one of your gallery"),
        (f"{BASE}/new", {"name": "New", "preset": "birthday", "gallery_type_id": str(
            await type_id(db, me, "Wedding"))}, "Template must be one of"),
    ]
    for target, data, message in cases:
        before = await snapshot(db, me.photographer_id)
        res = await me.post_form(target, data)
        assert res.status_code == 400, (message, res.status_code)
        assert message in res.text.replace("&#39;", "'"), message
        assert await snapshot(db, me.photographer_id) == before, message


async def test_preview_merges_the_contact_and_a_test_lands_in_the_mail_log(photographer, db,
                                                                            new_client):
    me = photographer
    flow = await make_workflow(me, db, "wedding")
    event_id = await released(me, db)
    slug = await scalar(db, "SELECT slug FROM events WHERE id=:e", e=event_id)
    contact = await gate_contact_id(new_client(), slug, email="jane@example.com",
                                    name="Jane Client")
    live = next(s for s in await steps_of(db, flow) if s["anchor"] == "release")
    step_url = f"{BASE}/{flow}/steps/{live['id']}"

    page = await me.get(f"{step_url}/preview")
    assert page.status_code == 200
    assert f'src="{step_url}/preview/email"' in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    sample = await me.get(f"{step_url}/preview/email")
    assert sample.status_code == 200 and "Hi Alex," in sample.text
    assert "/unsubscribe/" in sample.text and "Sample Gallery" in sample.text
    policy = sample.headers["content-security-policy"]
    assert "frame-ancestors 'self'" in policy and "script-src" not in policy
    assert "default-src 'none'" in policy and sample.headers["x-frame-options"] == "SAMEORIGIN"

    real = await me.get(f"{step_url}/preview/email?contact={contact}&gallery={event_id}")
    assert "Hi Jane," in real.text and "/unsubscribe/" in real.text
    assert f"/g/{slug}" in real.text and "Smith Wedding" in real.text

    res = await me.post_form(f"{step_url}/test", {"contact": str(contact),
                                                  "gallery": str(event_id)})
    assert res.status_code == 303
    assert "saved=test" in res.headers["location"]
    sent = await rows(db, "SELECT recipient, subject, body_text FROM outbound_emails WHERE "
                          "photographer_id=:p AND kind='workflow_test'", p=me.photographer_id)
    assert len(sent) == 1
    recipient, subject, body = sent[0]
    assert recipient == me.email and subject.startswith("[Test] ") and "Jane" in subject
    assert "Hi Jane," in body
    log = (await me.get("/panel/mail")).text
    assert "[Test] Your wedding gallery is here, Jane!" in log

    banner = next(s for s in await steps_of(db, flow) if s["kind"] == "banner")
    res = await me.get(f"{BASE}/{flow}/steps/{banner['id']}/preview")
    assert res.status_code == 400


async def test_another_photographer_gets_404_everywhere_and_changes_nothing(
        photographer, other_photographer, db, new_client):
    a, b = photographer, other_photographer
    flow = await make_workflow(a, db, "wedding")
    event_id = await released(a, db)
    slug = await scalar(db, "SELECT slug FROM events WHERE id=:e", e=event_id)
    contact = await gate_contact_id(new_client(), slug, email="kim@example.com", name="Kim")
    step = (await steps_of(db, flow))[0]
    own = await make_workflow(b, db, "wedding")
    own_step = (await steps_of(db, own))[0]
    before = await snapshot(db, a.photographer_id)

    step_url = f"{BASE}/{flow}/steps/{step['id']}"
    for url in (f"{BASE}/{flow}", f"{BASE}/{flow}/steps/new", step_url,
                f"{step_url}/preview", f"{step_url}/preview/email"):
        assert (await b.get(url)).status_code == 404, url
    b_step = f"{BASE}/{own}/steps/{own_step['id']}"
    for url in (f"{b_step}/preview?contact={contact}", f"{b_step}/preview?gallery={event_id}",
                f"{b_step}/preview/email?contact={contact}",
                f"{BASE}/{own}/steps/{step['id']}"):
        assert (await b.get(url)).status_code == 404, url
    for url, data in [
        (f"{BASE}/{flow}", {"name": "Stolen", "gallery_type_id": str(
            await type_id(db, b, "Wedding"))}),
        (f"{BASE}/{flow}/active", {"active": "on"}),
        (f"{BASE}/{flow}/duplicate", {}),
        (f"{BASE}/{flow}/delete", {}),
        (f"{BASE}/{flow}/steps/new", step_form(step)),
        (step_url, step_form(step, subject="Mine")),
        (f"{step_url}/move", {"direction": "down"}),
        (f"{step_url}/delete", {}),
        (f"{step_url}/test", {}),
        (f"{b_step}/test", {"contact": str(contact)}),
        (f"{BASE}/{own}/steps/{step['id']}/delete", {}),
    ]:
        res = await b.post_form(url, data)
        assert res.status_code == 404, (url, res.status_code)
    assert await snapshot(db, a.photographer_id) == before
    listing = (await b.get(BASE)).text
    assert f'data-workflow-id="{flow}"' not in listing
    assert await scalar(db, "SELECT COUNT(*) FROM outbound_emails WHERE photographer_id=:p "
                            "AND kind='workflow_test'", p=b.photographer_id) == 0


@pytest.mark.browser
async def test_building_a_workflow_in_the_browser(browser, photographer, server, db):
    """From the Wedding template to a sent test: the form shows the fields the chosen
    anchor and button need, a merge field goes in at the cursor, the preview frames the
    email."""
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    host = urlsplit(server.base_url).hostname
    await context.add_cookies([{"name": n, "value": v, "domain": host, "path": "/"}
                               for n, v in photographer.http.cookies.items()])
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await page.goto(server.base_url + BASE)
    await page.click("[data-preset=wedding]")
    await page.click("text=Create workflow")
    await expect(page.locator(".wf-step")).to_have_count(6)

    await page.click("text=Add email")
    await page.select_option("select[name=anchor]", "cart_change")
    await expect(page.locator("select[name=direction] option[value=before]")).to_be_disabled()
    await page.select_option("select[name=anchor]", "date")
    await expect(page.locator("input[name=amount]")).to_be_hidden()
    await expect(page.locator("input[name=at_local]")).to_be_visible()
    await page.select_option("select[name=anchor]", "release")
    await page.fill("input[name=amount]", "3")
    await page.fill("input[name=subject]", "Still thinking of you, ")
    await page.click("[data-merge='{first_name}']")
    await expect(page.locator("input[name=subject]")).to_have_value(
        "Still thinking of you, {first_name}")
    await expect(page.locator("input[name=button1_url]")).to_be_hidden()
    await page.select_option("select[name=button1_action]", "url")
    await expect(page.locator("input[name=button1_url]")).to_be_visible()
    await page.fill("input[name=button1_url]", "https://studio.example.com/book")
    await page.fill("textarea[name=body]", "Hi {first_name}, book your next session.")
    await page.click("text=Add step")
    card = page.locator(".wf-step", has_text="Still thinking of you")
    await expect(card).to_contain_text("3 days after release · at 09:00")

    await card.locator("text=Preview").click()
    frame = page.frame_locator("iframe.wf-mail-frame")
    await expect(frame.locator("body")).to_contain_text("Hi Alex, book your next session.")
    await page.click("#send-test")
    await expect(page.locator(".alert-ok")).to_contain_text("Test email sent to you")
    await page.click("text=Open the mail log")
    await expect(page.locator("body")).to_contain_text("[Test] Still thinking of you, Alex")
    assert errors == []
    await context.close()
