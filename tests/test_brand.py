"""Studio branding (#15): Settings → Brand (name, logo, accent, cover typeface, public
contact), the friendly error pages in the studio's brand, and the emails' header and
buttons. Both backends."""

from __future__ import annotations

import io
import os
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from conftest import Client, pass_gate, released_gallery, rows, scalar
from PIL import Image

from server.brand import brand_of
from server.models import Photographer

LOGO_SRC = re.compile(r'src="(/brand/logo/[0-9a-f]{32}\.(?:png|jpg))"')


def png_logo(width: int = 1200, height: int = 400) -> bytes:
    """A transparent PNG, larger than the stored size (it is fitted into 600×200)."""
    img = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    img.paste((180, 40, 90, 255), (100, 100, width - 100, height - 100))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


BRAND = {"business_name": "Harbor & Pine Studio", "accent": "#7a2e4f", "font": "elegant",
         "contact_email": "hello@lenslight.example", "contact_phone": "+1 555 0100",
         "contact_website": "lenslight.example/weddings"}


async def save_brand(client: Client, logo: bytes | None = None, name: str = "logo.png",
                     **fields) -> object:
    files = {"logo": (name, logo, "image/png")} if logo is not None else None
    return await client.post_form("/panel/settings/brand", {**BRAND, **fields}, files=files)


async def refused_unread(posting) -> httpx.Response | None:
    try:
        return await posting
    except httpx.TransportError:  # the server closed the connection under the upload
        return None


async def brand_row(db, photographer_id: int) -> tuple:
    return tuple(await rows(db, "SELECT business_name, brand FROM photographers WHERE id=:p",
                            p=photographer_id))


async def expire(client: Client, event_id: int) -> None:
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    res = await client.post_form(f"/panel/events/{event_id}/edit", {
        "title": "Smith Wedding", "download_single": "on", "download_bulk": "on",
        "download_size": "original", "expires_on": yesterday})
    assert res.status_code == 303, res.text


# --- Settings → Brand -----------------------------------------------------------------------


async def test_the_brand_page_keeps_name_logo_colour_font_and_contact(photographer, new_client):
    page = await photographer.get("/panel/settings/brand")
    assert page.status_code == 200
    # A new account has no studio name: clients see the personal name, and the page says so.
    assert "Clients see: <strong>Pat Lens</strong>" in page.text
    assert 'href="/panel/settings/brand"' in (await photographer.get(
        "/panel/settings/account")).text

    res = await save_brand(photographer, png_logo())
    assert res.status_code == 303, res.text
    page = (await photographer.get(res.headers["location"])).text
    assert "Your brand is saved." in page
    assert "Clients see: <strong>Harbor &amp; Pine Studio</strong>" in page
    assert 'value="#7a2e4f"' in page
    assert re.search(r'value="elegant"\s+checked', page)
    assert 'value="hello@lenslight.example"' in page and 'value="+1 555 0100"' in page
    assert 'value="https://lenslight.example/weddings"' in page

    logo = LOGO_SRC.search(page).group(1)
    anonymous = new_client()  # galleries, error pages and emails show it to anyone
    res = await anonymous.get(logo)
    assert res.status_code == 200
    assert res.headers["content-type"] == "image/png"
    assert "max-age=31536000" in res.headers["cache-control"]
    assert "public" in res.headers["cache-control"]
    stored = Image.open(io.BytesIO(res.content))
    assert stored.size == (600, 200) and stored.mode == "RGBA"  # fitted, transparency kept

    # Replaced: a new address (the cached one never changes), the old file gone.
    res = await save_brand(photographer, png_logo(300, 300), "square.png")
    assert res.status_code == 303
    page = (await photographer.get("/panel/settings/brand")).text
    new_logo = LOGO_SRC.search(page).group(1)
    assert new_logo != logo
    assert (await anonymous.get(logo)).status_code == 404
    # Removed.
    res = await save_brand(photographer, remove_logo="on")
    assert res.status_code == 303
    assert not LOGO_SRC.search((await photographer.get("/panel/settings/brand")).text)
    assert (await anonymous.get(new_logo)).status_code == 404


