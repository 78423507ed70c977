"""The floor for bench/live_latency.py: a bare uvicorn + Starlette app that takes the same
HTTP request and broadcasts it to the same WebSockets from memory. No database, no Redis,
no auth: what any live design on this stack costs at the least.

Run by the benchmark: `python -m uvicorn bench.floor_app:app --port N`.
"""

from __future__ import annotations

import json
from collections import defaultdict

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

sockets: dict[str, set[WebSocket]] = defaultdict(set)
seqs: dict[str, int] = defaultdict(int)


async def favorite(request: Request) -> JSONResponse:
    tenant = request.path_params["tenant"]
    body = await request.json()
    seqs[tenant] += 1
    message = json.dumps({"type": "activity", "seq": seqs[tenant], "kind": "favorite_added"
                          if body.get("on") else "favorite_removed",
                          "contact_id": body["contact_id"], "payload": body})
    for ws in tuple(sockets[tenant]):
        try:
            await ws.send_text(message)
        except Exception:
            sockets[tenant].discard(ws)
    return JSONResponse({"ok": True})


async def dashboard(websocket: WebSocket) -> None:
    tenant = websocket.path_params["tenant"]
    await websocket.accept()
    sockets[tenant].add(websocket)
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect:
        pass
    finally:
        sockets[tenant].discard(websocket)


app = Starlette(routes=[
    Route("/t/{tenant}/favorite", favorite, methods=["POST"]),
    WebSocketRoute("/t/{tenant}/ws", dashboard),
])
