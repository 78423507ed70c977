"""The Comments inbox: conversations on the left, the open thread on the right."""

from __future__ import annotations

from functools import partial

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .. import activity, conversations, presence
from . import inputs
from .common import (
    int_param,
    login_required,
    me_id,
    read_form,
    read_json,
    render,
    services,
    write,
)


def _message(comment) -> dict:
    return {"id": comment.id, "author": comment.author, "body": comment.body,
            "at": comment.created_at.isoformat()}


@login_required
async def inbox_page(request: Request) -> Response:
    pid = me_id(request)
    contact_id = request.path_params.get("contact_id")
    image_id = request.path_params.get("image_id")
    svc = services(request)
    # The filters are checked before the write: a bad one changes nothing.
    image_filter = inputs.row_id(request.query_params, "image", "Pick an image from the list.",
                                 required=False)
    unread_only = inputs.flag(request.query_params, "unread", "Unread only")
    thread = None
    last_seq = None
    if contact_id is not None:
        # The seq first: the thread, read after it, then holds at least every message up to
        # it (the list below is read later, and applying an event twice only re-fetches it).
        async with svc.db.reader() as session:
            last_seq = await activity.latest_seq(session, pid)
        thread = await write(request, conversations.read_thread, pid,
                             int_param(request, "contact_id"), int_param(request, "image_id"))
    # The list is not what the write needs: it stays out of it (SQLite's writer is held
    # for the write alone), read after it so it shows this thread as read.
    async with svc.db.reader() as session:
        items = await conversations.inbox(session, pid, unread_only=unread_only,
                                          image_id=image_filter)
        unread = await conversations.unread_total(session, pid)
        if last_seq is None:
            last_seq = await activity.latest_seq(session, pid)
    return render(request, "panel/inbox.html", {
        "conversations": items, "thread": thread, "unread_total": unread,
        "unread_only": unread_only, "last_seq": last_seq,
        "open_key": f"{contact_id}:{image_id}" if thread else "",
    })


@login_required
async def inbox_json(request: Request) -> Response:
    async with services(request).db.reader() as session:
        items = await conversations.inbox(session, me_id(request))
        unread = await conversations.unread_total(session, me_id(request))
    return JSONResponse({"conversations": [c.as_json() for c in items], "unread": unread})


@login_required
async def thread_json(request: Request) -> Response:
    thread = await write(request, conversations.read_thread, me_id(request),
                         int_param(request, "contact_id"), int_param(request, "image_id"))
    return JSONResponse({"messages": [_message(m) for m in thread.messages]})


@login_required
async def reply(request: Request) -> Response:
    data = await read_json(request)
    body = inputs.text(data, "body", "Reply", max_len=conversations.MAX_COMMENT, required=True)
    svc = services(request)
    pid, contact_id, image_id = (me_id(request), int_param(request, "contact_id"),
                                 int_param(request, "image_id"))
    # The thread's gallery, for the presence check: Redis is network, kept out of the
    # write, which finds the thread again (conversations.reply).
    async with svc.db.reader() as session:
        thread = await session.run_sync(conversations.open_thread, pid, contact_id, image_id)
    # None: Redis can't say (it is down). Then the reply is emailed, as to an absent client:
    # a duplicate email is better than a client never told.
    present = await presence.is_present(svc.redis, svc.settings.channel_namespace, pid,
                                        thread.event.id, contact_id)
    reply_unit = partial(conversations.reply, client_present=present is True,
                         base_url=svc.settings.base_url)
    comment = await write(request, reply_unit, pid, contact_id, image_id, body)
    return JSONResponse({"message": _message(comment), "emailed": present is not True,
                         "presence": _PRESENCE[present]})


_PRESENCE = {True: "present", False: "away", None: "unknown"}


@login_required
async def read_all(request: Request) -> Response:
    await read_form(request)
    await write(request, conversations.mark_all_read, me_id(request))
    return RedirectResponse("/panel/comments", status_code=303)


routes = [
    Route("/panel/comments", inbox_page),
    Route("/panel/comments.json", inbox_json),
    Route("/panel/comments/read-all", read_all, methods=["POST"]),
    Route("/panel/comments/{contact_id:int}/{image_id:int}", inbox_page),
    Route("/panel/comments/{contact_id:int}/{image_id:int}/thread.json", thread_json),
    Route("/panel/comments/{contact_id:int}/{image_id:int}/reply", reply, methods=["POST"]),
]
