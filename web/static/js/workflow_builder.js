// The workflow step editor and preview: show the fields the chosen kind, anchor, button
// action, banner position, layout, style and end need; insert merge fields at the cursor;
// re-render the email preview when its contact or gallery changes; for banners, a live
// preview on a real gallery page that follows every keystroke before anything is saved.
// Without this script every field shows and the server still checks everything.

const VISITOR_ANCHORS = ["first_visit", "cart_change", "first_favorite"];
const BANNER_KINDS = ["banner", "announcement"];
// The widths the preview renders the gallery at (CSS pixels), then scales to fit the pane.
const DEVICES = { desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 760 } };
const PREVIEW_DELAY_MS = 250;
const REVEAL_DELAY_MS = 120; // the gallery lays the banner out after the message
const MESSAGE_TYPE = "proofroom:banner-preview";
const READY_TYPE = "proofroom:banner-preview-ready";

// data-show-NAME="a b": shown only while NAME is a or b; data-hide-NAME: hidden while it is.
// One pass over all conditions, so an element may carry several (kind and position).
function applyConditions(root, values) {
  const names = Object.keys(values);
  const selector = names.flatMap((n) => [`[data-show-${n}]`, `[data-hide-${n}]`]).join(",");
  for (const el of root.querySelectorAll(selector)) {
    el.hidden = names.some((n) => {
      const show = el.getAttribute(`data-show-${n}`);
      const hide = el.getAttribute(`data-hide-${n}`);
      return (show !== null && !show.split(" ").includes(values[n]))
        || (hide !== null && hide.split(" ").includes(values[n]));
    });
  }
}

function valueOf(form, selector, fallback = "") {
  const el = form.querySelector(selector);
  return el ? el.value : fallback;
}

// What the conditions read; a bottom strip is always a strip, whatever the layout says.
function conditions(form) {
  const position = valueOf(form, "[data-position]", "top");
  return {
    kind: valueOf(form, "[data-kind]", "email"),
    anchor: valueOf(form, "[data-anchor]", "release"),
    position,
    layout: position === "bottom" ? "strip" : valueOf(form, "[data-layout]", "strip"),
    style: valueOf(form, "[data-style]", "notice"),
    "end-anchor": valueOf(form, "[data-end-anchor]") || "none",
  };
}

function updateButtons(form) {
  const coupon = valueOf(form, "[data-coupon]");
  for (const row of form.querySelectorAll("[data-button-row]")) {
    const action = row.querySelector("[data-button-action]").value;
    row.querySelector("[data-button-url]").hidden = action !== "url";
    const needs = row.querySelector("[data-needs-coupon]");
    if (needs) needs.hidden = !(action === "shop_coupon" && !coupon);
  }
}

function updateEcho(form) {
  const n = form.querySelector("[data-after-n]");
  const echo = form.querySelector("[data-repeat-n]");
  if (n && echo) echo.textContent = n.value.trim() || "N";
  for (const input of form.querySelectorAll("[data-color]")) {
    const code = input.parentElement.querySelector("[data-color-code]");
    if (code) code.textContent = input.value;
  }
}

function stepForm(form, layout) {
  const direction = form.querySelector("[data-direction]");
  const update = () => {
    const values = conditions(form);
    applyConditions(document, values);
    if (layout) layout.dataset.kind = values.kind;
    // Visitor anchors count forward from the visitor's act: "before" has no meaning.
    const visitor = VISITOR_ANCHORS.includes(values.anchor);
    direction.querySelector('option[value="before"]').disabled = visitor;
    if (visitor) direction.value = "after";
    updateButtons(form);
    updateEcho(form);
  };
  form.addEventListener("change", update);
  form.addEventListener("input", () => updateEcho(form));
  update();
}

function mergeFields() {
  let target = document.querySelector("[data-merge-target]");
  document.addEventListener("focusin", (event) => {
    if (event.target.matches("[data-merge-target]")) target = event.target;
  });
  // The side list (emails) and the chips under a banner's text (its side holds the preview).
  for (const button of document.querySelectorAll("[data-merge], [data-merge-chip]")) {
    button.addEventListener("click", () => {
      if (!target) return;
      const text = button.dataset.merge ?? button.dataset.mergeChip;
      const start = target.selectionStart ?? target.value.length;
      const end = target.selectionEnd ?? start;
      target.setRangeText(text, start, end, "end");
      target.focus();
      // setRangeText fires no input event: tell the live preview.
      target.dispatchEvent(new Event("input", { bubbles: true }));
    });
  }
}

function previewPicker(form) {
  for (const select of form.querySelectorAll("[data-autosubmit]")) {
    select.addEventListener("change", () => form.requestSubmit());
  }
}

// --- the banner editor's live preview ----------------------------------------------------

function renderWarnings(box, warnings) {
  box.replaceChildren();
  box.classList.toggle("has-warnings", warnings.length > 0);
  if (warnings.length) {
    const title = document.createElement("p");
    title.className = "wf-contrast-title";
    title.textContent = "Hard to read";
    const list = document.createElement("ul");
    for (const text of warnings) {
      const item = document.createElement("li");
      item.textContent = text;
      list.append(item);
    }
    box.append(title, list);
  } else if (box.closest("[hidden]") === null) {
    const ok = document.createElement("p");
    ok.className = "wf-contrast-ok";
    ok.textContent = "These colours meet WCAG AA contrast.";
    box.append(ok);
  }
}

