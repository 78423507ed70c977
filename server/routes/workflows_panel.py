"""The photographer's Gallery Workflows pages (Clients → Gallery Workflows): the list and
the templates, a workflow's editor with its steps as a timeline, the step editor, an email
step's preview and test send, and the studio's sending rules.

Thin: typed parsing (`inputs`), one service call of `workflows.builder` per POST (one write
unit), render. A bad form comes back as the same page with the error and what was typed
(400), nothing changed; another photographer's id is a 404."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .. import mail
from ..errors import Invalid
from ..models import utcnow
from ..workflows import banners, builder, colors, messages, planner, presets, timing
from ..workflows.builder import RulesForm, WorkflowForm
from ..workflows.messages import BUTTON_ACTIONS, MERGE_FIELDS
from ..workflows.models import AUDIENCES, STEP_KINDS
from ..workflows.steps import (
    ANCHOR_LABELS,
    AUDIENCE_LABELS,
    BANNER_STYLES,
    BODY_LEN,
    COUNTDOWNS,
    KIND_LABELS,
    LAYOUTS,
    MAX_IMAGE_N,
    POSITIONS,
    SUBJECT_LEN,
    TEXT_LEN,
    UNITS,
    ButtonForm,
    StepForm,
    active_coupon_codes,
    audience_words,
    form_color_warnings,
    minute_text,
    step_fields,
    when_words,
)
from . import inputs
from .common import int_param, login_required, me_id, read_form, render, services, write

BASE = "/panel/workflows"
SAVED = {"workflow": "Workflow saved.", "step": "Step saved.", "deleted": "Workflow deleted.",
         "step-deleted": "Step removed.", "rules": "Sending rules saved.",
         "duplicated": "This is the copy (inactive): rename it and change what you need.",
         "activated": "Workflow activated: galleries of its type follow it now.",
         "deactivated": "Workflow deactivated.",
         "test": "Test email sent to you: it is in the mail log."}
END_ANCHORS = ("", "release", "expiry", "event_date", "date")
#: What the preview's frame may do: show the email's inline styles and images, nothing
#: else (no script, no form, no plugin), and be framed by our own pages only.
PREVIEW_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data: https: http:; "
               "base-uri 'none'; form-action 'none'; frame-ancestors 'self'; "
               "sandbox allow-popups allow-popups-to-escape-sandbox")


def _saved(request: Request) -> str | None:
    return SAVED.get(request.query_params.get("saved", ""))


def _flow_url(workflow_id: int, saved: str = "") -> str:
    return f"{BASE}/{workflow_id}" + (f"?saved={saved}" if saved else "")


def _ctx(request: Request, **values: Any) -> dict[str, Any]:
    return {"section": "clients", "clients_tab": "workflows", "saved": _saved(request),
            **values}


# --- the list and creating -----------------------------------------------------------------


@login_required
async def list_page(request: Request) -> Response:
    async with services(request).db.reader() as session:
        flows = await session.run_sync(builder.list_workflows, me_id(request))
    return render(request, "panel/workflows.html", _ctx(
        request, flows=flows, presets=presets.PRESETS))


def _workflow_form(form: FormData) -> WorkflowForm:
    return WorkflowForm(
        name=inputs.text(form, "name", "Name", max_len=120, required=True),
        description=inputs.text(form, "description", "Description", max_len=500),
        gallery_type_id=inputs.row_id(form, "gallery_type_id",
                                      "Pick one of your gallery types."),
        active=inputs.flag(form, "active", "Active"))


async def _new_page(request: Request, preset_key: str, error: str | None = None,
                    form: Any = None, status: int = 200) -> Response:
    async with services(request).db.reader() as session:
        types = await session.run_sync(builder.gallery_type_choices, me_id(request))
    template = presets.PRESETS.get(preset_key)
    if form is None:
        wanted = template["gallery_type"] if template else ""
        form = {"name": template["name"] if template else "",
                "description": template["description"] if template else "",
                "gallery_type_id": next((str(i) for i, n in types if n == wanted), ""),
                "active": "on" if template else ""}
    return render(request, "panel/workflows_new.html", _ctx(
        request, preset_key=preset_key if template else "", template=template, types=types,
        error=error, form=form), status_code=status)


@login_required
async def new_page(request: Request) -> Response:
    if request.method == "GET":
        key = inputs.choice(request.query_params, "preset", "Template", presets.PRESETS,
                            default="", lenient=True)
        return await _new_page(request, key)
    form = await read_form(request)
    key = inputs.choice(form, "preset", "Template", ("", *presets.PRESETS), default="")
    try:
        created = await write(request, builder.create_workflow, me_id(request),
                              _workflow_form(form), key)
    except Invalid as exc:
        return await _new_page(request, key, exc.message, dict(form), status=400)
    return RedirectResponse(_flow_url(created.id, "workflow"), status_code=303)


# --- a workflow's editor -------------------------------------------------------------------


def _editor_data(session, pid: int, workflow_id: int) -> dict[str, Any]:
    flow = builder.find_workflow(session, pid, workflow_id)
    rules = planner.rules_of(session, pid)
    steps = builder.steps_of(session, pid, workflow_id)
    usage = next(r for r in builder.list_workflows(session, pid)
                 if r["workflow"].id == workflow_id)
    shown = banners.stats(session, pid, [s.id for s in steps if s.kind != "email"])
    cards = [{"step": s, "when": when_words(s, rules), "stats": shown.get(s.id),
              "who": audience_words(s), "kind_label": KIND_LABELS[s.kind]}
             for s in steps]
    return {"workflow": flow, "cards": cards, "usage": usage, "rules": rules,
            "types": builder.gallery_type_choices(session, pid)}


async def _editor(request: Request, workflow_id: int, error: str | None = None,
                  form: Any = None, status: int = 200) -> Response:
    async with services(request).db.reader() as session:
        data = await session.run_sync(_editor_data, me_id(request), workflow_id)
    flow = data["workflow"]
    if form is None:
        form = {"name": flow.name, "description": flow.description,
                "gallery_type_id": str(flow.gallery_type_id or ""),
                "active": "on" if flow.active else ""}
    return render(request, "panel/workflows_editor.html", _ctx(
        request, error=error, form=form, kinds=KIND_LABELS,
        send_time=minute_text(data["rules"].send_minute), **data),
        status_code=status)


@login_required
async def editor_page(request: Request) -> Response:
    workflow_id = int_param(request, "workflow_id")
    if request.method == "GET":
        return await _editor(request, workflow_id)
    form = await read_form(request)
    try:
        await write(request, builder.update_workflow, me_id(request), workflow_id,
                    _workflow_form(form))
    except Invalid as exc:
        return await _editor(request, workflow_id, exc.message, dict(form), status=400)
    return RedirectResponse(_flow_url(workflow_id, "workflow"), status_code=303)


@login_required
async def set_active(request: Request) -> Response:
    workflow_id = int_param(request, "workflow_id")
    form = await read_form(request)
    active = inputs.flag(form, "active", "Active")
    try:
        await write(request, builder.set_active, me_id(request), workflow_id, active)
    except Invalid as exc:
        return await _editor(request, workflow_id, exc.message, status=400)
    back = f"{BASE}?saved=" if form.get("back") == "list" else f"{_flow_url(workflow_id)}?saved="
    return RedirectResponse(back + ("activated" if active else "deactivated"), status_code=303)


@login_required
async def duplicate(request: Request) -> Response:
    workflow_id = int_param(request, "workflow_id")
    await read_form(request)
    created = await write(request, builder.duplicate_workflow, me_id(request), workflow_id)
    return RedirectResponse(_flow_url(created.id, "duplicated"), status_code=303)


@login_required
async def delete_workflow(request: Request) -> Response:
    workflow_id = int_param(request, "workflow_id")
    await read_form(request)
    await write(request, builder.delete_workflow, me_id(request), workflow_id)
    return RedirectResponse(f"{BASE}?saved=deleted", status_code=303)


# --- steps ---------------------------------------------------------------------------------


def _button(form: FormData, n: int) -> ButtonForm:
    return ButtonForm(
        action=inputs.choice(form, f"button{n}_action", f"Button {n}",
                             ("", *BUTTON_ACTIONS), default=""),
        label=inputs.text(form, f"button{n}_label", f"Button {n} label", max_len=60),
        url=inputs.text(form, f"button{n}_url", f"Button {n} link", max_len=500))


def _step_form(form: FormData) -> StepForm:
    def amount(name: str) -> int:
        return inputs.number(form, name, "Amount", default=0, low=0, high=527_040)

    return StepForm(
        kind=inputs.choice(form, "kind", "Kind", STEP_KINDS, default="email"),
        name=inputs.text(form, "name", "Step name", max_len=120),
        anchor=inputs.choice(form, "anchor", "When", ANCHOR_LABELS, default="release"),
        amount=amount("amount"),
        unit=inputs.choice(form, "unit", "Unit", UNITS, default="days"),
        direction=inputs.choice(form, "direction", "Before or after", ("before", "after"),
                                default="after"),
        at_local=inputs.text(form, "at_local", "Date and time", max_len=20),
        audience=inputs.choice(form, "audience", "Audience", AUDIENCES, default="clients"),
        at_send_time=inputs.flag(form, "at_send_time", "At the send time"),
        subject=inputs.text(form, "subject", "Subject", max_len=SUBJECT_LEN),
        body=inputs.text(form, "body", "Body", max_len=BODY_LEN),
        buttons=[_button(form, 1), _button(form, 2)],
        coupon_code=inputs.text(form, "coupon_code", "Coupon", max_len=40),
        text=inputs.text(form, "text", "Text", max_len=TEXT_LEN),
        headline=inputs.text(form, "headline", "Headline", max_len=120),
        dismissible=inputs.flag(form, "dismissible", "Dismissible"),
        countdown=inputs.choice(form, "countdown", "Countdown", COUNTDOWNS, default=""),
        style=inputs.choice(form, "style", "Style", BANNER_STYLES, default="notice"),
        position=inputs.choice(form, "position", "Position", POSITIONS, default="top"),
        layout=inputs.choice(form, "layout", "Layout", LAYOUTS, default="strip"),
        image_n=inputs.number(form, "image_n", "Photo", default=0, low=0, high=MAX_IMAGE_N),
        after_n=inputs.number(form, "after_n", "After how many photos", default=12, low=1,
                              high=500),
        repeat=inputs.flag(form, "repeat", "Repeat"),
        **{f"color_{key}": inputs.text(form, f"color_{key}", f"{label} colour", max_len=7)
           or colors.DEFAULTS[key] for key, label in colors.LABELS.items()},
        end_at_local=inputs.text(form, "end_at_local", "Ends on", max_len=20),
        end_anchor=inputs.choice(form, "end_anchor", "Ends", END_ANCHORS, default=""),
        end_amount=amount("end_amount"),
        end_unit=inputs.choice(form, "end_unit", "Unit", UNITS, default="days"),
        end_direction=inputs.choice(form, "end_direction", "Before or after",
                                    ("before", "after"), default="after"))


def _posted(form: FormData) -> dict[str, Any]:
    """What was typed, to show again with an error."""
    fields: dict[str, Any] = {k: v for k, v in form.items()
                              if isinstance(v, str) and k != "csrf_token"}
    fields["buttons"] = [{"action": fields.get(f"button{n}_action", ""),
                          "label": fields.get(f"button{n}_label", ""),
                          "url": fields.get(f"button{n}_url", "")} for n in (1, 2)]
    return fields


def _step_data(session, pid: int, workflow_id: int, step_id: int | None) -> dict[str, Any]:
    flow = builder.find_workflow(session, pid, workflow_id)
    step = builder.find_step(session, pid, workflow_id, step_id) if step_id else None
    rules = planner.rules_of(session, pid)
    coupons = active_coupon_codes(session, pid)
    return {"workflow": flow, "step": step, "rules": rules, "coupons": coupons,
            "fields": step_fields(step, rules),
            "preview_galleries": builder.banner_galleries(session, pid, workflow_id)}


async def _step_page(request: Request, workflow_id: int, step_id: int | None,
                     error: str | None = None, form: Any = None,
                     status: int = 200) -> Response:
    async with services(request).db.reader() as session:
        data = await session.run_sync(_step_data, me_id(request), workflow_id, step_id)
    fields = form if form is not None else data.pop("fields")
    if form is None and step_id is None:
        fields["kind"] = inputs.choice(request.query_params, "kind", "Kind", STEP_KINDS,
                                       default="email", lenient=True)
    while len(fields.get("buttons", [])) < 2:
        fields.setdefault("buttons", []).append({"action": "", "label": "", "url": ""})
    return render(request, "panel/workflows_step.html", _ctx(
        request, error=error, form=fields, kinds=KIND_LABELS, anchors=ANCHOR_LABELS,
        audiences=AUDIENCE_LABELS, units=UNITS, styles=BANNER_STYLES, positions=POSITIONS,
        countdowns=COUNTDOWNS, layouts=LAYOUTS, color_warnings=form_color_warnings(fields),
        preview_endpoint=f"{BASE}/{workflow_id}/steps/banner-preview",
        actions=BUTTON_ACTIONS, merge_fields=MERGE_FIELDS,
        send_time=minute_text(data["rules"].send_minute), **data),
        status_code=status)


@login_required
async def step_new(request: Request) -> Response:
    workflow_id = int_param(request, "workflow_id")
    if request.method == "GET":
        return await _step_page(request, workflow_id, None)
    form = await read_form(request)
    try:
        await write(request, builder.add_step, me_id(request), workflow_id, _step_form(form))
    except Invalid as exc:
        return await _step_page(request, workflow_id, None, exc.message, _posted(form), 400)
    return RedirectResponse(_flow_url(workflow_id, "step"), status_code=303)


@login_required
async def step_edit(request: Request) -> Response:
    workflow_id, step_id = int_param(request, "workflow_id"), int_param(request, "step_id")
    if request.method == "GET":
        return await _step_page(request, workflow_id, step_id)
    form = await read_form(request)
    try:
        await write(request, builder.update_step, me_id(request), workflow_id, step_id,
                    _step_form(form))
    except Invalid as exc:
        return await _step_page(request, workflow_id, step_id, exc.message, _posted(form),
                                400)
    return RedirectResponse(_flow_url(workflow_id, "step") + f"#step-{step_id}",
                            status_code=303)


@login_required
async def banner_preview(request: Request) -> Response:
    """The step editor's live preview: the banner as the form stands (not saved), rendered
    for one of the studio's galleries, with its contrast warnings."""
    workflow_id = int_param(request, "workflow_id")
    form = await read_form(request)
    svc = services(request)
    try:
        event_id = inputs.row_id(form, "event_id", "Pick a gallery to preview on.")
        async with svc.db.reader() as session:
            # Another studio's workflow or gallery is a 404 before the form is read.
            await session.run_sync(builder.find_workflow, me_id(request), workflow_id)
            await session.run_sync(builder.preview_subjects, me_id(request), None, event_id)
            shown = await session.run_sync(builder.preview_banner, me_id(request), event_id,
                                           _step_form(form), svc.settings.base_url)
    except Invalid as exc:
        # A form still being typed is not a failed request (no console error per keystroke):
        # the answer says what to fix, and the editor keeps the last good preview.
        return JSONResponse({"error": exc.message, "field": exc.field},
                            headers={"Cache-Control": "no-store"})
    return JSONResponse(shown, headers={"Cache-Control": "no-store"})


