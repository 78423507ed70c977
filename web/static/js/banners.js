// The client gallery's banners and announcements, as the server says they stand now for
// this visitor. The page renders them from its embedded data (or fetches banners.json when
// the page has none), then re-fetches whenever something may have changed them: a
// `proofroom:banners` event (gallery_live.js sends one per socket "banners" message and on
// every (re)connect; a message may carry the list itself) and `proofroom:cart-changed` (store.js, after a cart change or order).
// Rendering is idempotent: the slots are replaced, the grid's cards removed and re-inserted.
// Countdowns run from the server's clock: offset = server now − Date.now() at fetch time.
// Dismissals and seen announcements live in localStorage, keyed by gallery slug + step id.
// Layouts: strip, card (top or between photos) and full (a band with a photo); a "custom"
// style brings its own colours (only #rrggbb ever reaches the page's CSS). A button to this
// very gallery (?view=shop|favorites, maybe &coupon=) acts in place instead of reloading.
// Preview (the photographer's editor frames the page): nothing is fetched, reported or
// remembered; what shows is what the editor posts (a `proofroom:banner-preview` message).

import { csrfToken, toast } from './common.js';
import { openLinkedView } from './gallery.js';

const data = JSON.parse(document.getElementById('gallery-data').textContent);
const slug = data.slug;
const grid = document.getElementById('grid');
const top = document.getElementById('banner-top');
const bottom = document.getElementById('banner-bottom');
const dialog = document.getElementById('announcement');
const lightbox = document.getElementById('lightbox');
const preview = data.preview === true;

let state = { now: new Date().toISOString(), banners: [] };
let offset = 0;       // server clock − this browser's clock, in ms
let signature = '';   // what is on the page now; the same answer again changes nothing
let fetchSeq = 0;     // only the newest answer is applied
let shownId = null;   // the announcement the dialog holds

const dismissKey = (id) => `proofroom:banner-dismissed:${slug}:${id}`;
const seenKey = (id) => `proofroom:announcement-seen:${slug}:${id}`;

// What the visitor saw, dismissed or clicked is told to the server once per banner, kind
// and page (it keeps the first of each per contact: the workflow page counts them). Only a
// visitor who gave their name has a contact to count it for.
const reported = new Set();
function report(id, kind) {
  if (preview || !data.known || reported.has(`${id}:${kind}`)) return;
  reported.add(`${id}:${kind}`);
  fetch(`/g/${slug}/banners/${id}/${kind}`, {
    method: 'POST', credentials: 'same-origin', keepalive: true, body: '{}',
    headers: { 'Content-Type': 'application/json', 'Accept': 'application/json',
      'X-CSRF-Token': csrfToken() },
  }).catch(() => {});  // a lost count is only a count
}

// localStorage can throw (private mode, quota): then nothing is remembered, nothing breaks.
// A preview keeps its dismissals in memory only, until the editor's next answer.
const previewMemory = new Set();
function remembered(key) {
  if (preview) return previewMemory.has(key);
  try { return localStorage.getItem(key) === '1'; } catch { return false; }
}
function remember(key) {
  if (preview) { previewMemory.add(key); return; }
  try { localStorage.setItem(key, '1'); } catch { /* not kept */ }
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text) node.textContent = text;
  return node;
}

/** Only http(s) links (absolute or relative to this page) become buttons. */
function safeUrl(url) {
  try {
    const u = new URL(url, location.href);
    return ['http:', 'https:'].includes(u.protocol) ? u.href : null;
  } catch { return null; }
}

// ---- countdown ----
/** "2d 04:13:09 left" (days only when there are some), from the server's clock. */
export function countdownText(untilIso, nowMs = Date.now() + offset) {
  const left = Math.max(0, Math.floor((Date.parse(untilIso) - nowMs) / 1000));
  if (!left) return 'Ending now';
  const d = Math.floor(left / 86400);
  const pad = (n) => String(n).padStart(2, '0');
  const hms = `${pad(Math.floor(left / 3600) % 24)}:${pad(Math.floor(left / 60) % 60)}:${pad(left % 60)}`;
  return `${d ? `${d}d ` : ''}${hms} left`;
}

function tick() {
  document.querySelectorAll('[data-countdown-to]').forEach((node) => {
    const text = countdownText(node.dataset.countdownTo);
    if (node.textContent !== text) node.textContent = text;
  });
}
setInterval(tick, 1000);

// ---- styles and colours ----
const STYLES = ['notice', 'urgent', 'celebrate'];
const HEX = /^#[0-9a-f]{6}$/i;
const COLOR_VARS = ['--gb-bg', '--gb-ink', '--gb-head', '--gb-btn', '--gb-btn-hover', '--gb-btn-ink',
  '--gb-line', '--gb-pill', '--gb-pill-ink'];

