"""The client's cart and checkout, through HTTP on both backends: every change is saved
at once, prices come only from the price list, and bad input changes nothing."""

from __future__ import annotations

import asyncio
import io
import zipfile

import pytest
from conftest import (
    BACKENDS,
    Client,
    free_port,
    pass_gate,
    released_gallery,
    rows,
    scalar,
    seed_price_list,
    serve_backend,
    sign_up,
    start_server,
    verify_device,
)


async def _shop(photographer, new_client, db, n_images: int = 5):
    event_id, slug, images = await released_gallery(photographer, n_images=n_images)
    ids = await seed_price_list(db, photographer.photographer_id, event_id)
    visitor = new_client()
    await pass_gate(visitor, slug, email="jane@example.com", name="Jane Client")
    return slug, [i["id"] for i in images], ids, visitor


def _cart(res) -> dict:
    assert res.status_code == 200, res.text
    return res.json()


async def _add(visitor, slug, **item):
    return await visitor.post_json(f"/g/{slug}/cart/items", item)


async def test_the_store_offers_the_gallery_price_list(photographer, new_client, db):
    slug, _, ids, visitor = await _shop(photographer, new_client, db)
    data = (await visitor.get(f"/g/{slug}/store.json")).json()
    offered = {item["id"]: item for item in data["store"]["items"]}
    assert set(offered) == {ids[k] for k in ("print", "web", "full", "gallery", "canvas",
                                             "package")}
    assert offered[ids["package"]]["slots"] == 5  # 3 prints + 2 web files
    assert offered[ids["gallery"]]["needs_image"] is False
    assert data["cart"]["lines"] == [] and data["cart"]["stage"] == "browsing"


async def test_prices_come_from_the_price_list_not_the_browser(photographer, new_client, db):
    slug, images, ids, visitor = await _shop(photographer, new_client, db)
    cart = _cart(await _add(visitor, slug, item_id=ids["print"], image_id=images[0],
                            choices={"Paper": "Metallic"}, quantity=2, price=1, unit_price=1))
    [line] = cart["lines"]
    assert (line["unit_price"], line["total"], line["options"]) == (1800, 3600, "Paper: Metallic")
    cart = _cart(await _add(visitor, slug, item_id=ids["canvas"], image_id=images[1],
                            choices={"Size": "20x30", "Frame": "Black"}))
    assert cart["lines"][1]["unit_price"] == 12000 + 6000 + 2500
    assert cart["totals"]["subtotal"] == 3600 + 20500
    assert cart["count"] == 3 and cart["stage"] == "cart"


@pytest.mark.parametrize("bad, field", [
    ({"quantity": 0}, "quantity"), ({"quantity": -1}, "quantity"),
    ({"quantity": 100}, "quantity"), ({"quantity": "2"}, "quantity"),
    ({"choices": {"Paper": "Gold"}}, "choices"), ({"choices": {"Frame": "Black"}}, "choices"),
    ({"choices": "Lustre"}, "choices"), ({"image_id": 999999}, "image"),
    ({"item_id": 999999}, "item"), ({"image_id": "1"}, "image"),
])
async def test_bad_lines_are_refused_and_change_nothing(photographer, new_client, db, bad,
                                                        field):
    slug, images, ids, visitor = await _shop(photographer, new_client, db, n_images=1)
    item = {"item_id": ids["print"], "image_id": images[0], "choices": {"Paper": "Lustre"},
            "quantity": 1, **bad}
    res = await _add(visitor, slug, **item)
    assert res.status_code == 400, res.text
    assert not await rows(db, "SELECT ci.id FROM cart_items ci JOIN carts c ON "
                              "c.id = ci.cart_id JOIN events e ON e.id = c.event_id "
                              "WHERE e.slug = :s", s=slug)


async def test_another_gallerys_photo_or_product_is_refused(photographer, new_client, db):
    slug, images, ids, visitor = await _shop(photographer, new_client, db, n_images=1)
    _, other_slug, other_images = await released_gallery(photographer, n_images=1)
    res = await _add(visitor, slug, item_id=ids["web"], image_id=other_images[0]["id"])
    assert res.status_code == 400
    # The other gallery has no price list: nothing of this one's can be bought there.
    await pass_gate(visitor, other_slug)
    res = await _add(visitor, other_slug, item_id=ids["web"], image_id=other_images[0]["id"])
    assert res.status_code == 400


