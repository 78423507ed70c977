// The client gallery's banners and announcements, as the server says they stand now for
// this visitor. The page renders them from its embedded data (or fetches banners.json when
// the page has none), then re-fetches whenever something may have changed them: a
// `proofroom:banners` event (gallery_live.js sends one per socket "banners" message and on
// every (re)connect) and `proofroom:cart-changed` (store.js, after a cart change or order).
// Rendering is idempotent: the slots are replaced, the grid's cards removed and re-inserted.
// Countdowns run from the server's clock: offset = server now − Date.now() at fetch time.
// Dismissals and seen announcements live in localStorage, keyed by gallery slug + step id.

import { csrfToken } from './common.js';

const data = JSON.parse(document.getElementById('gallery-data').textContent);
const slug = data.slug;
const grid = document.getElementById('grid');
const top = document.getElementById('banner-top');
const bottom = document.getElementById('banner-bottom');
const dialog = document.getElementById('announcement');
const lightbox = document.getElementById('lightbox');

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
  if (!data.known || reported.has(`${id}:${kind}`)) return;
  reported.add(`${id}:${kind}`);
  fetch(`/g/${slug}/banners/${id}/${kind}`, {
    method: 'POST', credentials: 'same-origin', keepalive: true, body: '{}',
    headers: { 'Content-Type': 'application/json', 'Accept': 'application/json',
      'X-CSRF-Token': csrfToken() },
  }).catch(() => {});  // a lost count is only a count
}

// localStorage can throw (private mode, quota): then nothing is remembered, nothing breaks.
function remembered(key) { try { return localStorage.getItem(key) === '1'; } catch { return false; } }
function remember(key) { try { localStorage.setItem(key, '1'); } catch { /* not kept */ } }

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

// ---- one banner ----
function content(banner, layout) {
  const box = el('div', `gb gb-${layout} gb-${banner.style || 'notice'}`);
  box.dataset.bannerId = String(banner.id);
  box.setAttribute('role', 'region');
  box.setAttribute('aria-label', banner.headline || 'Announcement');
  const body = el('div', 'gb-body');
  if (banner.headline) body.append(el('strong', 'gb-headline', banner.headline));
  if (banner.text) body.append(el('span', 'gb-text', banner.text));
  box.append(body);
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
  if (side.childElementCount) box.append(side);
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
/** How many photos a grid row holds now (the grid is auto-fill: it depends on the width). */
function columns(tiles) {
  const shown = tiles.filter((t) => t.offsetParent !== null);
  if (!shown.length) return 1;
  const y = shown[0].offsetTop;
  const n = shown.findIndex((t) => t.offsetTop !== y);
  return n === -1 ? shown.length : n;
}

/** The tile a card goes after: the end of the row holding the N-th photo, so no row is cut
 * short (fewer photos than N: after the last one, so the message is not lost). */
function rowEnd(tiles, n, cols) {
  return tiles[Math.min(Math.ceil(n / cols) * cols, tiles.length) - 1];
}

function placeCards(list) {
  grid.querySelectorAll('.gb-card').forEach((card) => card.remove());
  const tiles = [...grid.querySelectorAll('.tile')];
  if (!tiles.length || !list.length) return;
  const cols = columns(tiles);
  for (const banner of list) {
    const n = Math.max(1, Number(banner.after_n) || 1);
    const ends = new Set([rowEnd(tiles, n, cols)]);
    for (let i = 2 * n; banner.repeat && i <= tiles.length; i += n) ends.add(rowEnd(tiles, i, cols));
    ends.forEach((tile) => tile.after(content(banner, 'card')));
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
  top.replaceChildren(...shown.filter((b) => b.position === 'top').map((b) => content(b, 'strip')));
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
  dialog.className = `gb-dialog gb-${a.style || 'notice'}`;
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
export function applyBanners(answer) {
  const banners = Array.isArray(answer?.banners) ? answer.banners : [];
  const now = Date.parse(answer?.now);
  if (!Number.isNaN(now)) offset = now - Date.now();
  state = { now: answer?.now, banners };
  tick();
  show(banners);
}

/** Fetch banners.json and render it; overlapping calls apply only the newest answer. */
export async function refreshBanners() {
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
document.addEventListener('click', (e) => {
  const cta = e.target.closest('.gb-cta, #announcement-cta');
  if (cta) {
    const id = cta.id === 'announcement-cta' ? shownId : cta.closest('[data-banner-id]')?.dataset.bannerId;
    if (id != null) report(id, 'click');
  }
  const x = e.target.closest('[data-dismiss]');
  if (!x) return;
  remember(dismissKey(x.dataset.dismiss));
  report(x.dataset.dismiss, 'dismiss');
  show(state.banners, true);  // re-rendered without it
});
dialog.addEventListener('close', () => {
  if (shownId == null) return;
  remember(seenKey(shownId));
  report(shownId, 'dismiss');
});
['announcement-close', 'announcement-ok'].forEach((id) => {
  document.getElementById(id).addEventListener('click', () => dialog.close());
});
dialog.addEventListener('click', (e) => { if (e.target === dialog) dialog.close(); });  // the backdrop

document.addEventListener('proofroom:banners', refreshBanners);
document.addEventListener('proofroom:cart-changed', refreshBanners);
// A new width can change the grid's columns: the cards move to the end of their row again.
let resizing = 0;
let width = window.innerWidth;
window.addEventListener('resize', () => {
  if (window.innerWidth === width) return;  // a phone's toolbar sliding: same columns
  width = window.innerWidth;
  clearTimeout(resizing);
  resizing = setTimeout(() => show(state.banners, true), 150);
});

if (data.banners) applyBanners(data.banners);
else refreshBanners();
