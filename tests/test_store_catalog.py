"""The photographer's store catalog through HTTP, on both backends: price lists and their
items (prints with options, digital files, products, packages), duplicating and deleting a
list, coupons, store settings, and which list a gallery type and a gallery sell from.

Bad input is a 400 that changes nothing; another photographer gets a 404 for every id of
the first one's and changes nothing of theirs."""

from __future__ import annotations

import json

from conftest import create_gallery, rows, scalar

STORE_TABLES = ("price_lists", "price_items", "coupons", "store_settings")


def as_json(value):
    return json.loads(value) if isinstance(value, str) else value


async def make_list(client, name: str = "Wedding prints") -> int:
    res = await client.post_form("/panel/store/price-lists", {"name": name})
    assert res.status_code == 303, res.text
    return int(res.headers["location"].rsplit("/", 1)[1])


async def add_item(client, db, list_id: int, kind: str, **fields) -> int:
    """Add an item through the editor's form; its id (the newest of the list)."""
    data = {"kind": kind, "name": f"A {kind}", "price": "10.00", **fields}
    res = await client.post_form(f"/panel/store/price-lists/{list_id}/items/new", data)
    assert res.status_code == 303, res.text
    return await scalar(db, "SELECT MAX(id) FROM price_items WHERE price_list_id=:l",
                        l=list_id)


async def items_of(db, list_id: int) -> list[dict]:
    found = await rows(db, "SELECT id, kind, name, price, options, digital_scope, contents, "
                           "position FROM price_items WHERE price_list_id=:l "
                           "ORDER BY position, id", l=list_id)
    return [{"id": r[0], "kind": r[1], "name": r[2], "price": r[3],
             "options": as_json(r[4]), "digital_scope": r[5], "contents": as_json(r[6]),
             "position": r[7]} for r in found]


async def snapshot(db, photographer_id: int) -> dict[str, list]:
    """Every store row of the photographer, and the lists their types and galleries use."""
    state = {table: await rows(db, f"SELECT * FROM {table} WHERE photographer_id=:p "
                                   "ORDER BY 1", p=photographer_id)
             for table in STORE_TABLES}
    state["gallery_types"] = await rows(db, "SELECT id, name, price_list_id FROM gallery_types "
                                            "WHERE photographer_id=:p ORDER BY id",
                                        p=photographer_id)
    state["events"] = await rows(db, "SELECT id, title, store_enabled, price_list_id FROM "
                                     "events WHERE photographer_id=:p ORDER BY id",
                                 p=photographer_id)
    return state


PRINT_OPTIONS = "Paper: Lustre, Metallic=3.00\nSize: 8x10,  11x14 = 12.50"


async def a_full_list(client, db) -> tuple[int, dict[str, int]]:
    """A list with a print (with options), a digital file, a product and a package."""
    list_id = await make_list(client)
    ids = {
        "print": await add_item(client, db, list_id, "print", name="Fine art print",
                                price="25", options=PRINT_OPTIONS,
                                description="Archival paper"),
        "digital": await add_item(client, db, list_id, "digital", name="Full-size file",
                                  price="15.00", digital_scope="full"),
        "product": await add_item(client, db, list_id, "product", name="Canvas",
                                  price="120.00", options="Frame: None, Black=20"),
    }
    ids["package"] = await add_item(client, db, list_id, "package", name="Family package",
                                    price="99", content_item=[ids["print"], ids["digital"],
                                                              ids["product"]],
                                    content_qty=["3", "1", ""])
    return list_id, ids