async def test_packages_need_exactly_their_photos(photographer, new_client, db):
    slug, images, ids, visitor = await _shop(photographer, new_client, db)
    res = await _add(visitor, slug, item_id=ids["package"], images=images[:3])
    assert res.status_code == 400 and "Pick 5 photos" in res.json()["error"]
    cart = _cart(await _add(visitor, slug, item_id=ids["package"], images=images[:5]))
    assert cart["lines"][0]["images"] == images[:5] and cart["totals"]["subtotal"] == 5000


async def test_a_digital_file_is_bought_once(photographer, new_client, db):
    slug, images, ids, visitor = await _shop(photographer, new_client, db, n_images=1)
    _cart(await _add(visitor, slug, item_id=ids["web"], image_id=images[0]))
    assert (await _add(visitor, slug, item_id=ids["web"], image_id=images[0])).status_code == 400
    res = await _add(visitor, slug, item_id=ids["full"], image_id=images[0], quantity=2)
    assert res.status_code == 400


async def test_quantity_and_remove(photographer, new_client, db):
    slug, images, ids, visitor = await _shop(photographer, new_client, db, n_images=1)
    cart = _cart(await _add(visitor, slug, item_id=ids["print"], image_id=images[0],
                            choices={"Paper": "Lustre"}))
    line = cart["lines"][0]["id"]
    cart = _cart(await visitor.post_json(f"/g/{slug}/cart/items/{line}", {"quantity": 4}))
    assert cart["totals"]["subtotal"] == 6000 and cart["version"] == 2
    res = await visitor.post_json(f"/g/{slug}/cart/items/{line}", {"quantity": 0})
    assert res.status_code == 400
    cart = _cart(await visitor.post_json(f"/g/{slug}/cart/items/{line}/delete"))
    assert cart["lines"] == [] and cart["stage"] == "browsing"


async def test_the_cart_is_saved_and_the_report_row_follows(photographer, new_client, db):
    slug, images, ids, visitor = await _shop(photographer, new_client, db, n_images=2)
    await _add(visitor, slug, item_id=ids["print"], image_id=images[0],
               choices={"Paper": "Lustre"}, quantity=2)
    await _add(visitor, slug, item_id=ids["web"], image_id=images[1])
    again = (await visitor.get(f"/g/{slug}/store.json")).json()["cart"]
    assert [line["quantity"] for line in again["lines"]] == [2, 1]
    [visit] = await rows(db, "SELECT v.cart_items, v.cart_value, v.cart_stage FROM visits v "
                             "JOIN events e ON e.id = v.event_id WHERE e.slug = :s", s=slug)
    assert tuple(visit) == (3, 3900, "cart")
    kinds = await rows(db, "SELECT kind, payload FROM activity_events WHERE photographer_id "
                           "= :p AND kind = 'cart_updated' ORDER BY seq",
                       p=photographer.photographer_id)
    assert len(kinds) == 2


async def test_a_second_device_sees_the_cart_only_once_verified(photographer, new_client, db):
    slug, images, ids, visitor = await _shop(photographer, new_client, db, n_images=1)
    await _add(visitor, slug, item_id=ids["web"], image_id=images[0])
    await visitor.post_json(f"/g/{slug}/cart/stage", {"stage": "details"})
    details = {"name": "Jane Client", "email": "jane@example.com", "phone": "555",
               "line1": "1 Main St", "city": "Springfield", "postal_code": "12345",
               "country": "US"}
    _cart(await visitor.post_json(f"/g/{slug}/cart/details", details))
    phone = new_client()
    await pass_gate(phone, slug, email="jane@example.com", name="Jane Client")
    unverified = (await phone.get(f"/g/{slug}/store.json")).json()["cart"]
    assert unverified["lines"] == [] and unverified["details"] == {}
    await verify_device(phone, slug, "jane@example.com")
    verified = (await phone.get(f"/g/{slug}/store.json")).json()["cart"]
    assert len(verified["lines"]) == 1 and verified["details"]["line1"] == "1 Main St"


async def _checkout_ready(visitor, slug, ids, images) -> dict:
    await _add(visitor, slug, item_id=ids["print"], image_id=images[0],
               choices={"Paper": "Lustre"}, quantity=2)
    await _add(visitor, slug, item_id=ids["web"], image_id=images[1])
    return _cart(await visitor.post_json(f"/g/{slug}/cart/details", {
        "name": "Jane Client", "email": "jane@example.com", "line1": "1 Main St",
        "city": "Springfield", "postal_code": "12345", "country": "US"}))


