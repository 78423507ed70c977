"""Gallery page weight: what one view of a client gallery costs at 50, 2,000, 5,000 photos.

Starts a real Proofroom server (embedded default: SQLite + private Redis), one photographer
and, per size, one released gallery. Four photos go through the real upload (so real
thumbnail and preview files exist); the other rows are inserted straight into the
database (SQLite), reusing those rows' fields with their own file names, sizes (portrait
and landscape) and storage keys. Uploading thousands of photos over HTTP would take many
minutes and measure the resize worker, not the page; the page reads only the rows (no
photo file is opened to render it), so the figure is the same. A visitor passes the email
gate and saves a few favorites, then GETs the page ~50 times, one at a time, with
`Accept-Encoding: gzip` (as browsers do), then its photos.json (which gallery.js fetches as
the page loads) as many times. Prints per size: time to first byte p50/p99
(request sent → status line and headers in), bytes on the wire (gzip) and uncompressed,
tiles in the HTML, and the server's CPU per view (all its threads, /proc). The floor line is
the same client's first byte for GET /login (no database read), in the same run.
Targets (issue #15): first byte ≤ 15 ms and ≤ 150 KB compressed at 2,000 photos.

    python bench/gallery_page.py                     # 50, 2000, 5000 photos; 50 GETs each
    python bench/gallery_page.py --sizes 50,2000 --gets 100
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from live_latency import (
    cpu_seconds,
    csrf,
    free_port,
    percentile,
    small_jpeg,
    start,
    wait_up,
)

WARMUP_GETS = 5
FAVORITES = 20  # spread over the gallery, some beyond the first page of tiles


async def new_gallery(http: httpx.AsyncClient, token: str, title: str) -> tuple[int, str]:
    """A released gallery with 4 photos uploaded for real (their variants exist)."""
    res = await http.post("/panel/events/new", data={"title": title, "csrf_token": token})
    event_id = int(res.headers["location"].rsplit("/", 1)[1])
    files = [("files", (f"IMG_{i:04d}.jpg", small_jpeg(i), "image/jpeg")) for i in range(4)]
    res = await http.post(f"/panel/events/{event_id}/images", data={"csrf_token": token},
                          files=files)
    assert res.status_code == 200, res.text
    for _ in range(300):
        images = (await http.get(f"/panel/events/{event_id}/images.json")).json()["images"]
        if all(i["state"] == "ready" for i in images):
            break
        await asyncio.sleep(0.1)
    await http.post(f"/panel/events/{event_id}/status",
                    data={"status": "released", "csrf_token": token})
    page = (await http.get(f"/panel/events/{event_id}")).text
    return event_id, page.split("/g/", 1)[1].split('"', 1)[0]


def add_rows(db: Path, event_id: int, total: int) -> None:
    """Fill the gallery to `total` photos with rows copied from its uploaded ones."""
    with sqlite3.connect(db, timeout=30) as conn:
        cols = [r[1] for r in conn.execute("PRAGMA table_info(images)") if r[1] != "id"]
        model = dict(zip(cols, conn.execute(
            f"SELECT {', '.join(cols)} FROM images WHERE event_id = ? LIMIT 1",
            (event_id,)).fetchone(), strict=True))
        have = conn.execute("SELECT count(*) FROM images WHERE event_id = ?",
                            (event_id,)).fetchone()[0]
        rows = []
        for n in range(have, total):
            portrait = n % 3 == 0
            rows.append({**model, "filename": f"DSC_{n:05d}.jpg", "position": n,
                         "storage_key": f"bench-{event_id}-{n}-{uuid.uuid4().hex[:8]}",
                         "width": 2667 if portrait else 4000,
                         "height": 4000 if portrait else 2667})
        conn.executemany(f"INSERT INTO images ({', '.join(cols)}) VALUES "
                         f"({', '.join(':' + c for c in cols)})", rows)


async def visitor(base: str, slug: str, image_ids: list[int]) -> httpx.AsyncClient:
    """A visitor past the gate with FAVORITES favorites across the gallery."""
    token = secrets.token_urlsafe(16)
    http = httpx.AsyncClient(base_url=base, timeout=60, cookies={"pr_csrf": token})
    res = await http.post(f"/g/{slug}/gate", json={"email": f"parent-{slug}@example.com",
                                                   "name": "A Parent"},
                          headers={"X-CSRF-Token": token})
    assert res.status_code == 200, res.text
    step = max(1, len(image_ids) // FAVORITES)
    for image_id in image_ids[::step][:FAVORITES]:
        res = await http.post(f"/g/{slug}/images/{image_id}/favorite", json={"on": True},
                              headers={"X-CSRF-Token": token})
        assert res.status_code == 200, res.text
    return http


async def plain_page(http: httpx.AsyncClient, slug: str) -> str:
    res = await http.get(f"/g/{slug}", headers={"Accept-Encoding": "identity"})
    assert res.status_code == 200
    return res.text


async def measure(base: str, pid: int, db: Path, admin: httpx.AsyncClient, token: str,
                  size: int, gets: int) -> dict:
    event_id, slug = await new_gallery(admin, token, f"Page bench {size}")
    add_rows(db, event_id, size)
    ids = [i["id"] for i in
           (await admin.get(f"/panel/events/{event_id}/images.json")).json()["images"]]
    http = await visitor(base, slug, ids)
    for _ in range(WARMUP_GETS):
        await plain_page(http, slug)
    page_get = await timed_gets(http, pid, f"/g/{slug}", gets)
    photos_get = await timed_gets(http, pid, f"/g/{slug}/photos.json", gets)
    page = await plain_page(http, slug)
    plain = len(page.encode())
    await http.aclose()
    return {"size": size, **page_get, "plain": plain, "tiles": page.count('data-index="'),
            "photos": photos_get}


async def timed_gets(http: httpx.AsyncClient, pid: int, url: str, gets: int) -> dict:
    """First byte p50/p99 (ms), bytes on the wire (gzip) and server CPU (ms) per GET."""
    ttfbs, wire, cpu = [], 0, 0.0
    for _ in range(gets):
        before = sum(cpu_seconds(pid).values())
        t0 = time.perf_counter()
        async with http.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as res:
            ttfbs.append(time.perf_counter() - t0)
            assert res.status_code == 200
            wire = sum([len(chunk) async for chunk in res.aiter_raw()])
        cpu += sum(cpu_seconds(pid).values()) - before
    return {"p50": percentile(ttfbs, 50) * 1000, "p99": percentile(ttfbs, 99) * 1000,
            "wire": wire, "cpu": cpu * 1000 / gets}


async def floor(base: str, gets: int) -> float:
    """p50 first byte of GET /login through the same client and server: a small page with
    no database read, what any HTML response costs here (client, middleware, template)."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        ttfbs = []
        for n in range(WARMUP_GETS + gets):
            t0 = time.perf_counter()
            async with http.stream("GET", "/login", headers={"Accept-Encoding": "gzip"}) as res:
                if n >= WARMUP_GETS:
                    ttfbs.append(time.perf_counter() - t0)
                await res.aread()
    return percentile(ttfbs, 50) * 1000