async def test_a_price_list_holds_every_kind_of_item_and_duplicates_whole(photographer, db):
    me = photographer
    res = await me.get("/panel/store")
    assert res.status_code == 303 and res.headers["location"] == "/panel/store/price-lists"
    page = await me.get("/panel/store/price-lists")
    assert page.status_code == 200 and "No price lists yet" in page.text

    list_id, ids = await a_full_list(me, db)
    items = {i["kind"]: i for i in await items_of(db, list_id)}
    assert items["print"]["price"] == 2500
    assert items["print"]["options"] == [
        {"name": "Paper", "choices": [{"name": "Lustre", "price": 0},
                                      {"name": "Metallic", "price": 300}]},
        {"name": "Size", "choices": [{"name": "8x10", "price": 0},
                                     {"name": "11x14", "price": 1250}]}]
    assert items["digital"]["digital_scope"] == "full" and items["digital"]["options"] == []
    assert items["product"]["options"][0]["choices"][1] == {"name": "Black", "price": 2000}
    assert items["package"]["price"] == 9900
    assert items["package"]["contents"] == [{"item_id": ids["print"], "quantity": 3},
                                            {"item_id": ids["digital"], "quantity": 1}]

    editor = await me.get(f"/panel/store/price-lists/{list_id}")
    assert editor.status_code == 200
    for text in ("Fine art print", "$25.00", "Metallic", "(+$3.00)", "Full-size file",
                 "One photo, full size", "Canvas", "3 × Fine art print", "$99.00"):
        assert text in editor.text, text
    lists = await me.get("/panel/store/price-lists")
    assert "Wedding prints" in lists.text and ">4<" in lists.text.replace(" ", "")

    # The edit form shows the options as they were typed (normalised) and saves changes.
    form = await me.get(f"/panel/store/price-lists/{list_id}/items/{ids['print']}")
    assert "Paper: Lustre=0.00, Metallic=3.00" in form.text
    res = await me.post_form(f"/panel/store/price-lists/{list_id}/items/{ids['print']}", {
        "name": "Fine art print", "price": "27.50", "options": "Paper: Lustre, Metallic=4",
        "description": ""})
    assert res.status_code == 303, res.text
    changed = next(i for i in await items_of(db, list_id) if i["id"] == ids["print"])
    assert changed["price"] == 2750 and changed["kind"] == "print"
    assert changed["options"] == [{"name": "Paper", "choices": [
        {"name": "Lustre", "price": 0}, {"name": "Metallic", "price": 400}]}]

    # Reordering moves an item among those of its kind.
    second = await add_item(me, db, list_id, "print", name="Small print", price="5")
    res = await me.post_form(f"/panel/store/price-lists/{list_id}/items/{second}/move",
                             {"direction": "up"})
    assert res.status_code == 303
    prints = [i["id"] for i in await items_of(db, list_id) if i["kind"] == "print"]
    assert prints == [second, ids["print"]]

    # Duplicate: every item copied, the copy's package holds the copy's items.
    res = await me.post_form(f"/panel/store/price-lists/{list_id}/duplicate")
    assert res.status_code == 303, res.text
    copy_id = int(res.headers["location"].split("?")[0].rsplit("/", 1)[1])
    assert copy_id != list_id
    assert await scalar(db, "SELECT name FROM price_lists WHERE id=:i",
                        i=copy_id) == "Wedding prints (copy)"
    original, copied = await items_of(db, list_id), await items_of(db, copy_id)
    assert [(i["kind"], i["name"], i["price"], i["options"], i["digital_scope"])
            for i in copied] == [(i["kind"], i["name"], i["price"], i["options"],
                                  i["digital_scope"]) for i in original]
    copy_ids = {i["name"]: i["id"] for i in copied}
    package = next(i for i in copied if i["kind"] == "package")
    assert package["contents"] == [{"item_id": copy_ids["Fine art print"], "quantity": 3},
                                   {"item_id": copy_ids["Full-size file"], "quantity": 1}]
    assert not {i["id"] for i in copied} & {i["id"] for i in original}
    res = await me.post_form(f"/panel/store/price-lists/{list_id}/duplicate")
    assert await scalar(db, "SELECT COUNT(*) FROM price_lists WHERE photographer_id=:p AND "
                            "name='Wedding prints (copy 2)'", p=me.photographer_id) == 1

    # An item a package holds cannot go; a free one can.
    before = await items_of(db, list_id)
    res = await me.post_form(f"/panel/store/price-lists/{list_id}/items/{ids['print']}/delete")
    assert res.status_code == 400 and "part of the package Family package" in res.text
    assert await items_of(db, list_id) == before
    res = await me.post_form(f"/panel/store/price-lists/{list_id}/items/{second}/delete")
    assert res.status_code == 303
    assert second not in {i["id"] for i in await items_of(db, list_id)}

    # Rename; deleting the copy leaves the original whole.
    res = await me.post_form(f"/panel/store/price-lists/{list_id}", {"name": "Weddings 2026"})
    assert res.status_code == 303
    res = await me.post_form(f"/panel/store/price-lists/{copy_id}", {"name": "Weddings 2026"})
    assert res.status_code == 400 and "already have a price list called" in res.text
    res = await me.post_form(f"/panel/store/price-lists/{copy_id}/delete")
    assert res.status_code == 303
    assert await scalar(db, "SELECT COUNT(*) FROM price_lists WHERE id=:i", i=copy_id) == 0
    assert await scalar(db, "SELECT COUNT(*) FROM price_items WHERE price_list_id=:i",
                        i=copy_id) == 0
    assert len(await items_of(db, list_id)) == 4
    assert (await me.get(f"/panel/store/price-lists/{copy_id}")).status_code == 404