// Scales the device to the pane: the gallery lays itself out at the device's real width.
function fitDevice(pane) {
  const stage = pane.querySelector("[data-preview-stage]");
  const frame = pane.querySelector("[data-preview-frame]");
  const device = DEVICES[stage.dataset.device] || DEVICES.desktop;
  const shell = pane.querySelector("[data-preview-device-frame]");
  const bezel = stage.dataset.device === "phone" ? 2 * 10 : 0;
  const room = Math.max(120, stage.clientWidth - bezel);
  const wide = window.matchMedia("(min-width: 1101px)").matches;
  // On wide screens the pane is sticky: keep the phone within the window's height.
  const tall = wide ? Math.max(320, window.innerHeight - 300) : device.height;
  const scale = Math.min(1, room / device.width, tall / device.height);
  frame.style.width = `${device.width}px`;
  frame.style.height = `${device.height}px`;
  frame.style.transform = `scale(${scale})`;
  shell.style.width = `${Math.round(device.width * scale) + bezel}px`;
  shell.style.height = `${Math.round(device.height * scale) + bezel}px`;
}

// A card after photo 24 is far below the frame's fold: scroll the gallery (same origin) so
// the banner being edited is in sight, unless it already is.
function reveal(frame) {
  let view;
  try {
    view = frame.contentWindow;
    const box = view.document.querySelector("[data-banner-id]");
    if (!box) return;
    const { top, bottom } = box.getBoundingClientRect();
    if (top >= 0 && bottom <= view.innerHeight) return;
    view.scrollBy(0, top - view.innerHeight * 0.3);
  } catch {
    // Not loaded yet, or not ours: the next answer tries again.
  }
}

function bannerPreview(pane, form) {
  const frame = pane.querySelector("[data-preview-frame]");
  const gallery = pane.querySelector("[data-preview-gallery]");
  const error = pane.querySelector("[data-preview-error]");
  const warnings = document.querySelector("[data-color-warnings]");
  const token = form.querySelector('input[name="csrf_token"]')?.value || "";
  let frameReady = false;
  let lastAnswer = null;
  let asked = 0;
  let timer = 0;

  const send = () => {
    if (frameReady && lastAnswer && frame.contentWindow) {
      frame.contentWindow.postMessage({ type: MESSAGE_TYPE, answer: lastAnswer },
        window.location.origin);
      setTimeout(() => reveal(frame), REVEAL_DELAY_MS);
    }
  };
  const showError = (text) => {
    error.textContent = text;
    error.hidden = !text;
  };

  const pageOf = (id) => `/panel/events/${encodeURIComponent(id)}/banner-preview`;

  async function refresh() {
    const kind = valueOf(form, "[data-kind]");
    if (!BANNER_KINDS.includes(kind) || !gallery) return;
    if (!frame.getAttribute("src")) {
      frameReady = false; // wait for the gallery to say it is ready
      frame.src = pageOf(gallery.value);
    }
    const mine = ++asked;
    const body = new URLSearchParams(new FormData(form));
    body.set("event_id", gallery.value);
    let res;
    let data = null;
    try {
      res = await fetch(pane.dataset.endpoint, {
        method: "POST", body, credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRF-Token": token },
      });
      data = await res.json().catch(() => null);
    } catch {
      if (mine === asked) showError("The preview cannot reach Proofroom right now.");
      return;
    }
    if (mine !== asked) return; // a newer answer is on its way: only the newest applies
    if (res.ok && data && data.error) {
      showError(`Fix: ${data.error}`);  // a form still being filled in: not a failure
    } else if (res.ok && data) {
      lastAnswer = { now: data.now, banners: data.banners || [] };
      showError("");
      if (warnings) renderWarnings(warnings, data.warnings || []);
      send();
    } else if (res.status === 400 && data && data.error) {
      showError(`Fix: ${data.error}`);
    } else {
      showError("The preview is not available right now.");
    }
  }

  const soon = () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, PREVIEW_DELAY_MS);
  };

  // The framed gallery says when its listener is in place (its modules wait for the
  // photo list first, so the frame's load event comes too early): then the answer is sent.
  window.addEventListener("message", (e) => {
    if (e.origin !== window.location.origin || e.source !== frame.contentWindow) return;
    if (e.data?.type !== READY_TYPE) return;
    frameReady = true;
    send();
  });
  gallery.addEventListener("change", () => {
    frameReady = false;
    frame.src = pageOf(gallery.value);
    refresh();
  });
  form.addEventListener("input", soon);
  form.addEventListener("change", soon);

  for (const button of pane.querySelectorAll("[data-preview-device]")) {
    button.addEventListener("click", () => {
      pane.querySelector("[data-preview-stage]").dataset.device = button.dataset.previewDevice;
      for (const other of pane.querySelectorAll("[data-preview-device]")) {
        const on = other === button;
        other.classList.toggle("active", on);
        other.setAttribute("aria-pressed", String(on));
      }
      fitDevice(pane);
    });
  }
  const fit = () => fitDevice(pane);
  new ResizeObserver(fit).observe(pane.querySelector("[data-preview-stage]"));
  window.addEventListener("resize", fit);
  fit();
  // The kind may turn from email into a banner: the pane appears, so fetch then.
  form.querySelector("[data-kind]")?.addEventListener("change", fit);
  refresh();
}

const form = document.querySelector("[data-step-form]");
if (form) stepForm(form, document.querySelector("[data-step-layout]"));
mergeFields();
const picker = document.querySelector("[data-preview-picker]");
if (picker) previewPicker(picker);
const pane = document.querySelector("[data-banner-preview]");
if (form && pane && pane.querySelector("[data-preview-frame]")) bannerPreview(pane, form);