/** A custom style's colours, or null unless all four are #rrggbb (the server checks too:
 * nothing else may reach a style attribute). */
function customColors(banner) {
  const c = banner.style === 'custom' ? banner.colors : null;
  if (!c || typeof c !== 'object') return null;
  const keys = ['bg', 'ink', 'accent', 'accent_ink'];
  return keys.every((k) => typeof c[k] === 'string' && HEX.test(c[k])) ? c : null;
}

/** The style's class; a custom one also sets its colours on `node` (else clears them). */
function paint(node, banner) {
  COLOR_VARS.forEach((name) => node.style.removeProperty(name));
  const c = customColors(banner);
  if (!c) return `gb-${STYLES.includes(banner.style) ? banner.style : 'notice'}`;
  const vars = {
    '--gb-bg': c.bg, '--gb-ink': c.ink, '--gb-head': c.ink, '--gb-pill-ink': c.ink,
    '--gb-btn': c.accent, '--gb-btn-ink': c.accent_ink,
    '--gb-btn-hover': `color-mix(in srgb, ${c.accent} 82%, ${c.ink})`,
    '--gb-line': `color-mix(in srgb, ${c.ink} 18%, ${c.bg})`,
    '--gb-pill': `color-mix(in srgb, ${c.ink} 10%, ${c.bg})`,
  };
  Object.entries(vars).forEach(([name, value]) => node.style.setProperty(name, value));
  return 'gb-custom';
}

const LAYOUTS = ['strip', 'card', 'full'];
/** Where a banner goes decides what it may look like: the bottom is always a strip. */
function layoutOf(banner) {
  if (banner.position === 'bottom') return 'strip';
  if (LAYOUTS.includes(banner.layout)) return banner.layout;
  return banner.position === 'between' ? 'card' : 'strip';  // before layouts existed
}

// ---- one banner ----
function content(banner, layout) {
  const box = el('div', `gb gb-${layout}`);
  box.classList.add(paint(box, banner));
  box.dataset.bannerId = String(banner.id);
  box.setAttribute('role', 'region');
  box.setAttribute('aria-label', banner.headline || 'Announcement');
  const src = layout === 'full' && typeof banner.image?.src === 'string' && safeUrl(banner.image.src);
  if (src) {
    // The photo's box is sized by the CSS, not by the image: nothing moves when it loads.
    const media = el('div', 'gb-media');
    const img = el('img');
    img.src = src;
    img.alt = typeof banner.image.alt === 'string' ? banner.image.alt : '';
    img.decoding = 'async';
    media.append(img);
    box.append(media);
  } else if (layout === 'full') box.classList.add('gb-no-image');
  const body = el('div', 'gb-body');
  if (banner.headline) body.append(el('strong', 'gb-headline', banner.headline));
  if (banner.text) body.append(el('span', 'gb-text', banner.text));
  const side = el('div', 'gb-side');
  if (banner.countdown_to && !Number.isNaN(Date.parse(banner.countdown_to))) {
    const clock = el('span', 'gb-countdown', countdownText(banner.countdown_to));
    clock.dataset.countdownTo = banner.countdown_to;
    side.append(clock);
  }
  const href = banner.button && safeUrl(banner.button.url);
  if (href && banner.button.label) {
    const cta = el('a', 'btn btn-sm gb-cta', banner.button.label);
    cta.href = href;
    side.append(cta);
  }
  if (layout === 'full') {
    // Text, countdown and button together on the photo's other side.
    const main = el('div', 'gb-main');
    main.append(body);
    if (side.childElementCount) main.append(side);
    box.append(main);
  } else {
    box.append(body);
    if (side.childElementCount) box.append(side);
  }
  if (banner.dismissible) {
    const x = el('button', 'gb-x', '×');
    x.type = 'button';
    x.setAttribute('aria-label', `Dismiss ${banner.headline || 'banner'}`);
    x.dataset.dismiss = String(banner.id);
    box.append(x);
  }
  return box;
}

function visible(banner) {
  return banner.kind !== 'announcement' && !(banner.dismissible && remembered(dismissKey(banner.id)));
}

// ---- the grid's cards ----
/** The tile a card goes after: the end of the row holding the N-th photo shown, so no row
 * is cut short (rows hold different numbers of photos: the grid is justified; fewer photos
 * than N: after the last one, so the message is not lost). */
function rowEnd(tiles, n) {
  let i = Math.min(n, tiles.length) - 1;
  while (i + 1 < tiles.length && tiles[i + 1].offsetTop === tiles[i].offsetTop) i += 1;
  return tiles[i];
}

