"""Settings → Brand (the studio name, logo, accent, cover typeface and public contact) and
the public logo files it makes."""

from __future__ import annotations

import asyncio

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from .. import brand
from ..errors import Invalid, NotFound
from . import inputs
from .common import login_required, me_id, read_form, render, services, write


def _page(request: Request, *, error: str | None = None, status: int = 200,
          draft: dict | None = None) -> Response:
    me = request.state.photographer
    shown = brand.brand_of(me)
    # The form shows what was saved, or what was just typed when it was refused.
    values = {"business_name": me.business_name, "accent": shown["accent"],
              "font": shown["font"], **{f"contact_{k}": v for k, v in shown["contact"].items()}}
    values.update({k: v for k, v in (draft or {}).items() if isinstance(v, str)})
    if values["font"] not in brand.FONTS:
        values["font"] = shown["font"]
    return render(request, "panel/brand.html", {
        "brand": shown, "v": values, "fonts": brand.FONTS, "error": error,
        "saved": request.query_params.get("saved") == "1",
        "notes": brand.accent_notes(shown["accent"]),
        "max_mb": brand.LOGO_MAX_BYTES // 1024 // 1024,
    }, status_code=status)


async def _logo_bytes(form) -> bytes | None:
    upload = form.get("logo")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None  # no file chosen: keep the logo
    if upload.size is not None and upload.size > brand.LOGO_MAX_BYTES:
        raise Invalid(f"The logo file is {upload.size / 1024 / 1024:.1f} MB; at most "
                      f"{brand.LOGO_MAX_BYTES // 1024 // 1024} MB, please.", field="logo")
    return await upload.read(brand.LOGO_MAX_BYTES + 1)


@login_required
async def brand_page(request: Request) -> Response:
    if request.method == "GET":
        return _page(request)
    form = await read_form(request, files=("logo",))
    media_root = services(request).settings.media_root
    draft = {k: form.get(k) for k in ("business_name", "accent", "font", "contact_email",
                                      "contact_phone", "contact_website")}
    try:
        fields = brand.BrandForm(
            studio_name=inputs.text(form, "business_name", "Studio name", max_len=120),
            accent=brand.accent_color(inputs.text(form, "accent", "Accent", max_len=20)),
            font=inputs.choice(form, "font", "Typeface", brand.FONTS,
                               default=brand.DEFAULT_FONT),
            contact=brand.contact_fields(
                inputs.text(form, "contact_email", "Email", max_len=254),
                inputs.text(form, "contact_phone", "Phone", max_len=40),
                inputs.text(form, "contact_website", "Website", max_len=200)),
            remove_logo=inputs.flag(form, "remove_logo", "Remove the logo"),
        )
        data = await _logo_bytes(form)
        logo = await asyncio.to_thread(brand.prepare_logo, data) if data is not None else None
    except Invalid as exc:
        return _page(request, error=f"{exc.message} Nothing was changed.", status=400,
                     draft=draft)
    finally:
        await form.close()
    if logo is not None:  # the file first: the row never names a logo that is not there
        await asyncio.to_thread(brand.store_logo, media_root, logo)
        fields = brand.BrandForm(**{**fields.__dict__, "logo_key": logo.key})
    try:
        replaced = await write(request, brand.save, me_id(request), fields)
    except BaseException:
        if logo is not None:
            brand.remove_logo_file(media_root, logo.key)
        raise
    if replaced:
        await asyncio.to_thread(brand.remove_logo_file, media_root, replaced)
    return RedirectResponse("/panel/settings/brand?saved=1", status_code=303)


async def logo_file(request: Request) -> Response:
    """A studio's logo, public (galleries, error pages, emails). Its key changes with
    every upload, so a year of caching never shows an old logo."""
    key = request.path_params["key"]
    path = brand.logo_path(services(request).settings.media_root, key)
    if not await asyncio.to_thread(path.is_file):
        raise NotFound("No such logo.")
    return FileResponse(path, media_type="image/png" if key.endswith(".png") else "image/jpeg",
                        headers={"Cache-Control": "public, max-age=31536000, immutable"})


routes = [
    Route("/panel/settings/brand", brand_page, methods=["GET", "POST"]),
    Route("/brand/logo/{key}", logo_file),
]
