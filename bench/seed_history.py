"""Give a running Proofroom a realistic history, the way clients make one: hundreds of
contacts pass the email gate of a photographer's released galleries, then favorite,
unfavorite, comment and, where the gallery has a store, fill carts and place orders, over
HTTP. For looking at pages (and benchmarking them) with
thousands of events behind them, as a working photographer has.

    proofroom serve --demo &     # with relaxed gate limits, see below
    python bench/seed_history.py --contacts 300 --actions 4000

The gate is rate-limited per address (every seeded client comes from 127.0.0.1), so
start the server with e.g. PROOFROOM_LIMIT_GATE_PER_ADDRESS=100000/60
PROOFROOM_LIMIT_GATE_PER_GALLERY=100000/60.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import time

import httpx

COMMENTS = ["Love this one!", "Can we get this in black and white?", "Could you crop a bit?",
            "This is the one for the album.", "Is there one with eyes open?", "Perfect ❤"]


async def gallery_slugs(base: str, email: str, password: str) -> list[str]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        await http.get("/login")
        res = await http.post("/login", data={"email": email, "password": password,
                                              "csrf_token": http.cookies["pr_csrf"]})
        if res.status_code != 303:
            raise SystemExit(f"login failed ({res.status_code}): check --email/--password")
        slugs = set()
        for event_id in set(re.findall(r"/panel/events/(\d+)", (await http.get("/panel")).text)):
            page = (await http.get(f"/panel/events/{event_id}")).text
            if "Released" in page or "released" in page:
                slugs.update(re.findall(r"/g/([A-Za-z0-9_-]+)", page))
    return sorted(slugs)


class Client:
    def __init__(self, base: str, slug: str, n: int) -> None:
        self.http = httpx.AsyncClient(base_url=base, timeout=30)
        self.slug, self.n = slug, n
        self.images: list[int] = []
        self.on: set[int] = set()
        self.products: list[dict] = []  # what the gallery's store sells (none: no store)
        self.cart_version: int | None = None

    async def arrive(self) -> bool:
        page = (await self.http.get(f"/g/{self.slug}")).text
        island = re.search(r'id="gallery-data">(.*?)</script>', page, re.S)
        self.images = [i["id"] for i in json.loads(island.group(1))["images"]]
        res = await self.post(f"/g/{self.slug}/gate", {
            "email": f"seed.client{self.n}@example.com", "name": f"Seed Client {self.n}"})
        store = (await self.http.get(f"/g/{self.slug}/store.json")).json().get("store")
        self.products = [i for i in (store or {}).get("items", [])
                         if i["kind"] in ("print", "digital", "product")]
        return res.status_code == 200 and bool(self.images)

    async def post(self, url: str, data: dict) -> httpx.Response:
        headers = {"X-CSRF-Token": self.http.cookies.get("pr_csrf", ""),
                   "Accept": "application/json"}
        try:
            return await self.http.post(url, json=data, headers=headers)
        except httpx.TransportError:
            # A kept-alive connection the server closed just as we reused it: once more.
            return await self.http.post(url, json=data, headers=headers)

    async def shop(self, rnd: random.Random, image: int) -> int:
        """Add something to the cart; now and then go through checkout with it."""
        if self.cart_version is not None and rnd.random() < 0.3:
            res = await self.post(f"/g/{self.slug}/cart/details", {
                "name": f"Seed Client {self.n}", "email": f"seed.client{self.n}@example.com",
                "line1": f"{self.n} Seed Street", "city": "Springfield",
                "postal_code": "12345", "country": "US"})
            if res.status_code == 200 and rnd.random() < 0.6:
                res = await self.post(f"/g/{self.slug}/checkout",
                                      {"version": res.json()["version"]})
                self.cart_version = None
            return res.status_code
        item = rnd.choice(self.products)
        res = await self.post(f"/g/{self.slug}/cart/items", {
            "item_id": item["id"], "image_id": image, "quantity": 1,
            "choices": {g["name"]: rnd.choice(g["choices"])["name"] for g in item["options"]}})
        if res.status_code == 200:
            self.cart_version = res.json()["version"]
        return res.status_code

    async def act(self, rnd: random.Random) -> int:
        image = rnd.choice(self.images)
        if self.products and rnd.random() < 0.1:
            return await self.shop(rnd, image)
        if rnd.random() < 0.12:
            res = await self.post(f"/g/{self.slug}/images/{image}/comments",
                                  {"body": rnd.choice(COMMENTS)})
        else:
            on = image not in self.on
            res = await self.post(f"/g/{self.slug}/images/{image}/favorite", {"on": on})
            (self.on.add if on else self.on.discard)(image)
        return res.status_code


async def seed(args: argparse.Namespace) -> None:
    rnd = random.Random(args.seed)
    slugs = await gallery_slugs(args.base, args.email, args.password)
    if not slugs:
        raise SystemExit("no released gallery to seed (run `proofroom serve --demo`)")
    clients = [Client(args.base, slugs[n % len(slugs)], n) for n in range(args.contacts)]
    started = time.perf_counter()
    arrived = await asyncio.gather(*(c.arrive() for c in clients))
    ready = [c for c, ok in zip(clients, arrived, strict=True) if ok]
    statuses: dict[int, int] = {}
    queue = iter(range(args.actions))

    async def worker() -> None:
        for _ in queue:
            status = await rnd.choice(ready).act(rnd)
            statuses[status] = statuses.get(status, 0) + 1

    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    for client in clients:
        await client.http.aclose()
    print(f"{len(ready)}/{len(clients)} contacts passed the gate of {len(slugs)} galleries; "
          f"{args.actions} actions in {time.perf_counter() - started:.1f} s; "
          f"statuses {dict(sorted(statuses.items()))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--email", default="demo@proofroom.app")
    parser.add_argument("--password", default="proofroom-demo")
    parser.add_argument("--contacts", type=int, default=300)
    parser.add_argument("--actions", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    asyncio.run(seed(parser.parse_args()))


if __name__ == "__main__":
    main()