@login_required
async def step_delete(request: Request) -> Response:
    workflow_id, step_id = int_param(request, "workflow_id"), int_param(request, "step_id")
    await read_form(request)
    await write(request, builder.delete_step, me_id(request), workflow_id, step_id)
    return RedirectResponse(_flow_url(workflow_id, "step-deleted"), status_code=303)


@login_required
async def step_move(request: Request) -> Response:
    workflow_id, step_id = int_param(request, "workflow_id"), int_param(request, "step_id")
    form = await read_form(request)
    direction = inputs.choice(form, "direction", "Direction", ("up", "down"), default="")
    await write(request, builder.move_step, me_id(request), workflow_id, step_id, direction)
    return RedirectResponse(_flow_url(workflow_id) + f"#step-{step_id}", status_code=303)


# --- preview and test ----------------------------------------------------------------------


def _picks(source) -> tuple[int | None, int | None]:
    return (inputs.row_id(source, "contact", "Pick one of your contacts.", required=False),
            inputs.row_id(source, "gallery", "Pick one of your galleries.", required=False))


def _rendered(session, request: Request, workflow_id: int, step_id: int,
              contact_id: int | None, event_id: int | None) -> messages.Rendered:
    pid = me_id(request)
    step = builder.find_step(session, pid, workflow_id, step_id)
    if step.kind != "email":
        raise Invalid("Only email steps have a preview.")
    contact, event = builder.preview_subjects(session, pid, contact_id, event_id)
    settings = services(request).settings
    return messages.render(step.content or {}, event=event, contact=contact,
                           photographer=request.state.photographer,
                           base_url=settings.base_url, secret=settings.secret_key,
                           favorites=3, now=utcnow())