async def test_bad_items_are_a_clear_400_and_change_nothing(photographer, db):
    me = photographer
    list_id, ids = await a_full_list(me, db)
    other_list = await make_list(me, "Portraits")
    foreign_print = await add_item(me, db, other_list, "print", name="Other print")
    new = f"/panel/store/price-lists/{list_id}/items/new"
    cases = [
        ({"kind": "print", "name": "", "price": "1"}, "Name is required"),
        ({"kind": "print", "name": "x" * 121, "price": "1"}, "too long"),
        ({"kind": "print", "name": "P", "price": "-1"}, "Price must be an amount"),
        ({"kind": "print", "name": "P", "price": "abc"}, "Price must be an amount"),
        ({"kind": "print", "name": "P", "price": "1", "options": "Paper Lustre"},
         "Option line 1"),
        ({"kind": "print", "name": "P", "price": "1",
          "options": "\n".join(f"G{n}: A" for n in range(6))}, "at most 5 option groups"),
        ({"kind": "print", "name": "P", "price": "1",
          "options": "Size: " + ", ".join(f"S{n}" for n in range(21))}, "more than 20"),
        ({"kind": "print", "name": "P", "price": "1", "options": "Paper: Lustre=-1"},
         "The price of Lustre"),
        ({"kind": "print", "name": "P", "price": "1", "options": "Paper: A\npaper: B"},
         "two option groups"),
        ({"kind": "print", "name": "P", "price": "1", "options": ": A, B"},
         "Option group name is required"),
        ({"kind": "print", "name": "P", "price": "1", "options": "Paper: A, A=2"},
         "lists A twice"),
        ({"kind": "digital", "name": "D", "price": "1"}, "Pick what the download is"),
        ({"kind": "digital", "name": "D", "price": "1", "digital_scope": "huge"},
         "Pick what the download is"),
        ({"kind": "digital", "name": "D", "price": "1", "digital_scope": "web",
          "options": "Paper: A"}, "Only prints and products take options"),
        ({"kind": "package", "name": "K", "price": "1"}, "needs at least one item"),
        ({"kind": "package", "name": "K", "price": "1", "content_item": [ids["package"]],
          "content_qty": ["1"]}, "cannot hold another package"),
        ({"kind": "package", "name": "K", "price": "1", "content_item": [foreign_print],
          "content_qty": ["1"]}, "items of its own price list"),
        ({"kind": "package", "name": "K", "price": "1", "content_item": [ids["print"]],
          "content_qty": ["100"]}, "Quantity must be a whole number from 0 to 99"),
        ({"kind": "package", "name": "K", "price": "1", "content_item": [ids["print"]],
          "content_qty": ["1", "2"]}, "did not arrive whole"),
        ({"kind": "print", "name": "P", "price": "1", "content_item": [ids["digital"]],
          "content_qty": ["1"]}, "Only packages hold other items"),
        ({"kind": "bogus", "name": "P", "price": "1"}, "Kind must be one of"),
    ]
    before = await snapshot(db, me.photographer_id)
    for data, message in cases:
        res = await me.post_form(new, data)
        assert res.status_code == 400, (data, res.status_code)
        assert message in res.text, (data, message)
    # Editing: the same rules, and the item keeps its kind and fields.
    edit = f"/panel/store/price-lists/{list_id}/items/{ids['package']}"
    for data, message in [({"name": "K", "price": "1"}, "needs at least one item"),
                          ({"name": "K", "price": "1", "content_item": [ids["package"]],
                            "content_qty": ["2"]}, "cannot hold another package")]:
        res = await me.post_form(edit, data)
        assert res.status_code == 400 and message in res.text, (data, res.text[:300])
    res = await me.post_form(f"/panel/store/price-lists/{list_id}/items/{ids['print']}/move",
                             {"direction": "sideways"})
    assert res.status_code == 400
    res = await me.post_form("/panel/store/price-lists", {"name": "  "})
    assert res.status_code == 400 and "Name is required" in res.text
    res = await me.post_form("/panel/store/price-lists", {"name": "wedding PRINTS"})
    assert res.status_code == 400 and "already have a price list" in res.text
    assert await snapshot(db, me.photographer_id) == before