async def test_checkout_places_one_order_even_on_a_double_click(photographer, new_client, db):
    slug, images, ids, visitor = await _shop(photographer, new_client, db, n_images=2)
    cart = await _checkout_ready(visitor, slug, ids, images)
    assert cart["stage"] == "review"
    first = await visitor.post_json(f"/g/{slug}/checkout", {"version": cart["version"]})
    second = await visitor.post_json(f"/g/{slug}/checkout", {"version": cart["version"]})
    assert first.status_code == second.status_code == 200, first.text
    assert first.json()["order_url"] == second.json()["order_url"]
    [order] = await rows(db, "SELECT id, number, subtotal, total, state FROM orders "
                             "WHERE photographer_id = :p", p=photographer.photographer_id)
    assert (order.number, order.subtotal, order.total, order.state) == (1001, 3900, 3900,
                                                                         "placed")
    page = await visitor.get(first.json()["order_url"])
    assert page.status_code == 200 and "Order #1001" in page.text
    after = (await visitor.get(f"/g/{slug}/store.json")).json()["cart"]
    assert after["lines"] == [] and after["stage"] == "ordered"
    mail = await rows(db, "SELECT recipient, kind FROM outbound_emails WHERE kind = "
                          "'order_confirmation' AND photographer_id = :p",
                      p=photographer.photographer_id)
    assert [tuple(m) for m in mail] == [("jane@example.com", "order_confirmation")]


async def test_a_stale_cart_version_is_refused(photographer, new_client, db):
    slug, images, ids, visitor = await _shop(photographer, new_client, db, n_images=2)
    cart = await _checkout_ready(visitor, slug, ids, images)
    res = await visitor.post_json(f"/g/{slug}/checkout", {"version": cart["version"] - 1})
    assert res.status_code == 400
    assert await scalar(db, "SELECT count(*) FROM orders WHERE photographer_id = :p",
                        p=photographer.photographer_id) == 0


async def test_an_order_keeps_its_prices_when_the_list_changes(photographer, new_client, db):
    slug, images, ids, visitor = await _shop(photographer, new_client, db, n_images=2)
    cart = await _checkout_ready(visitor, slug, ids, images)
    await visitor.post_json(f"/g/{slug}/checkout", {"version": cart["version"]})
    async with db.begin() as conn:
        from sqlalchemy import text
        await conn.execute(text("UPDATE price_items SET price = 99999 WHERE id = :i"),
                           {"i": ids["print"]})
    lines = await rows(db, "SELECT l.unit_price FROM order_lines l JOIN orders o ON "
                           "o.id = l.order_id WHERE o.photographer_id = :p ORDER BY l.id",
                       p=photographer.photographer_id)
    assert [line.unit_price for line in lines] == [1500, 900]


async def test_checkout_needs_an_address_only_when_something_ships(photographer, new_client,
                                                                    db):
    slug, images, ids, visitor = await _shop(photographer, new_client, db, n_images=1)
    await _add(visitor, slug, item_id=ids["web"], image_id=images[0])
    cart = _cart(await visitor.post_json(f"/g/{slug}/cart/details", {
        "name": "Jane", "email": "jane@example.com"}))
    assert cart["totals"]["physical"] is False and cart["totals"]["shipping"] == 0
    await _add(visitor, slug, item_id=ids["print"], image_id=images[0],
               choices={"Paper": "Lustre"})
    res = await visitor.post_json(f"/g/{slug}/cart/details", {
        "name": "Jane", "email": "jane@example.com"})
    assert res.status_code == 400 and "Address" in res.json()["error"]


async def test_without_the_gate_there_is_no_cart(photographer, new_client, db):
    event_id, slug, images = await released_gallery(photographer, n_images=1)
    ids = await seed_price_list(db, photographer.photographer_id, event_id)
    stranger = new_client()
    await stranger.get(f"/g/{slug}")
    assert (await stranger.get(f"/g/{slug}/store.json")).json()["cart"] is None
    res = await _add(stranger, slug, item_id=ids["web"], image_id=images[0]["id"])
    assert res.status_code == 403


async def _paid_order(photographer, visitor, slug, ids, images, db) -> str:
    await _add(visitor, slug, item_id=ids["web"], image_id=images[0])
    await _add(visitor, slug, item_id=ids["full"], image_id=images[1])
    cart = _cart(await visitor.post_json(f"/g/{slug}/cart/details", {
        "name": "Jane Client", "email": "jane@example.com"}))
    url = (await visitor.post_json(f"/g/{slug}/checkout", {"version": cart["version"]})
           ).json()["order_url"]
    order_id = await scalar(db, "SELECT id FROM orders WHERE photographer_id = :p",
                            p=photographer.photographer_id)
    files = f"{url}/files/{images[0]}"
    assert (await visitor.get(files)).status_code == 403  # not paid yet
    res = await photographer.post_form(f"/panel/store/orders/{order_id}/state",
                                       {"state": "paid"})
    assert res.status_code == 303, res.text
    return url