@login_required
async def preview_page(request: Request) -> Response:
    workflow_id, step_id = int_param(request, "workflow_id"), int_param(request, "step_id")
    contact_id, event_id = _picks(request.query_params)
    pid = me_id(request)
    async with services(request).db.reader() as session:
        data = await session.run_sync(_step_data, pid, workflow_id, step_id)
        rendered = await session.run_sync(_rendered, request, workflow_id, step_id,
                                          contact_id, event_id)
        contacts, events = await session.run_sync(builder.preview_choices, pid)
    query = "&".join(f"{k}={v}" for k, v in (("contact", contact_id), ("gallery", event_id))
                     if v)
    to = dict(contacts).get(contact_id) if contact_id else None
    return render(request, "panel/workflows_preview.html", _ctx(
        request, rendered=rendered, contacts=contacts, events=events,
        to=to or f"{builder.SAMPLE_NAME} <{builder.SAMPLE_EMAIL}> (sample)",
        contact_id=contact_id, event_id=event_id, query=query, **data))


@login_required
async def preview_email(request: Request) -> Response:
    """The email's HTML alone, for the preview page's sandboxed frame."""
    workflow_id, step_id = int_param(request, "workflow_id"), int_param(request, "step_id")
    contact_id, event_id = _picks(request.query_params)
    async with services(request).db.reader() as session:
        rendered = await session.run_sync(_rendered, request, workflow_id, step_id,
                                          contact_id, event_id)
    return HTMLResponse(rendered.html, headers={
        "Content-Security-Policy": PREVIEW_CSP, "X-Frame-Options": "SAMEORIGIN",
        "Cache-Control": "no-store"})