function placeCards(list) {
  grid.querySelectorAll('.gb-in-grid').forEach((card) => card.remove());
  const tiles = [...grid.querySelectorAll('.tile:not(.hidden)')];
  if (!tiles.length || !list.length) return;
  for (const banner of list) {
    const n = Math.max(1, Number(banner.after_n) || 1);
    const ends = new Set([rowEnd(tiles, n)]);
    for (let i = 2 * n; banner.repeat && i <= tiles.length; i += n) ends.add(rowEnd(tiles, i));
    ends.forEach((tile) => {
      const row = content(banner, layoutOf(banner));
      row.classList.add('gb-in-grid');  // a whole row of the grid, whatever its layout
      tile.after(row);
    });
  }
}

/** The first tile on screen and where it is, to put it back there after a re-render. */
function scrollAnchor() {
  const tile = [...grid.querySelectorAll('.tile')].find((t) => t.getBoundingClientRect().bottom > 0);
  return tile ? { tile, y: tile.getBoundingClientRect().top } : null;
}

function renderBanners(list) {
  const anchor = window.scrollY > 0 ? scrollAnchor() : null;
  const shown = list.filter(visible);
  top.replaceChildren(...shown.filter((b) => b.position === 'top').map((b) => content(b, layoutOf(b))));
  bottom.replaceChildren(...shown.filter((b) => b.position === 'bottom').map((b) => content(b, 'strip')));
  placeCards(shown.filter((b) => b.position === 'between'));
  document.body.classList.toggle('has-bottom-banner', bottom.childElementCount > 0);
  document.body.style.setProperty('--gb-bottom-h', `${bottom.offsetHeight}px`);
  if (anchor) window.scrollBy(0, anchor.tile.getBoundingClientRect().top - anchor.y);
  shown.forEach((b) => report(b.id, 'view'));
}

// ---- announcements ----
function fillDialog(a) {
  shownId = a.id;
  dialog.className = `gb-dialog ${paint(dialog, a)}`;
  document.getElementById('announcement-title').textContent = a.headline || '';
  document.getElementById('announcement-text').textContent = a.text || '';
  const clock = document.getElementById('announcement-countdown');
  clock.classList.toggle('hidden', !a.countdown_to);
  if (a.countdown_to) {
    clock.dataset.countdownTo = a.countdown_to;
    clock.textContent = countdownText(a.countdown_to);
  } else delete clock.dataset.countdownTo;
  const cta = document.getElementById('announcement-cta');
  const href = a.button && safeUrl(a.button.url);
  cta.classList.toggle('hidden', !(href && a.button.label));
  if (href) { cta.href = href; cta.textContent = a.button.label; }
}

function renderAnnouncement(list) {
  const all = list.filter((b) => b.kind === 'announcement');
  if (preview) { previewAnnouncement(all[0]); return; }
  if (dialog.open) {
    const still = all.find((a) => a.id === shownId);
    if (still) fillDialog(still); else dialog.close();  // ended or edited away while open
    return;
  }
  const next = all.find((a) => !remembered(seenKey(a.id)));
  if (!next) return;
  // Not over the lightbox: it waits until the photo viewer closes.
  if (!lightbox.classList.contains('hidden')) { waitForLightbox(); return; }
  fillDialog(next);
  remember(seenKey(next.id));  // once shown, never again: even if the tab is closed on it
  dialog.showModal();
  report(next.id, 'view');
}

/** The editor shows its announcement at every answer, seen or not (re-filled when open). */
function previewAnnouncement(a) {
  if (!a) { if (dialog.open) dialog.close(); return; }
  fillDialog(a);
  if (!dialog.open) dialog.showModal();
}

let waiting = false;
function waitForLightbox() {
  if (waiting) return;
  waiting = true;
  const watch = new MutationObserver(() => {
    if (!lightbox.classList.contains('hidden')) return;
    watch.disconnect(); waiting = false;
    renderAnnouncement(state.banners);
  });
  watch.observe(lightbox, { attributes: true, attributeFilter: ['class'] });
}

// ---- state in, page out ----
/** Put `banners` on the page; unless `force`, the same list twice changes nothing. */
function show(banners, force = false) {
  const sig = JSON.stringify(banners);
  if (force || sig !== signature) { signature = sig; renderBanners(banners); }
  renderAnnouncement(banners);
}

/** Render a banners answer ({now, banners}): its `now` sets the countdowns' clock. */
export function applyBanners(answer, force = false) {
  const banners = Array.isArray(answer?.banners) ? answer.banners : [];
  const now = Date.parse(answer?.now);
  if (!Number.isNaN(now)) offset = now - Date.now();
  state = { now: answer?.now, banners };
  tick();
  show(banners, force);
}