async def test_coupons_normalise_codes_and_refuse_bad_rules(photographer, db):
    me = photographer
    page = await me.get("/panel/store/coupons")
    assert page.status_code == 200 and "No coupons yet" in page.text
    res = await me.post_form("/panel/store/coupons", {
        "code": " spring-10 ", "kind": "percent", "amount": "15", "active": "on"})
    assert res.status_code == 303, res.text
    res = await me.post_form("/panel/store/coupons", {
        "code": "WELCOME", "kind": "fixed", "amount": "10.00", "min_order": "50",
        "expires_on": "2031-06-30", "once_per_contact": "on", "active": "on"})
    assert res.status_code == 303, res.text
    found = await rows(db, "SELECT code, kind, amount, min_order, expires_at, once_per_contact,"
                           " active, id FROM coupons WHERE photographer_id=:p ORDER BY id",
                       p=me.photographer_id)
    assert [tuple(r[:4]) for r in found] == [("SPRING-10", "percent", 15, 0),
                                             ("WELCOME", "fixed", 1000, 5000)]
    assert str(found[1][4]).startswith("2031-06-30 23:59:59")
    assert bool(found[1][5]) and bool(found[1][6]) and not bool(found[0][5])
    spring, welcome = found[0][7], found[1][7]
    page = await me.get("/panel/store/coupons")
    assert "SPRING-10" in page.text and "15 % off" in page.text and "$10.00 off" in page.text

    before = await snapshot(db, me.photographer_id)
    for data, message in [
        ({"code": "Spring-10", "kind": "percent", "amount": "5"},
         "already have a coupon with the code SPRING-10"),
        ({"code": "BIG", "kind": "percent", "amount": "101"}, "from 1 to 100"),
        ({"code": "BIG", "kind": "percent", "amount": "0"}, "from 1 to 100"),
        ({"code": "BIG", "kind": "percent", "amount": "12.5"}, "from 1 to 100"),
        ({"code": "BIG", "kind": "fixed", "amount": "0"}, "more than 0"),
        ({"code": "BIG", "kind": "fixed", "amount": "-5"}, "Amount must be an amount"),
        ({"code": "no spaces!", "kind": "percent", "amount": "5"}, "letters, digits"),
        ({"code": "BIG", "kind": "half", "amount": "5"}, "Discount must be one of"),
        ({"code": "BIG", "kind": "percent", "amount": "5", "expires_on": "soon"},
         "Expiry date must be a date"),
        ({"code": "BIG", "kind": "percent", "amount": "5", "min_order": "lots"},
         "Minimum order must be an amount"),
    ]:
        res = await me.post_form("/panel/store/coupons", data)
        assert res.status_code == 400 and message in res.text, (data, res.text[:400])
    res = await me.post_form(f"/panel/store/coupons/{welcome}", {
        "code": "spring-10", "kind": "fixed", "amount": "5"})
    assert res.status_code == 400 and "already have a coupon" in res.text
    assert await snapshot(db, me.photographer_id) == before

    # Edit, deactivate, delete.
    page = await me.get(f"/panel/store/coupons/{welcome}")
    assert page.status_code == 200 and 'value="WELCOME"' in page.text
    assert 'value="2031-06-30"' in page.text and 'value="50.00"' in page.text
    res = await me.post_form(f"/panel/store/coupons/{spring}", {
        "code": "spring-20", "kind": "percent", "amount": "20%", "active": "on"})
    assert res.status_code == 303
    res = await me.post_form(f"/panel/store/coupons/{spring}/active", {"active": "off"})
    assert res.status_code == 303
    assert tuple(await rows(db, "SELECT code, amount, active FROM coupons WHERE id=:i",
                            i=spring))[0][:2] == ("SPRING-20", 20)
    assert not bool(await scalar(db, "SELECT active FROM coupons WHERE id=:i", i=spring))
    assert "Inactive" in (await me.get("/panel/store/coupons")).text
    res = await me.post_form(f"/panel/store/coupons/{spring}/delete")
    assert res.status_code == 303
    assert await scalar(db, "SELECT COUNT(*) FROM coupons WHERE id=:i", i=spring) == 0