def _send_test(session, request: Request, workflow_id: int, step_id: int,
               contact_id: int | None, event_id: int | None) -> None:
    me = request.state.photographer
    rendered = _rendered(session, request, workflow_id, step_id, contact_id, event_id)
    mail.queue(session, me.id, kind="workflow_test", recipient=me.email,
               subject=f"[Test] {rendered.subject}", body_text=rendered.text,
               body_html=rendered.html, event_id=event_id)


@login_required
async def send_test(request: Request) -> Response:
    workflow_id, step_id = int_param(request, "workflow_id"), int_param(request, "step_id")
    form = await read_form(request)
    contact_id, event_id = _picks(form)
    await write(request, _send_test, request, workflow_id, step_id, contact_id, event_id)
    query = "&".join(f"{k}={v}" for k, v in (("contact", contact_id), ("gallery", event_id))
                     if v)
    return RedirectResponse(f"{BASE}/{workflow_id}/steps/{step_id}/preview?saved=test"
                            + (f"&{query}" if query else ""), status_code=303)


# --- sending rules -------------------------------------------------------------------------


async def _rules_page(request: Request, error: str | None = None, form: Any = None,
                      status: int = 200) -> Response:
    async with services(request).db.reader() as session:
        row = await session.run_sync(builder.sending_rules, me_id(request))
    if form is None:
        form = {"timezone": row.timezone, "send_time": minute_text(row.send_minute),
                "quiet_start": minute_text(row.quiet_start),
                "quiet_end": minute_text(row.quiet_end)}
    return render(request, "panel/workflows_rules.html", _ctx(
        request, clients_tab="rules", error=error, form=form, zones=timing.timezones()),
        status_code=status)


