"""Big galleries stay light: pages, JSON, CSS and JS go out compressed to a browser that
asks for it; photos and ZIPs (already compressed) go out as they are."""

from __future__ import annotations

from conftest import released_gallery


async def test_pages_and_data_are_compressed_photos_are_not(photographer, new_client):
    _, slug, images = await released_gallery(photographer, 3)
    visitor = new_client()
    gzip = {"Accept-Encoding": "gzip"}
    page = await visitor.http.get(f"/g/{slug}", headers=gzip)
    assert page.status_code == 200 and page.headers["content-encoding"] == "gzip"
    assert int(page.headers["content-length"]) < len(page.content)  # decoded by httpx
    assert "vary" in page.headers and "Accept-Encoding" in page.headers["vary"]
    for url in ("/static/css/app.css", "/static/js/gallery.js"):
        res = await visitor.http.get(url, headers=gzip)
        assert res.headers.get("content-encoding") == "gzip", url
    photo = await visitor.http.get(f"/g/{slug}/media/preview/{images[0]['id']}",
                                   headers=gzip)
    assert photo.status_code == 200 and "content-encoding" not in photo.headers
    # A client that does not ask gets it plain.
    plain = await visitor.http.get(f"/g/{slug}", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and "<html" in plain.text