async def test_store_settings_save_and_refuse_bad_values(photographer, db):
    me = photographer
    page = await me.get("/panel/store/settings")
    assert page.status_code == 200 and 'value="USD" selected' in page.text
    res = await me.post_form("/panel/store/settings", {
        "currency": "EUR", "tax_rate": "8.25", "tax_inclusive": "on", "shipping_flat": "9.5",
        "free_shipping_over": "100"})
    assert res.status_code == 303, res.text
    saved = await rows(db, "SELECT currency, tax_rate_bp, tax_inclusive, shipping_flat, "
                           "free_shipping_over FROM store_settings WHERE photographer_id=:p",
                       p=me.photographer_id)
    assert [(r[0], r[1], bool(r[2]), r[3], r[4]) for r in saved] == [
        ("EUR", 825, True, 950, 10000)]
    page = await me.get("/panel/store/settings")
    assert 'value="8.25"' in page.text and 'value="9.50"' in page.text
    list_id = await make_list(me)
    await add_item(me, db, list_id, "print", price="12")
    assert "€12.00" in (await me.get(f"/panel/store/price-lists/{list_id}")).text

    before = await snapshot(db, me.photographer_id)
    good = {"currency": "EUR", "tax_rate": "8", "shipping_flat": "1", "free_shipping_over": ""}
    for bad, message in [({"tax_rate": "8.255"}, "Tax rate must be a percentage"),
                         ({"tax_rate": "101"}, "more than 100"),
                         ({"tax_rate": "-1"}, "Tax rate must be a percentage"),
                         ({"currency": "XYZ"}, "Currency must be one of"),
                         ({"shipping_flat": "-2"}, "Shipping must be an amount"),
                         ({"free_shipping_over": "lots"}, "Free shipping threshold must")]:
        res = await me.post_form("/panel/store/settings", {**good, **bad})
        assert res.status_code == 400 and message in res.text, (bad, res.text[:300])
    assert await snapshot(db, me.photographer_id) == before