@login_required
async def rules_page(request: Request) -> Response:
    if request.method == "GET":
        return await _rules_page(request)
    form = await read_form(request)
    try:
        fields = RulesForm(
            timezone=inputs.text(form, "timezone", "Time zone", max_len=64, required=True),
            send_time=inputs.text(form, "send_time", "Send time", max_len=5, required=True),
            quiet_start=inputs.text(form, "quiet_start", "Quiet hours start", max_len=5),
            quiet_end=inputs.text(form, "quiet_end", "Quiet hours end", max_len=5))
        await write(request, builder.save_sending_rules, me_id(request), fields)
    except Invalid as exc:
        return await _rules_page(request, exc.message, dict(form), status=400)
    return RedirectResponse(f"{BASE}/sending-rules?saved=rules", status_code=303)


STEP = BASE + "/{workflow_id:int}/steps/{step_id:int}"
routes = [
    Route(BASE, list_page),
    Route(BASE + "/new", new_page, methods=["GET", "POST"]),
    Route(BASE + "/sending-rules", rules_page, methods=["GET", "POST"]),
    Route(BASE + "/{workflow_id:int}", editor_page, methods=["GET", "POST"]),
    Route(BASE + "/{workflow_id:int}/active", set_active, methods=["POST"]),
    Route(BASE + "/{workflow_id:int}/duplicate", duplicate, methods=["POST"]),
    Route(BASE + "/{workflow_id:int}/delete", delete_workflow, methods=["POST"]),
    Route(BASE + "/{workflow_id:int}/steps/new", step_new, methods=["GET", "POST"]),
    Route(BASE + "/{workflow_id:int}/steps/banner-preview", banner_preview, methods=["POST"]),
    Route(STEP, step_edit, methods=["GET", "POST"]),
    Route(STEP + "/delete", step_delete, methods=["POST"]),
    Route(STEP + "/move", step_move, methods=["POST"]),
    Route(STEP + "/preview", preview_page),
    Route(STEP + "/preview/email", preview_email),
    Route(STEP + "/test", send_test, methods=["POST"]),
]
