"""The studio's time zone (Settings → Account, the same one the workflows' sending rules
use): the dashboard's "today" starts at the studio's midnight, not UTC's."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from conftest import pass_gate, released_gallery, scalar
from sqlalchemy import text

ZONE = "Pacific/Kiritimati"  # UTC+14: its midnight and UTC's are 10 or 14 hours apart


def midnight(zone: ZoneInfo, now: datetime) -> datetime:
    local = now.astimezone(zone)
    return datetime.combine(local.date(), datetime.min.time(), tzinfo=zone).astimezone(UTC)


async def test_today_on_the_dashboard_is_the_studios_day(photographer, new_client, db):
    _, slug, images = await released_gallery(photographer, 1)
    visitor = new_client()
    await pass_gate(visitor, slug, email="tz@example.com", name="Tia")
    res = await visitor.post_json(f"/g/{slug}/images/{images[0]['id']}/favorite", {"on": True})
    assert res.status_code == 200, res.text
    # The favorite happened between the two midnights (UTC's and the studio's).
    now = datetime.now(UTC)
    utc_midnight, local_midnight = midnight(UTC, now), midnight(ZoneInfo(ZONE), now)
    at = min(utc_midnight, local_midnight) + abs(utc_midnight - local_midnight) / 2
    async with db.begin() as conn:
        await conn.execute(text("UPDATE activity_events SET at = :at WHERE kind = "
                                "'favorite_added' AND photographer_id = :p"),
                           {"at": at.replace(tzinfo=None), "p": photographer.photographer_id})

    async def favorites_today() -> int:
        res = await photographer.get("/panel/summary.json")
        return res.json()["today"]["favorites"]

    assert await favorites_today() == (1 if at >= utc_midnight else 0)  # UTC, the default
    res = await photographer.post_form("/panel/settings/account", {
        "name": "Pat", "business_name": "Pat Studio", "timezone": ZONE})
    assert res.status_code == 303, res.text
    assert ZONE.replace("_", " ") in (await photographer.get("/panel/settings/account")).text
    assert await scalar(db, "SELECT timezone FROM sending_rules WHERE photographer_id = :p",
                        p=photographer.photographer_id) == ZONE
    assert await favorites_today() == (1 if at >= local_midnight else 0)
    # The sending rules page shows the same zone: one setting, two places.
    rules = (await photographer.get("/panel/workflows/sending-rules")).text
    assert f'<option value="{ZONE}" selected' in rules


async def test_a_zone_not_in_the_list_is_refused_and_changes_nothing(photographer, db):
    res = await photographer.post_form("/panel/settings/account", {
        "name": "Pat", "business_name": "Changed Studio", "timezone": "Mars/Olympus_Mons"})
    assert res.status_code == 400 and "Pick a time zone from the list." in res.text
    assert await scalar(db, "SELECT business_name FROM photographers WHERE id = :p",
                        p=photographer.photographer_id) != "Changed Studio"
    # A form without the field (an older page) keeps the zone.
    res = await photographer.post_form("/panel/settings/account", {
        "name": "Pat", "business_name": "Pat Studio"})
    assert res.status_code == 303
    assert (await scalar(db, "SELECT count(*) FROM sending_rules WHERE photographer_id = :p",
                         p=photographer.photographer_id)) == 0