async def test_gallery_types_and_galleries_pick_their_price_list(photographer, db):
    me = photographer
    list_id = await make_list(me, "Wedding prints")
    other_list = await make_list(me, "Portrait prints")
    type_id = await scalar(db, "SELECT id FROM gallery_types WHERE photographer_id=:p AND "
                               "name='Wedding'", p=me.photographer_id)
    res = await me.post_form("/panel/settings/gallery-types",
                             {"assign": str(type_id), "price_list_id": str(list_id)})
    assert res.status_code == 303, res.text
    assert await scalar(db, "SELECT price_list_id FROM gallery_types WHERE id=:i",
                        i=type_id) == list_id
    page = await me.get("/panel/settings/gallery-types")
    assert f'<option value="{list_id}" selected>Wedding prints</option>' in page.text
    assert "Wedding" in (await me.get("/panel/store/price-lists")).text

    new_page = await me.get("/panel/events/new")
    assert new_page.status_code == 200 and "Use the gallery type's default" in new_page.text
    assert f'<option value="{other_list}" >Portrait prints</option>' in new_page.text

    # A gallery made without the store fields (older forms, the API) has the store on
    # and its type's list.
    plain = await create_gallery(me, gallery_type_id=str(type_id))
    assert tuple((await rows(db, "SELECT store_enabled, price_list_id FROM events WHERE "
                                 "id=:i", i=plain))[0]) in ((True, None), (1, None))
    editor = await me.get(f"/panel/events/{plain}/edit")
    assert "sells from <strong>Wedding prints</strong> by default" in editor.text

    # Its own list, store off; then back to the type's default, store on.
    event_id = await create_gallery(me, gallery_type_id=str(type_id), store_enabled="off",
                                    price_list_id=str(other_list))
    state = await rows(db, "SELECT store_enabled, price_list_id FROM events WHERE id=:i",
                       i=event_id)
    assert (bool(state[0][0]), state[0][1]) == (False, other_list)
    editor = await me.get(f"/panel/events/{event_id}/edit")
    assert f'<option value="{other_list}" selected>Portrait prints</option>' in editor.text
    res = await me.post_form(f"/panel/events/{event_id}/edit", {
        "title": "Smith Wedding", "download_size": "original", "store_enabled": "on",
        "price_list_id": ""})
    assert res.status_code == 303, res.text
    state = await rows(db, "SELECT store_enabled, price_list_id FROM events WHERE id=:i",
                       i=event_id)
    assert (bool(state[0][0]), state[0][1]) == (True, None)

    # Not posting the fields leaves them as they are.
    await me.post_form(f"/panel/events/{event_id}/edit", {
        "title": "Smith Wedding", "download_size": "original", "price_list_id": str(list_id),
        "store_enabled": "off"})
    await me.post_form(f"/panel/events/{event_id}/edit", {
        "title": "Smith Wedding 2", "download_size": "original"})
    state = await rows(db, "SELECT store_enabled, price_list_id, title FROM events WHERE "
                           "id=:i", i=event_id)
    assert (bool(state[0][0]), state[0][1], state[0][2]) == (False, list_id,
                                                             "Smith Wedding 2")

    # A list that is not one of yours: a clear 400, nothing changed.
    before = await snapshot(db, me.photographer_id)
    for value in ("999999", "abc"):
        res = await me.post_form(f"/panel/events/{event_id}/edit", {
            "title": "Changed", "download_size": "original", "price_list_id": value})
        assert res.status_code == 400 and "Pick a price list from the list" in res.text
    res = await me.post_form("/panel/settings/gallery-types",
                             {"assign": str(type_id), "price_list_id": "999999"})
    assert res.status_code == 404
    assert await snapshot(db, me.photographer_id) == before

    # Deleting a list: types and galleries that used it fall back.
    res = await me.post_form(f"/panel/store/price-lists/{list_id}/delete")
    assert res.status_code == 303
    assert await scalar(db, "SELECT price_list_id FROM gallery_types WHERE id=:i",
                        i=type_id) is None
    assert await scalar(db, "SELECT price_list_id FROM events WHERE id=:i",
                        i=event_id) is None
    res = await me.post_form("/panel/settings/gallery-types",
                             {"assign": str(type_id), "price_list_id": ""})
    assert res.status_code == 303