async def test_paid_digital_files_download_whatever_the_gallery_allows(photographer,
                                                                         new_client, db):
    event_id, slug, images = await released_gallery(photographer, n_images=3,
                                                    download_single="", download_bulk="")
    ids = await seed_price_list(db, photographer.photographer_id, event_id)
    visitor = new_client()
    await pass_gate(visitor, slug)
    images = [i["id"] for i in images]
    url = await _paid_order(photographer, visitor, slug, ids, images, db)
    bought = await visitor.get(f"{url}/files/{images[1]}")
    assert bought.status_code == 200 and bought.content[:2] == b"\xff\xd8"
    assert (await visitor.get(f"{url}/files/{images[2]}")).status_code == 404  # not bought
    assert (await visitor.get(f"/g/{slug}/images/{images[1]}/download")).status_code == 403
    archive = await visitor.get(f"{url}/files.zip")
    assert archive.status_code == 200 and archive.content[:2] == b"PK"
    assert len(zipfile.ZipFile(io.BytesIO(archive.content)).namelist()) == 2
    page = await visitor.get(url)
    assert "Your digital files" in page.text
    assert (await visitor.get(url.rsplit("/", 1)[0] + "/x" * 20)).status_code == 404


async def test_another_photographer_cannot_touch_an_order(photographer, other_photographer,
                                                         new_client, db):
    slug, images, ids, visitor = await _shop(photographer, new_client, db, n_images=2)
    cart = await _checkout_ready(visitor, slug, ids, images)
    await visitor.post_json(f"/g/{slug}/checkout", {"version": cart["version"]})
    order_id = await scalar(db, "SELECT id FROM orders WHERE photographer_id = :p",
                            p=photographer.photographer_id)
    for url in (f"/panel/store/orders/{order_id}",
                f"/panel/store/orders/{order_id}/packing-slip"):
        assert (await other_photographer.get(url)).status_code == 404
    res = await other_photographer.post_form(f"/panel/store/orders/{order_id}/state",
                                             {"state": "paid"})
    assert res.status_code == 404
    assert await scalar(db, "SELECT state FROM orders WHERE id = :i", i=order_id) == "placed"


async def test_changes_at_once_make_one_cart_and_each_counts(photographer, new_client, db):
    """Two tabs (or two web processes) changing the cart at the same moment: one cart, every
    line kept, every change its own version (the version is what checkout names)."""
    slug, images, ids, visitor = await _shop(photographer, new_client, db, n_images=5)
    answers = await asyncio.gather(*(
        _add(visitor, slug, item_id=ids["web"], image_id=image) for image in images))
    assert [a.status_code for a in answers] == [200] * 5, [a.text for a in answers]
    [cart] = await rows(db, "SELECT c.version FROM carts c JOIN events e ON e.id = c.event_id "
                            "WHERE e.slug = :s", s=slug)
    assert cart.version == 5
    final = (await visitor.get(f"/g/{slug}/store.json")).json()["cart"]
    assert len(final["lines"]) == 5


async def test_a_client_sees_and_changes_only_their_own_cart(photographer, new_client, db):
    slug, images, ids, jane = await _shop(photographer, new_client, db, n_images=1)
    cart = _cart(await _add(jane, slug, item_id=ids["print"], image_id=images[0],
                            choices={"Paper": "Lustre"}))
    line = cart["lines"][0]["id"]
    bob = new_client()
    await pass_gate(bob, slug, email="bob@example.com", name="Bob Other")
    assert (await bob.get(f"/g/{slug}/store.json")).json()["cart"]["lines"] == []
    assert (await bob.post_json(f"/g/{slug}/cart/items/{line}", {"quantity": 5})
            ).status_code == 404
    assert (await bob.post_json(f"/g/{slug}/cart/items/{line}/delete")).status_code == 404
    mine = (await jane.get(f"/g/{slug}/store.json")).json()["cart"]
    assert [(x["id"], x["quantity"]) for x in mine["lines"]] == [(line, 1)]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_cart_survives_a_server_restart(backend, tmp_path):
    port = free_port()
    running = serve_backend(backend, tmp_path, port=port)
    first = next(running)
    again = None
    engine = first.engine()
    try:
        owner, visitor = Client(first.base_url), Client(first.base_url)
        await sign_up(owner, engine)
        event_id, slug, images = await released_gallery(owner, n_images=1)
        ids = await seed_price_list(engine, owner.photographer_id, event_id)
        await pass_gate(visitor, slug)
        _cart(await _add(visitor, slug, item_id=ids["print"], image_id=images[0]["id"],
                         choices={"Paper": "Metallic"}, quantity=3))
        first.stop()
        again = start_server(backend, tmp_path, port=port,
                             database_url=first.env.get("DATABASE_URL"),
                             redis_url=first.env.get("REDIS_URL"))
        cart = (await visitor.get(f"/g/{slug}/store.json")).json()["cart"]
        assert [(x["quantity"], x["options"]) for x in cart["lines"]] == [(3, "Paper: Metallic")]
        assert cart["totals"]["subtotal"] == 3 * 1800
        await owner.aclose()
        await visitor.aclose()
    finally:
        await engine.dispose()
        if again is not None:
            again.stop()
        running.close()