@pytest.mark.parametrize("case", ["random bytes", "30 MB", "bad colour", "bad website",
                                  "truncated PNG"])
async def test_a_bad_logo_or_colour_is_refused_clearly_and_changes_nothing(
        photographer, db, server, case):
    res = await save_brand(photographer, png_logo())
    assert res.status_code == 303
    before = await brand_row(db, photographer.photographer_id)
    logos = server.var_dir / "media" / "brand"
    logos_before = sorted(os.listdir(logos))

    whole = png_logo()
    res = await {
        "random bytes": lambda: save_brand(photographer, os.urandom(4096), "logo.png",
                                           business_name="Changed"),
        "30 MB": lambda: refused_unread(save_brand(
            photographer, os.urandom(30 * 1024 * 1024), "big.png", business_name="Changed")),
        "bad colour": lambda: save_brand(photographer, png_logo(), accent="red",
                                         business_name="Changed"),
        "bad website": lambda: save_brand(photographer, contact_website="javascript:alert(1)",
                                          business_name="Changed"),
        "truncated PNG": lambda: save_brand(photographer, whole[: len(whole) // 2],
                                            business_name="Changed"),
    }[case]()
    if case == "30 MB":
        # Refused unread (server/body_limit.py): a 413 whose connection closes under the
        # upload, or a reset before the answer is read. The page itself checks the size
        # before sending (web/static/js/brand.js).
        assert res is None or res.status_code == 413
        assert await brand_row(db, photographer.photographer_id) == before
        assert sorted(os.listdir(logos)) == logos_before
        return
    assert res.status_code == 400
    message = {"random bytes": "The logo is not an image we can read: use a PNG, JPEG or WebP.",
               "bad colour": "Accent colour: give it as #rrggbb.",
               "bad website": "Website: give an address like https://studio.example.com.",
               "truncated PNG": "The logo is not an image we can read"}[case]
    assert message in res.text
    assert "Nothing was changed." in res.text
    assert 'value="Changed"' in res.text  # what was typed stays in the form
    assert await brand_row(db, photographer.photographer_id) == before
    assert sorted(os.listdir(logos)) == logos_before


async def test_another_photographer_cannot_see_or_change_this_brand(
        photographer, other_photographer, db):
    assert (await save_brand(photographer, png_logo())).status_code == 303
    mine = await brand_row(db, photographer.photographer_id)
    a = photographer.photographer_id

    page = (await other_photographer.get("/panel/settings/brand")).text
    assert "Harbor &amp; Pine Studio" not in page and "lenslight" not in page
    assert not LOGO_SRC.search(page)
    # No id in the path, and any id in the query or the form is ignored.
    for url in (f"/panel/settings/brand?photographer_id={a}", f"/panel/settings/brand/{a}"):
        res = await other_photographer.get(url)
        assert res.status_code in (200, 404)
        assert "lenslight" not in res.text
    res = await other_photographer.post_form(f"/panel/settings/brand?photographer_id={a}", {
        **BRAND, "business_name": "Intruder", "photographer_id": str(a), "id": str(a)})
    assert res.status_code == 303
    assert await brand_row(db, photographer.photographer_id) == mine
    assert await scalar(db, "SELECT business_name FROM photographers WHERE id=:p",
                        p=other_photographer.photographer_id) == "Intruder"
    # Logged out: nothing.
    anonymous = Client(photographer.http.base_url)
    try:
        res = await anonymous.post_form("/panel/settings/brand", BRAND)
        assert res.status_code in (303, 403)
        assert await brand_row(db, photographer.photographer_id) == mine
    finally:
        await anonymous.aclose()


# --- friendly pages -------------------------------------------------------------------------


async def test_an_expired_gallery_shows_the_studio_and_its_contact(photographer, new_client):
    assert (await save_brand(photographer, png_logo())).status_code == 303
    event_id, slug, _ = await released_gallery(photographer, 1)
    await expire(photographer, event_id)

    page = await new_client().get(f"/g/{slug}")
    assert page.status_code == 410
    assert "This gallery has expired." in page.text
    assert 'alt="Harbor &amp; Pine Studio"' in page.text
    assert LOGO_SRC.search(page.text)
    assert "mailto:hello@lenslight.example" in page.text
    assert 'href="tel:+15550100"' in page.text
    assert 'href="https://lenslight.example/weddings"' in page.text
    assert "--accent: #7a2e4f" in page.text
    assert "/static/css/brand.css" in page.text
    # JSON callers (the gallery's own scripts) keep their plain answer.
    res = await new_client().post_json(f"/g/{slug}/gate", {"email": "j@example.com"})
    assert res.status_code == 410 and "expired" in res.json()["error"]


async def test_an_unpublished_gallery_names_the_studio_without_a_brand_set(
        photographer, new_client, db):
    event_id, slug, _ = await released_gallery(photographer, 1)
    res = await photographer.post_form(f"/panel/events/{event_id}/status", {"status": "draft"})
    assert res.status_code == 303
    page = await new_client().get(f"/g/{slug}")
    assert page.status_code == 404
    assert "not published yet" in page.text
    # No studio name yet: the personal name, and the account email to ask.
    assert ">Pat Lens</p>" in page.text
    assert f"mailto:{photographer.email}" in page.text


async def test_a_wrong_gallery_link_is_a_generic_page_naming_no_studio(photographer,
                                                                       new_client):
    assert (await save_brand(photographer, png_logo())).status_code == 303
    visitor = new_client()
    for url in ("/g/no-such-gallery-000000", "/g/no-such-gallery-000000/whatever/else"):
        page = await visitor.get(url)
        assert page.status_code == 404
        assert "brand-card" in page.text
        assert "Harbor" not in page.text and "mailto:" not in page.text
        assert not LOGO_SRC.search(page.text)
    assert "does not lead to a gallery" in (await visitor.get("/g/x/whatever/else")).text


# --- emails ---------------------------------------------------------------------------------


async def test_a_client_email_carries_the_logo_and_the_accent(photographer, new_client, db,
                                                             server):
    assert (await save_brand(photographer, png_logo(), accent="#f2c14e")).status_code == 303
    _, slug, _ = await released_gallery(photographer, 1)
    await pass_gate(new_client(), slug, email="jane@example.com")
    (email,) = await rows(db, "SELECT body_html, body_text FROM outbound_emails "
                              "WHERE photographer_id=:p AND kind='verify_device'",
                          p=photographer.photographer_id)
    logo = re.search(r'src="([^"]+/brand/logo/[0-9a-f]{32}\.png)"', email.body_html).group(1)
    assert logo.startswith(server.base_url + "/brand/logo/")  # absolute: mail clients need it
    assert (await new_client().get(logo.removeprefix(server.base_url))).status_code == 200
    # A light accent gets dark button text (colors.ink_on), in the header's rule too.
    assert "background:#f2c14e;color:#111111" in email.body_html
    assert "/brand/logo/" not in email.body_text  # plain text stays plain


def test_brand_of_falls_back_to_the_personal_name_and_the_default_look():
    me = Photographer(name="Pat Lens", business_name="", email="pat@example.com", brand={})
    shown = brand_of(me)
    assert shown["name"] == "Pat Lens"
    assert shown["logo_url"] is None
    assert shown["accent"] == "#2f5d50" and shown["accent_ink"] == "#ffffff"
    assert "Georgia" in shown["font_stack"]
    assert shown["ask_email"] == "pat@example.com"


async def test_the_client_gallery_wears_the_brand(photographer, new_client):
    _, slug, _ = await released_gallery(photographer, 1)
    res = await save_brand(photographer, png_logo())
    assert res.status_code == 303, res.text
    page = (await new_client().get(f"/g/{slug}")).text
    assert "--accent: #7a2e4f" in page  # the studio's colour on its buttons and links
    assert 'class="hero-logo"' in page and 'alt="Harbor &amp; Pine Studio"' in page
    footer = page.split('class="gallery-footer', 1)[1].split("</footer>", 1)[0]
    assert "Harbor &amp; Pine Studio" in footer and BRAND["contact_email"] in footer