async def run(base: str, pid: int, db: Path, sizes: list[int], gets: int) -> list[dict]:
    print(f"floor: GET /login first byte p50 {await floor(base, gets):.1f} ms", flush=True)
    admin = httpx.AsyncClient(base_url=base, timeout=120)
    token = await csrf(admin)
    res = await admin.post("/signup", data={"email": f"page-{uuid.uuid4().hex[:6]}@example.com",
                                            "name": "Page Bench", "password": "bench-password",
                                            "csrf_token": token})
    assert res.status_code == 303, res.text
    panel = (await admin.get("/panel")).text
    token = panel.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    results = []
    for size in sizes:
        r = await measure(base, pid, db, admin, token, size, gets)
        results.append(r)
        print(f"{r['size']:>6} photos: first byte p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms;"
              f" {r['wire'] / 1024:.1f} KB gzip, {r['plain'] / 1024:.1f} KB plain;"
              f" {r['tiles']} tiles in the HTML; server CPU {r['cpu']:.1f} ms/view",
              flush=True)
        j = r["photos"]
        print(f"{'':>6}   then photos.json (fetched by the page): first byte p50 "
              f"{j['p50']:.1f} ms, p99 {j['p99']:.1f} ms; {j['wire'] / 1024:.1f} KB gzip;"
              f" server CPU {j['cpu']:.1f} ms", flush=True)
    await admin.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="50,2000,5000")
    parser.add_argument("--gets", type=int, default=50)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="proofroom-bench-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PROOFROOM_VAR": str(tmp / "var"), "SECRET_KEY": "bench",
           "BASE_URL": base, "PROOFROOM_LIMIT_GATE_PER_ADDRESS": "100000/60",
           "PROOFROOM_LIMIT_SIGNUP_PER_ADDRESS": "100000/60"}
    env.pop("DATABASE_URL", None)
    print(f"embedded server (SQLite); logs in {tmp}", flush=True)
    proc = start([sys.executable, "-m", "server.cli", "serve", "--port", str(port)], env,
                 tmp / "server.log")
    try:
        wait_up(base + "/login", proc)
        results = asyncio.run(run(base, proc.pid, tmp / "var" / "proofroom.db",
                                  [int(n) for n in args.sizes.split(",")], args.gets))
        for r in results:
            if r["size"] == 2000:
                ok = r["p50"] <= 15 and r["wire"] + r["photos"]["wire"] <= 150 * 1024
                print(f"target at 2,000 photos (page first byte ≤ 15 ms, page and "
                      f"photos.json ≤ 150 KB gzip): "
                      f"{'met' if ok else 'NOT met'}", flush=True)
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