async def _coupon(db, photographer_id: int, code: str, **terms) -> None:
    from sqlalchemy import insert

    from server.store.models import Coupon
    async with db.begin() as conn:
        await conn.execute(insert(Coupon).values(
            photographer_id=photographer_id, code=code, kind=terms.get("kind", "percent"),
            amount=terms.get("amount", 10), min_order=terms.get("min_order", 0),
            expires_at=terms.get("expires_at"), active=True,
            once_per_contact=terms.get("once", False)))


async def test_coupon_rules_at_checkout(photographer, new_client, db):
    from datetime import UTC, datetime, timedelta

    slug, images, ids, visitor = await _shop(photographer, new_client, db, n_images=2)
    pid = photographer.photographer_id
    await _coupon(db, pid, "ONCE20", amount=20, once=True)
    await _coupon(db, pid, "BIG", kind="fixed", amount=500, min_order=10000)
    await _coupon(db, pid, "GONE", expires_at=datetime.now(UTC) - timedelta(minutes=1))
    await _add(visitor, slug, item_id=ids["web"], image_id=images[0])  # $9.00
    for code, reason in (("NOPE", "no coupon"), ("BIG", "at least $100.00"),
                         ("GONE", "expired")):
        res = await visitor.post_json(f"/g/{slug}/cart/coupon", {"code": code})
        assert res.status_code == 400 and reason in res.json()["error"], res.text
    cart = _cart(await visitor.post_json(f"/g/{slug}/cart/coupon", {"code": "once20"}))
    assert (cart["coupon"], cart["totals"]["discount"], cart["totals"]["total"]) == (
        "ONCE20", 180, 720)
    cart = _cart(await visitor.post_json(f"/g/{slug}/cart/details", {
        "name": "Jane", "email": "jane@example.com"}))
    placed = await visitor.post_json(f"/g/{slug}/checkout", {"version": cart["version"]})
    assert placed.status_code == 200
    [order] = await rows(db, "SELECT total, discount, coupon_code FROM orders "
                             "WHERE photographer_id = :p", p=pid)
    assert tuple(order) == (720, 180, "ONCE20")
    # Once per client: the same contact cannot use it on a second order.
    await _add(visitor, slug, item_id=ids["web"], image_id=images[1])
    res = await visitor.post_json(f"/g/{slug}/cart/coupon", {"code": "ONCE20"})
    assert res.status_code == 400 and "already used" in res.json()["error"]


async def test_the_emailed_order_link_outlives_the_gallerys_expiry_and_password(
        photographer, new_client, db):
    event_id, slug, images = await released_gallery(photographer, n_images=2)
    ids = await seed_price_list(db, photographer.photographer_id, event_id)
    visitor = new_client()
    await pass_gate(visitor, slug)
    url = await _paid_order(photographer, visitor, slug, ids, [i["id"] for i in images], db)
    from datetime import UTC, datetime

    from sqlalchemy import update

    from server.models import Event
    async with db.begin() as conn:
        await conn.execute(update(Event).where(Event.id == event_id).values(
            expires_at=datetime(2020, 1, 1, tzinfo=UTC), password_hash="x"))
    await asyncio.sleep(2.2)  # the gallery cache's lifetime (server/public.py)
    stranger = new_client()  # the link opened from the email, in a fresh browser
    assert (await stranger.get(f"/g/{slug}")).status_code == 410
    page = await stranger.get(url)
    assert page.status_code == 200 and "Your digital files" in page.text
    file = await stranger.get(f"{url}/files/{images[1]['id']}")
    assert file.status_code == 200 and file.content[:2] == b"\xff\xd8"
    assert (await stranger.get(url[:-4] + "abcd")).status_code == 404
