"""The client gallery's grid in Chromium: justified rows (each photo whole, at its own
aspect ratio, rows filling the width, the last row not stretched) at 1440 and 390 px; the
first page of tiles in the HTML and the rest built as the visitor scrolls; the lightbox and
the favorites view reaching photos not built yet; Esc closing the lightbox from the
comment box. No console errors, no sideways scrolling. Screenshots in SHOTS."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest
from conftest import create_gallery, jpeg_bytes, open_watched_page, upload, wait_processed
from PIL import Image, ImageDraw
from playwright.async_api import expect

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("PROOFROOM_SHOTS", "/tmp/b15/shots"))
FIRST_PAGE = 30  # server/gallery_grid.py
PHOTOS = 2 * FIRST_PAGE + 14  # past the page built ahead of the scroll too


def shape(n: int) -> tuple[int, int]:
    """Landscape, portrait, wide, square…: a wedding's mix."""
    return [(360, 240), (240, 360), (400, 225), (300, 300), (360, 240), (240, 320)][n % 6]


def photo_bytes(n: int) -> bytes:
    """A photo-like JPEG of shape(n): a sky-to-ground gradient and a "head" near the top,
    so a screenshot shows whether anything is cropped."""
    w, h = shape(n)
    img = Image.new("RGB", (w, h))
    draw = ImageDraw.Draw(img)
    for y in range(h):
        t = y / h
        draw.line([(0, y), (w, y)], fill=(int(90 + 120 * t) - n % 5 * 9, int(140 + 60 * t),
                                          int(200 - 90 * t) + n % 7 * 6))
    r = min(w, h) // 7
    draw.ellipse([w // 2 - r, h // 8, w // 2 + r, h // 8 + 2 * r], fill=(236, 196, 160))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85)
    return out.getvalue()


async def mixed_gallery(photographer) -> tuple[str, list[dict]]:
    """A released gallery of PHOTOS portrait and landscape photos, in file-name order."""
    event_id = await create_gallery(photographer)
    files = [(f"IMG_{1000 + n}.jpg", photo_bytes(n)) for n in range(PHOTOS)]
    for start in range(0, PHOTOS, 25):
        res = await upload(photographer, event_id, files[start:start + 25])
        assert res.status_code == 200, res.text
    images = await wait_processed(photographer, event_id, timeout=120)
    res = await photographer.post_form(f"/panel/events/{event_id}/status",
                                       {"status": "released"})
    assert res.status_code == 303
    detail = (await photographer.get(f"/panel/events/{event_id}")).text
    return detail.split("/g/", 1)[1].split('"', 1)[0], sorted(images,
                                                              key=lambda i: i["filename"])


@pytest.fixture
async def gallery(photographer):
    return await mixed_gallery(photographer)


async def open_page(browser, url: str, width: int):
    return await open_watched_page(browser, url, width)


# The rows as the browser laid them out: visible tiles grouped by their top edge.
ROWS = """() => {
  const grid = document.getElementById('grid').getBoundingClientRect();
  const rows = [];
  for (const t of document.querySelectorAll('#grid .tile:not(.hidden)')) {
    const r = t.getBoundingClientRect();
    const ar = Number(getComputedStyle(t).getPropertyValue('--ar'));
    let row = rows.find((x) => Math.abs(x.top - r.top) < 1.5);
    if (!row) rows.push(row = { top: r.top, tiles: [] });
    row.tiles.push({ left: r.left, right: r.right, width: r.width, height: r.height, ar });
  }
  const css = getComputedStyle(document.getElementById('grid'));
  const rowH = parseFloat(css.getPropertyValue('--row-h'));
  return { left: grid.left, right: grid.right, rows, rowH,
           overflow: document.documentElement.scrollWidth - window.innerWidth };
}"""


@pytest.mark.parametrize("width", [1440, 390])
async def test_rows_are_justified_and_photos_whole(browser, server, gallery, width):
    slug, _ = gallery
    context, page, problems = await open_page(browser, f"{server.base_url}/g/{slug}", width)
    await expect(page.locator("#grid .tile").nth(FIRST_PAGE - 1)).to_be_attached()
    layout = await page.evaluate(ROWS)
    row_h = layout["rowH"]  # gallery.css's least row height at this width
    assert 90 <= row_h <= 240
    assert layout["overflow"] <= 0, "no sideways scrolling"
    rows = layout["rows"]
    assert len(rows) >= 3
    for row in rows[:-1]:
        tiles = row["tiles"]
        # One height per row, the row spanning the grid's width.
        assert max(t["height"] for t in tiles) - min(t["height"] for t in tiles) <= 2
        assert abs(tiles[0]["left"] - layout["left"]) <= 2
        assert abs(tiles[-1]["right"] - layout["right"]) <= 2, row
        assert row_h - 1 <= tiles[0]["height"] <= row_h * 1.8
    # Each photo whole: its tile has the photo's own shape (a portrait is taller than wide).
    for row in rows:
        for t in row["tiles"]:
            assert abs(t["width"] / t["height"] - t["ar"]) < 0.03, t
    portraits = [t for row in rows for t in row["tiles"] if t["ar"] < 1]
    assert portraits and all(t["height"] > t["width"] for t in portraits)
    # The last row keeps the target height instead of being stretched to the width.
    assert rows[-1]["tiles"][0]["height"] <= row_h + 2

    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.locator("#photos").scroll_into_view_if_needed()
    await page.evaluate("window.scrollTo(0, document.getElementById('photos').offsetTop)")
    await page.wait_for_function("() => [...document.querySelectorAll('#grid .tile img')]"
                                 ".slice(0, 8).every((i) => i.complete)")
    await page.screenshot(path=str(SHOTS / f"gallery-grid-{width}-{server.backend}.png"))
    assert problems == []
    await context.close()


async def test_scrolling_builds_every_tile(browser, server, gallery):
    slug, images = gallery
    context, page, problems = await open_page(browser, f"{server.base_url}/g/{slug}", 1440)
    tiles = page.locator("#grid .tile")
    await expect(tiles.nth(FIRST_PAGE - 1)).to_be_attached()
    for _ in range(20):
        if await tiles.count() == PHOTOS:
            break
        await page.mouse.wheel(0, 3000)
        await page.wait_for_timeout(150)
    await expect(tiles).to_have_count(PHOTOS)
    ids = await tiles.evaluate_all("(ts) => ts.map((t) => Number(t.dataset.imageId))")
    assert ids == [i["id"] for i in images]  # in the gallery's order, no gap, no double
    # A built tile is the same as a rendered one: its photo loads and shows whole.
    last = tiles.nth(PHOTOS - 1)
    await last.scroll_into_view_if_needed()
    w, h = shape(PHOTOS - 1)
    thumb, preview = (f"/g/{slug}/media/{v}/{images[-1]['id']}" for v in ("thumb", "preview"))
    await expect(last.locator("img")).to_have_attribute(
        "srcset",
        f"{thumb} {round(w * 400 / max(w, h))}w, {preview} {round(w * 2048 / max(w, h))}w")
    await page.wait_for_function("() => { const i = document.querySelector("
                                 "'#grid .tile:last-child img'); return i.complete "
                                 "&& i.naturalWidth > 0; }")
    assert problems == []
    await context.close()


async def test_the_lightbox_and_favorites_reach_photos_not_built_yet(browser, server, gallery):
    slug, images = gallery
    context, page, problems = await open_page(browser, f"{server.base_url}/g/{slug}", 1440)
    name = page.locator("#lb-name")
    # Before the first photo, the last: not built yet, it is shown (and built).
    await expect(page.locator("#grid .tile").nth(FIRST_PAGE - 1)).to_be_attached()
    await page.locator(".tile-open").nth(0).click()
    await page.keyboard.press("ArrowLeft")
    await expect(name).to_have_text(images[-1]["filename"])
    await page.keyboard.press("Escape")
    await expect(page.locator(f'.tile[data-image-id="{images[-1]["id"]}"]')).to_be_visible()

    await page.locator(".tile-open").nth(FIRST_PAGE - 2).click()
    await expect(name).to_have_text(images[FIRST_PAGE - 2]["filename"])
    for n in (FIRST_PAGE - 1, FIRST_PAGE, FIRST_PAGE + 1):
        await page.keyboard.press("ArrowRight")
        await expect(name).to_have_text(images[n]["filename"])
    await page.keyboard.press("ArrowLeft")
    await expect(name).to_have_text(images[FIRST_PAGE]["filename"])
    await page.keyboard.press("Escape")
    await expect(page.locator("#lightbox")).to_be_hidden()

    # Favorites far down the gallery show in the favorites view at once.
    far = [images[-1]["id"], images[2 * FIRST_PAGE + 3]["id"]]
    await page.evaluate("""async (ids) => {
      const { postJSON } = await import('/static/js/common.js');
      const here = location.pathname;
      await postJSON(`${here}/gate`, { name: 'Nora Bride', email: 'nora@example.com' });
      for (const id of ids) await postJSON(`${here}/images/${id}/favorite`, { on: true });
    }""", far)
    await page.evaluate("() => window.scrollTo(0, 0)")  # a reload restores the scroll
    await page.reload()
    await expect(page.locator("#grid .tile").nth(FIRST_PAGE - 1)).to_be_attached()
    await expect(page.locator("#fav-count")).to_have_text("2")
    await page.click(".seg[data-view=favorites]")
    shown = page.locator("#grid .tile:not(.hidden)")
    await expect(shown).to_have_count(2)
    order = [x["id"] for x in images]
    shown_ids = await shown.evaluate_all("(ts) => ts.map((t) => Number(t.dataset.imageId))")
    assert shown_ids == sorted(far, key=order.index)
    await shown.nth(1).locator(".tile-open").click()
    await expect(name).to_have_text(images[-1]["filename"])
    await page.keyboard.press("ArrowRight")  # the favorites only
    await expect(name).to_have_text(images[2 * FIRST_PAGE + 3]["filename"])
    assert problems == []
    await context.close()


async def test_escape_closes_the_lightbox_from_the_comment_box(browser, server, photographer):
    event_id = await create_gallery(photographer)
    res = await upload(photographer, event_id, [("IMG_1.jpg", jpeg_bytes(240, 360))])
    assert res.status_code == 200
    await wait_processed(photographer, event_id)
    await photographer.post_form(f"/panel/events/{event_id}/status", {"status": "released"})
    detail = (await photographer.get(f"/panel/events/{event_id}")).text
    slug = detail.split("/g/", 1)[1].split('"', 1)[0]
    context, page, problems = await open_page(browser, f"{server.base_url}/g/{slug}", 1440)
    await page.locator(".tile-open").first.click()
    await page.click("#lb-comments-toggle")
    await page.fill("#comment-body", "Could you crop this one?")
    await page.focus("#comment-body")
    await page.keyboard.press("Escape")
    await expect(page.locator("#lightbox")).to_be_hidden()
    assert problems == []
    await context.close()


async def test_after_the_gate_the_page_shows_the_servers_marks(browser, server, gallery):
    """A second device of a client: what the server shows it once it passes the gate
    (marks.json; which favorites a device may see is tests/test_gallery_grid.py's) is on
    the page at once, photos not built yet included, without a reload."""
    slug, images = gallery
    context, page, problems = await open_page(browser, f"{server.base_url}/g/{slug}", 1440)
    theirs, far = images[3]["id"], images[2 * FIRST_PAGE + 5]["id"]
    asked: list[str] = []

    async def the_clients_marks(route):
        asked.append(route.request.url)
        await route.fulfill(json={"favorites": [theirs, far], "threads": {str(far): 2},
                                  "unread": [far]})

    await page.route("**/marks.json", the_clients_marks)
    tile = page.locator(".tile").nth(0)
    await tile.hover()
    await tile.locator(".fav-btn").click()
    await page.fill("#gate-name", "Nora Bride")
    await page.fill("#gate-email", "nora@example.com")
    async with page.expect_response(lambda r: r.url.endswith("/favorite")):
        await page.click("#gate-form button[type=submit]")
    assert len(asked) == 1
    await expect(page.locator("#fav-count")).to_have_text("3")  # theirs + the one she hearted
    for n in (0, 3):
        await expect(page.locator(".tile").nth(n)).to_have_class(re.compile(r"\bis-fav\b"))
    await page.click(".seg[data-view=favorites]")
    await expect(page.locator("#grid .tile:not(.hidden)")).to_have_count(3)
    built = page.locator(f'.tile[data-image-id="{far}"]')
    await expect(built.locator(".comment-badge span")).to_have_text("2")
    await expect(built).to_have_class(re.compile(r"\bhas-unread\b"))
    assert problems == []
    await context.close()


async def test_download_favorites_with_none_says_so_in_the_page(browser, server, photographer):
    event_id = await create_gallery(photographer)
    res = await upload(photographer, event_id, [("IMG_1.jpg", jpeg_bytes(240, 360))])
    assert res.status_code == 200
    await wait_processed(photographer, event_id)
    await photographer.post_form(f"/panel/events/{event_id}/status", {"status": "released"})
    detail = (await photographer.get(f"/panel/events/{event_id}")).text
    slug = detail.split("/g/", 1)[1].split('"', 1)[0]
    url = f"{server.base_url}/g/{slug}"
    context, page, problems = await open_page(browser, url, 390)
    await page.click("#download-favs")
    await page.fill("#gate-name", "Nora Bride")
    await page.fill("#gate-email", "nora@example.com")
    await page.click("#gate-form button[type=submit]")
    await expect(page.locator("#toast")).to_contain_text("No favorites yet")
    assert page.url == url
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"gallery-no-favorites-390-{server.backend}.png"))
    await page.locator(".tile-open").first.click()
    await page.click("#lb-comments-toggle")
    await page.screenshot(path=str(SHOTS / f"gallery-lightbox-390-{server.backend}.png"))
    await page.keyboard.press("Escape")
    assert problems == []
    await context.close()