async def test_another_photographer_gets_404_for_every_id_and_changes_nothing(
        photographer, other_photographer, db):
    a, b = photographer, other_photographer
    list_id, ids = await a_full_list(a, db)
    res = await a.post_form("/panel/store/coupons", {"code": "A-ONLY", "kind": "percent",
                                                     "amount": "10", "active": "on"})
    assert res.status_code == 303
    coupon = await scalar(db, "SELECT id FROM coupons WHERE photographer_id=:p",
                          p=a.photographer_id)
    await a.post_form("/panel/store/settings", {"currency": "GBP", "tax_rate": "20"})
    a_type = await scalar(db, "SELECT MIN(id) FROM gallery_types WHERE photographer_id=:p",
                          p=a.photographer_id)
    await a.post_form("/panel/settings/gallery-types",
                      {"assign": str(a_type), "price_list_id": str(list_id)})
    a_event = await create_gallery(a, price_list_id=str(list_id))
    before = await snapshot(db, a.photographer_id)

    base = f"/panel/store/price-lists/{list_id}"
    item = f"{base}/items/{ids['print']}"
    for url in (base, f"{base}/items/new", f"{base}/items/new?kind=package", item,
                f"/panel/store/coupons/{coupon}"):
        assert (await b.get(url)).status_code == 404, url
    for url, data in [
        (base, {"name": "Stolen"}),
        (f"{base}/duplicate", {}),
        (f"{base}/delete", {}),
        (f"{base}/items/new", {"kind": "print", "name": "Mine", "price": "1"}),
        (item, {"name": "Mine", "price": "1"}),
        (f"{item}/move", {"direction": "down"}),
        (f"{item}/delete", {}),
        (f"/panel/store/coupons/{coupon}", {"code": "MINE", "kind": "percent",
                                            "amount": "99", "active": "on"}),
        (f"/panel/store/coupons/{coupon}/active", {"active": "off"}),
        (f"/panel/store/coupons/{coupon}/delete", {}),
    ]:
        res = await b.post_form(url, data)
        assert res.status_code == 404, (url, res.status_code)
    assert "A-ONLY" not in (await b.get("/panel/store/coupons")).text
    page = (await b.get("/panel/store/price-lists")).text
    assert f'data-price-list-id="{list_id}"' not in page and "No price lists yet" in page
    assert 'value="USD" selected' in (await b.get("/panel/store/settings")).text

    # B's own objects pointing at A's: refused.
    b_list = await make_list(b, "B prints")
    b_type = await scalar(db, "SELECT MIN(id) FROM gallery_types WHERE photographer_id=:p",
                          p=b.photographer_id)
    res = await b.post_form("/panel/settings/gallery-types",
                            {"assign": str(b_type), "price_list_id": str(list_id)})
    assert res.status_code == 404
    res = await b.post_form("/panel/settings/gallery-types",
                            {"assign": str(a_type), "price_list_id": str(b_list)})
    assert res.status_code == 404
    res = await b.post_form(f"/panel/store/price-lists/{b_list}/items/new", {
        "kind": "package", "name": "Sneaky", "price": "1", "content_item": [ids["print"]],
        "content_qty": ["1"]})
    assert res.status_code == 400 and "items of its own price list" in res.text
    res = await b.post_form("/panel/events/new", {"title": "B gallery",
                                                  "download_size": "original",
                                                  "price_list_id": str(list_id)})
    assert res.status_code == 400 and "Pick a price list from the list" in res.text
    res = await b.post_form(f"/panel/events/{a_event}/edit", {
        "title": "Taken", "download_size": "original", "price_list_id": str(b_list)})
    assert res.status_code == 404

    assert await snapshot(db, a.photographer_id) == before
    b_state = await snapshot(db, b.photographer_id)
    assert b_state["price_items"] == [] and len(b_state["price_lists"]) == 1
    assert all(row[2] is None for row in b_state["gallery_types"])
    assert b_state["events"] == []