/** Fetch banners.json and render it; overlapping calls apply only the newest answer. */
export async function refreshBanners() {
  if (preview) return;  // the editor says what shows
  const seq = ++fetchSeq;
  let answer;
  try {
    const res = await fetch(`/g/${slug}/banners.json`, { headers: { Accept: 'application/json' },
      credentials: 'same-origin', cache: 'no-store' });
    if (!res.ok) return;
    answer = await res.json();
  } catch { return; }  // offline: keep what is shown; the next reconnect asks again
  if (seq === fetchSeq) applyBanners(answer);
}

// ---- the visitor's clicks ----
/** {view, coupon} when `href` is this very gallery opening its shop or favorites: done in
 * place (a reload would lose the visitor's scroll and cost a page load). Matched on the
 * gallery's own path, so the editor's preview (framed at a panel URL) does it too. */
function inPageView(href) {
  let u;
  try { u = new URL(href, location.href); } catch { return null; }
  if (u.origin !== location.origin || u.pathname.replace(/\/+$/, '') !== `/g/${slug}`) return null;
  const view = u.searchParams.get('view');
  if (view !== 'shop' && view !== 'favorites') return null;
  return { view, coupon: (u.searchParams.get('coupon') || '').trim() };
}

let ctaClosed = null;  // the announcement its own button closed: a click, not a dismissal
function onCta(e, cta) {
  const fromDialog = cta.id === 'announcement-cta';
  const id = fromDialog ? shownId : cta.closest('[data-banner-id]')?.dataset.bannerId;
  if (id != null) report(id, 'click');
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const linked = inPageView(cta.href);
  if (!linked && !preview) return;  // elsewhere: the browser follows the link
  e.preventDefault();
  if (fromDialog) { ctaClosed = shownId; dialog.close(); }
  if (linked) openLinkedView(linked.view, linked.coupon);
  else toast(`Preview — this button opens ${cta.href}`, 'info');  // the editor's frame stays
}

document.addEventListener('click', (e) => {
  const cta = e.target.closest('.gb-cta, #announcement-cta');
  if (cta) { onCta(e, cta); return; }
  const x = e.target.closest('[data-dismiss]');
  if (!x) return;
  remember(dismissKey(x.dataset.dismiss));
  report(x.dataset.dismiss, 'dismiss');
  show(state.banners, true);  // re-rendered without it
});
dialog.addEventListener('close', () => {
  if (shownId == null) return;
  remember(seenKey(shownId));
  if (ctaClosed !== shownId) report(shownId, 'dismiss');
  ctaClosed = null;
});
['announcement-close', 'announcement-ok'].forEach((id) => {
  document.getElementById(id).addEventListener('click', () => dialog.close());
});
dialog.addEventListener('click', (e) => { if (e.target === dialog) dialog.close(); });  // the backdrop

// A socket message that carries the list (the same for every visitor of the gallery) is
// shown as it is: a thousand open pages, no thousand fetches. Otherwise this page asks.
document.addEventListener('proofroom:banners', (e) => {
  if (preview) return;
  if (Array.isArray(e.detail?.banners)) {
    ++fetchSeq;  // an answer still on its way is older than this
    applyBanners(e.detail);
  } else refreshBanners();
});
document.addEventListener('proofroom:cart-changed', refreshBanners);
// The editor's answers, from the page that frames this one (same origin only). Each is
// shown afresh: what was dismissed in the preview comes back with the next edit.
if (preview) {
  window.addEventListener('message', (e) => {
    if (e.origin !== location.origin || e.source !== window.parent) return;
    if (e.data?.type !== 'proofroom:banner-preview') return;
    previewMemory.clear();
    applyBanners(e.data.answer, true);
  });
  window.parent.postMessage({ type: 'proofroom:banner-preview-ready' }, location.origin);
}
// A new width can change the grid's columns: the cards move to the end of their row again.
let resizing = 0;
let width = window.innerWidth;
window.addEventListener('resize', () => {
  if (window.innerWidth === width) return;  // a phone's toolbar sliding: same columns
  width = window.innerWidth;
  clearTimeout(resizing);
  resizing = setTimeout(() => show(state.banners, true), 150);
});

// gallery.js built or hid tiles (a page as the visitor scrolls, the favorites view).
document.addEventListener('proofroom:grid-changed', () => {
  placeCards(state.banners.filter(visible).filter((b) => b.position === 'between'));
});

if (data.banners) applyBanners(data.banners);
else refreshBanners();  // nothing in a preview