async def test_share_copies_the_link_and_the_slideshow_plays(browser, server, gallery):
    slug, images = gallery
    url = f"{server.base_url}/g/{slug}"
    context = await browser.new_context(viewport={"width": 1440, "height": 900},
                                        permissions=["clipboard-read", "clipboard-write"],
                                        reduced_motion="reduce")
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    await page.clock.install()
    await page.goto(f"{url}?view=all")
    await page.click("#share")
    await expect(page.locator("#toast")).to_contain_text("link copied")
    assert await page.evaluate("() => navigator.clipboard.readText()") == url

    name = page.locator("#lb-name")
    await page.locator(".tile-open").nth(FIRST_PAGE - 1).click()
    await expect(name).to_have_text(images[FIRST_PAGE - 1]["filename"])
    # Less motion asked: no fade.
    assert await page.eval_on_selector("#lb-img", "(i) => getComputedStyle(i).animationName") \
        == "none"
    await page.click("#lb-play")
    await expect(page.locator("#lb-play")).to_have_attribute("aria-pressed", "true")
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"gallery-lightbox-1440-{server.backend}.png"))
    await page.clock.run_for(4100)
    await expect(name).to_have_text(images[FIRST_PAGE]["filename"])  # past the first page
    await page.clock.run_for(4000)
    await expect(name).to_have_text(images[FIRST_PAGE + 1]["filename"])
    await page.keyboard.press(" ")  # pause
    await expect(page.locator("#lb-play")).to_have_attribute("aria-pressed", "false")
    await page.clock.run_for(9000)
    await expect(name).to_have_text(images[FIRST_PAGE + 1]["filename"])
    assert problems == []
    await context.close()
