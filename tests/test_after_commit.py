"""Deleting an image removes its files after the COMMIT, never before: a transaction that
rolls back after `uploads.delete_image` ran keeps the row and every file it points at
(`Outbox.after_commit`, server/outbox.py). Both backends, through the `server` fixture."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Client, create_gallery, jpeg_bytes, rows, scalar, upload, wait_processed

from server import uploads
from server.db import Database
from server.media import LARGE_SIZE, VARIANTS, MediaStore


@pytest.fixture
async def service_db(server):
    """The server's database opened in the test's process, so a test can run the service
    in a transaction of its own (no Redis: after-commit actions still run)."""
    database = Database(server.database_url)
    yield database
    await database.dispose()


async def ready_image(photographer: Client, server, db) -> tuple[int, list[Path]]:
    """An uploaded, processed image: its id and its four files (all on disk). Wider than
    LARGE_SIZE, so it has a high-res download copy too."""
    event_id = await create_gallery(photographer)
    res = await upload(photographer, event_id, [("IMG_0042.jpg", jpeg_bytes(LARGE_SIZE + 100, 40))])
    assert res.status_code == 200, res.text
    ((image_id, state),) = [(i["id"], i["state"]) for i in
                            await wait_processed(photographer, event_id)]
    assert state == "ready"
    key = await scalar(db, "SELECT storage_key FROM images WHERE id=:i", i=image_id)
    files = [MediaStore(server.media_root).variant_path(v, key) for v in VARIANTS]
    assert all(f.is_file() for f in files), files
    return image_id, files


async def image_rows(db, image_id: int) -> list:
    return await rows(db, "SELECT id FROM images WHERE id=:i", i=image_id)


async def test_the_panel_route_deletes_the_row_and_then_the_files(photographer, server, db):
    image_id, files = await ready_image(photographer, server, db)
    res = await photographer.post_form(f"/panel/images/{image_id}/delete",
                                       headers={"Accept": "application/json"})
    assert res.status_code == 200 and res.json() == {"ok": True}, res.text
    assert await image_rows(db, image_id) == []
    assert [f for f in files if f.exists()] == []
    assert (await photographer.get(f"/panel/media/thumb/{image_id}")).status_code == 404


async def test_the_files_stay_until_the_commit(photographer, server, db, service_db):
    image_id, files = await ready_image(photographer, server, db)

    def unit(session) -> None:
        uploads.delete_image(session, MediaStore(server.media_root),
                             photographer.photographer_id, image_id)
        # Deleted in this unit, not yet committed: the row still exists for everyone
        # else, and so must its files.
        assert all(f.is_file() for f in files)

    await service_db.write(unit)
    assert await image_rows(db, image_id) == []
    assert [f for f in files if f.exists()] == []


async def test_a_rollback_after_delete_image_keeps_the_row_and_the_files(
        photographer, server, db, service_db):
    image_id, files = await ready_image(photographer, server, db)

    def unit(session) -> None:
        uploads.delete_image(session, MediaStore(server.media_root),
                             photographer.photographer_id, image_id)
        raise RuntimeError("a later step failed after the delete")

    with pytest.raises(RuntimeError, match="after the delete"):
        await service_db.write(unit)
    assert await image_rows(db, image_id) == [(image_id,)]
    assert all(f.is_file() for f in files)
    thumb = await photographer.get(f"/panel/media/thumb/{image_id}")
    assert thumb.status_code == 200 and thumb.content == files[1].read_bytes()
