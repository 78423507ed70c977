// The panel's live connection: one socket per page (live_socket.js). It says the seq the
// page's content reflects, receives the replay then live events, and reconnects (replaying
// again). Every event is applied in place by its kind, identical whether replayed or live:
// the feed, Activity rows and detail counts, the contact timeline, the Contacts list, the
// dashboard's counters, "viewing now", the gallery editor's tiles. A region that is only
// server-rendered (a detail tab) is re-fetched at most once per burst, never reloaded.
import {
  CART_COLS, CLIENT_KINDS, STAGE_LABELS, applyToFeed, applyToRow, applyToSummary, cartFigures, describeWorkflow,
  money, openOrdersDelta,
} from './activity_apply.js';
import { liveSocket } from './live_socket.js';

const root = document.getElementById('live-root');
const status = document.getElementById('live-status');

const VERBS = {
  visit: 'opened',
  favorite_added: 'favorited',
  favorite_removed: 'unfavorited',
  comment_added: 'commented on',
  comment_replied: 'replied on',
  download_single: 'downloaded',
  download_bulk: 'downloaded',
};

const ORDER_STATE_WORDS = { placed: 'placed', paid: 'paid', in_production: 'in production', shipped: 'shipped', delivered: 'delivered', cancelled: 'cancelled' };

// The store's kinds: "Jane updated their cart — 3 items, $45.00", "Jane placed order
// #1001 — $45.00", "Order #1001 marked paid — Jane".
function describeStore(e, who, p) {
  const where = ` in ${e.event_title}`;
  if (e.kind === 'cart_updated') {
    const figures = cartFigures(p.items, p.value, p.currency).replace(' · ', ', ');
    if (!figures) {
      const verb = { ordered: 'checked out', browsing: 'is looking at the store' }[p.stage] || 'emptied their cart';
      return { who, verb, what: '', where, body: '', plain: true };
    }
    const verb = { details: 'is checking out', review: 'is reviewing their order' }[p.stage] || 'updated their cart';
    return { who, verb: `${verb} —`, what: figures, where, body: '', plain: true };
  }
  const order = `order #${p.number}`;
  const orderHref = p.order_id ? `/panel/store/orders/${p.order_id}` : '';
  if (e.kind === 'order_placed') {
    return { who, verb: 'placed', what: `${order} — ${money(p.total, p.currency)}`, whatHref: orderHref, where, body: '', plain: true };
  }
  return { who: `Order #${p.number}`, href: orderHref, verb: `marked ${ORDER_STATE_WORDS[p.state] || p.state}`, what: '', where: who === 'Someone' ? '' : ` — ${who}`, body: '', plain: true };
}

export function describe(e) {
  const who = e.contact_name || e.contact_email || 'Someone';
  const p = e.payload || {};
  if (e.kind === 'cart_updated' || e.kind.startsWith('order_')) return describeStore(e, who, p);
  const workflow = describeWorkflow(e, who);
  if (workflow) return workflow;
  let what = '';
  if (e.kind === 'visit') what = e.event_title;
  else if (e.kind === 'download_bulk') what = `${p.scope === 'set' ? `the set ${p.set_name}` : { favorites: 'their favorites', purchased: 'their purchased files' }[p.scope] || 'the whole gallery'} (${p.files} files)`;
  else what = p.filename || '';
  const where = e.kind === 'visit' ? '' : ` in ${e.event_title}`;
  if (e.kind === 'comment_replied') {
    return { who: 'You', verb: `replied to ${who} on`, what, where, body: p.body || '' };
  }
  return { who, verb: VERBS[e.kind] || e.kind, what, where, body: p.body || '' };
}

function timeAgo(iso) {
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

// Feed items are rendered from data attributes (server) or envelopes (live): one renderer.
export function renderFeedItem(li, e) {
  const d = describe(e);
  li.replaceChildren();
  const line = document.createElement('p');
  const who = document.createElement(d.href || (e.contact_id && e.event_id) ? 'a' : 'strong');
  who.textContent = d.who;
  if (who.tagName === 'A') who.href = d.href || `/panel/activity/${e.event_id}/${e.contact_id}`;
  who.className = 'who';
  line.append(who, ` ${d.verb} `);
  const p = e.payload || {};
  const conversation = e.kind.startsWith('comment') && e.contact_id && p.image_id;
  const what = document.createElement(conversation || d.whatHref ? 'a' : 'span');
  what.className = d.plain ? 'what-text' : 'what'; what.textContent = d.what;  // plain: not a filename
  if (conversation) what.href = `/panel/comments/${e.contact_id}/${p.image_id}`;
  else if (d.whatHref) what.href = d.whatHref;
  line.append(what, d.where);
  const at = document.createElement('time'); at.dateTime = e.at; at.textContent = timeAgo(e.at);
  if (p.unverified) {  // done in a browser that never followed the link emailed to the client
    const tag = document.createElement('span'); tag.className = 'badge badge-draft unverified-tag';
    tag.title = 'Done in a browser that has not followed the link emailed to this address: it may not be your client.';
    tag.textContent = 'unverified browser'; line.append(' ', tag);
  } else if (p.verified) {  // this browser just followed that link
    const tag = document.createElement('span'); tag.className = 'badge badge-released';
    tag.textContent = 'verified this browser'; line.append(' ', tag);
  }
  li.append(line);
  if (d.body) { const q = document.createElement('blockquote'); q.textContent = d.body; li.append(q); }
  li.append(at);
}

function fromDataset(li) {
  return {
    seq: Number(li.dataset.seq || 0), kind: li.dataset.kind, at: li.dataset.at,
    contact_id: Number(li.dataset.contactId) || null, event_id: Number(li.dataset.eventId) || null,
    contact_name: li.dataset.contactName, contact_email: li.dataset.contactEmail || '',
    event_title: li.dataset.eventTitle, payload: JSON.parse(li.dataset.payload || '{}'),
  };
}
document.querySelectorAll('.feed-item').forEach((li) => renderFeedItem(li, fromDataset(li)));

function flash(el) {
  el.classList.remove('flash'); void el.offsetWidth; el.classList.add('flash');
}

const handlers = [];
export function onActivity(fn) { handlers.push(fn); }

// Fetch this page's own URL (debounced: one fetch per burst of events) and swap the marked
// regions ([data-live-region="name"]) with their fresh versions. A burst that continues
// while a fetch is in flight gets exactly one more fetch after it.
export function regionRefresher(names, { delay = 500, onSwapped = () => {} } = {}) {
  let timer = null; let inFlight = false; let again = false;
  async function run() {
    timer = null;
    if (inFlight) { again = true; return; }
    inFlight = true;
    try {
      const res = await fetch(location.href, { headers: { Accept: 'text/html' }, credentials: 'same-origin' });
      if (res.ok) {
        const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
        for (const name of names) {
          const old = document.querySelector(`[data-live-region="${name}"]`);
          const fresh = doc.querySelector(`[data-live-region="${name}"]`);
          if (old && fresh) old.replaceWith(document.importNode(fresh, true));
        }
        onSwapped();
        document.dispatchEvent(new CustomEvent('proofroom:region-swapped', { detail: { names } }));
      }
    } catch (err) { console.warn('live refresh failed', err); }
    inFlight = false;
    if (again) { again = false; schedule(); }
  }
  function schedule() { clearTimeout(timer); timer = setTimeout(run, delay); }
  return schedule;
}

// --- renderers shared by every panel page ---
const FEED_LIMIT = 50;
onActivity((e) => {  // the feed (dashboard, Activity list): activity_apply.applyToFeed
  const feed = document.getElementById('feed');
  if (!feed) return;
  const shown = [...feed.querySelectorAll(':scope > [data-seq]')].map((li) => ({ seq: Number(li.dataset.seq), li }));
  const next = applyToFeed(shown, e, FEED_LIMIT);
  if (next === shown) return;
  const kept = new Set(next);
  for (const item of shown) if (!kept.has(item)) item.li.remove();
  const li = document.createElement('li');
  li.className = `feed-item kind-${e.kind}`; li.dataset.seq = e.seq;
  renderFeedItem(li, e);
  feed.prepend(li); flash(li);
  document.getElementById('feed-empty')?.classList.add('hidden');
});

onActivity((e) => {  // the contact record's timeline
  const timeline = document.getElementById('timeline');
  if (!timeline || Number(timeline.dataset.contactId) !== e.contact_id) return;
  if (timeline.querySelector(`[data-seq="${e.seq}"]`)) return;
  const li = document.createElement('li');
  li.className = `feed-item kind-${e.kind}`; li.dataset.seq = e.seq;
  renderFeedItem(li, e);
  timeline.querySelector('.timeline-empty')?.remove();
  timeline.prepend(li); flash(li);
});

const shortDate = (iso) => new Date(iso).toLocaleDateString(undefined, { month: 'short', day: 'numeric', year: 'numeric' });
// The Activity table's dates as activity.html renders them: one short line ("Dec 1, 14:05";
// another year's "Dec 1, 2025"), the full date and time in a title.
function writeShortWhen(cell, iso) {
  const d = new Date(iso);
  const span = document.createElement('span');
  span.title = d.toLocaleString();
  span.textContent = d.getFullYear() === new Date().getFullYear()
    ? d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
    : shortDate(iso);
  cell.replaceChildren(span);
}
const DATE_COLS = new Set(['created', 'last_saved', 'last_saved_at']);

// A row element's cells as the row state activity_apply.applyToRow takes; the changed
// columns written back (counts as numbers, LAST SAVED as dates).
function applyToRowElement(el, e) {
  const cells = new Map([...el.querySelectorAll('[data-col]')].map((cell) => [cell.dataset.col, cell]));
  const row = { event_id: e.event_id, contact_id: e.contact_id };
  const cart = cells.get('cart');  // SAVED CART: one cell, three columns in its data-*
  cells.delete('cart');
  if (cart) Object.assign(row, readCartCell(cart));
  for (const [col, cell] of cells) row[col] = DATE_COLS.has(col) ? (cell.dataset.at || '') : Number(cell.textContent);
  const next = applyToRow(row, e);
  if (cart && Object.keys(CART_COLS).some((col) => next[col] !== row[col])) {
    renderCartCell(cart, next.cart_items, next.cart_value, next.cart_stage);
  }
  for (const [col, cell] of cells) {
    if (next[col] === row[col]) continue;
    if (col === 'last_saved_at') { cell.dataset.at = next[col]; cell.textContent = new Date(next[col]).toLocaleString(); }
    else if (DATE_COLS.has(col)) { cell.dataset.at = next[col]; writeShortWhen(cell, next[col]); }
    else cell.textContent = next[col];
  }
}

onActivity((e) => {  // Activity table rows, contact record rows, detail tab counts
  if (!e.contact_id || !e.event_id) return;
  const rows = [...document.querySelectorAll(`[data-row="${e.event_id}:${e.contact_id}"]`)];
  const table = document.getElementById('activity-table');
  const first = isFirstPageByRecency(table, e);
  if (!rows.length && e.kind === 'visit') {
    if (table && first) rows.push(insertRow(table, e));
    const mine = document.getElementById('contact-rows');
    if (mine && Number(mine.dataset.contactId) === e.contact_id) rows.push(insertContactRow(mine, e));
    return;
  }
  for (const el of rows) {
    applyToRowElement(el, e); flash(el);
    if (el.tagName === 'TR' && el.closest('#activity-table') && first && CLIENT_KINDS.has(e.kind)) el.parentElement.prepend(el);
  }
});

function readCartCell(cell) {
  return { cart_items: Number(cell.dataset.items || 0), cart_value: Number(cell.dataset.value || 0), cart_stage: cell.dataset.stage || '' };
}

// The SAVED CART cell, as web/templates/panel/activity.html renders it: "3 items · $45.00"
// and the stage pill, linking to the detail's cart tab; "—" when there is nothing to show.
export function renderCartCell(cell, items, value, stage) {
  Object.assign(cell.dataset, { items: items || 0, value: value || 0, stage: stage || '' });
  const figures = cartFigures(items, value, cell.dataset.currency || 'USD');
  cell.replaceChildren();
  cell.classList.toggle('muted', !figures && stage !== 'ordered');
  if (!figures && stage !== 'ordered') { cell.textContent = '—'; return; }
  const link = document.createElement('a'); link.href = cell.dataset.href || '';
  if (figures) { const span = document.createElement('span'); span.className = 'cart-figures'; span.textContent = figures; link.append(span); }
  if (stage) {
    const pill = document.createElement('span'); pill.className = `stage-pill stage-${stage}`;
    pill.textContent = STAGE_LABELS[stage] || stage; link.append(pill);
  }
  cell.append(link);
}

function isFirstPageByRecency(table, e) {
  if (!table) return false;
  const params = new URLSearchParams(location.search);
  const sorted = (params.get('sort') || 'last') === 'last' && (params.get('dir') || 'desc') === 'desc';
  const first = Number(params.get('page') || 1) === 1;
  const ev = table.dataset.filterEvent;
  const q = (table.dataset.filterQ || '').toLowerCase();
  const matches = (!ev || Number(ev) === e.event_id)
    && (!q || (e.contact_name || '').toLowerCase().includes(q) || (e.contact_email || '').toLowerCase().includes(q));
  return sorted && first && matches;
}

function countCell(tr, base, col, tab) {
  const td = document.createElement('td'); td.className = 'num';
  const a = document.createElement('a'); a.dataset.col = col; a.href = `${base}?tab=${tab}`; a.textContent = '0';
  td.append(a); tr.append(td);
}
const COUNT_COLS = [['favorites', 'favorites'], ['comments', 'comments'], ['single_downloads', 'downloads'], ['bulk_downloads', 'downloads']];

// A new (contact, gallery) row from its first visit: everything it needs is in the event.
function insertRow(table, e) {
  const base = `/panel/activity/${e.event_id}/${e.contact_id}`;
  const tr = document.createElement('tr');
  tr.dataset.row = `${e.event_id}:${e.contact_id}`;
  const cell = (content) => { const td = document.createElement('td'); td.append(content); tr.append(td); return td; };
  const link = document.createElement('a'); link.className = 'contact-link'; link.href = `${base}?tab=favorites`;
  const strong = document.createElement('strong'); strong.textContent = e.contact_name || '—';
  const email = document.createElement('span'); email.className = 'muted small'; email.textContent = e.contact_email;
  link.append(strong, document.createElement('br'), email);
  cell(link);
  cell(e.event_title);
  for (const [col, tab] of COUNT_COLS) countCell(tr, base, col, tab);
  const created = cell(''); created.dataset.col = 'created'; created.dataset.at = e.at; writeShortWhen(created, e.at);
  const last = cell(''); last.dataset.col = 'last_saved'; last.dataset.at = e.at; writeShortWhen(last, e.at);
  const cart = cell('—'); cart.className = 'cart-cell muted';
  Object.assign(cart.dataset, { col: 'cart', href: `${base}?tab=cart`, currency: table.dataset.currency || 'USD' });
  renderCartCell(cart, 0, 0, '');
  table.querySelector('.empty-row')?.remove();
  const total = document.getElementById('report-total');
  if (total) total.textContent = Number(total.textContent) + 1;
  table.tBodies[0].prepend(tr); flash(tr);
  return tr;
}

function insertContactRow(tbody, e) {
  const base = `/panel/activity/${e.event_id}/${e.contact_id}`;
  const tr = document.createElement('tr');
  tr.dataset.row = `${e.event_id}:${e.contact_id}`;
  const td = document.createElement('td'); const a = document.createElement('a');
  a.href = `${base}?tab=favorites`; a.textContent = e.event_title; td.append(a); tr.append(td);
  for (const [col, tab] of COUNT_COLS) countCell(tr, base, col, tab);
  const created = document.createElement('td'); created.textContent = shortDate(e.at);
  const last = document.createElement('td'); last.dataset.col = 'last_saved'; last.textContent = shortDate(e.at);
  tr.append(created, last);
  tbody.prepend(tr); flash(tr);
  return tr;
}

onActivity((e) => {  // the Contacts list: a contact it does not show yet appears on top
  const list = document.getElementById('contacts-list');
  if (!list || !e.contact_id || list.querySelector(`[data-contact-id="${e.contact_id}"]`)) return;
  const tr = document.createElement('tr'); tr.dataset.contactId = e.contact_id;
  const link = (text) => { const td = document.createElement('td'); const a = document.createElement('a'); a.href = `/panel/contacts/${e.contact_id}`; a.textContent = text; td.append(a); tr.append(td); };
  link(e.contact_name || '—'); link(e.contact_email);
  const since = document.createElement('td'); since.textContent = shortDate(e.at); tr.append(since);
  list.prepend(tr); flash(tr);
  document.getElementById('contacts-empty')?.remove();
});

const refreshTab = document.querySelector('[data-live-region="detail-tab"]') ? regionRefresher(['detail-tab']) : null;
onActivity((e) => {  // the open detail tab: server-rendered, re-fetched once per burst
  const detail = document.getElementById('detail');
  if (!refreshTab || !detail || Number(detail.dataset.eventId) !== e.event_id || Number(detail.dataset.contactId) !== e.contact_id) return;
  const tab = detail.dataset.tab;
  const relevant = (tab === 'favorites' && e.kind.startsWith('favorite')) || (tab === 'comments' && e.kind.startsWith('comment'))
    || (tab === 'downloads' && e.kind.startsWith('download'))
    || (tab === 'cart' && (e.kind === 'cart_updated' || e.kind.startsWith('order_')));
  if (relevant) refreshTab();
});

onActivity((e) => {  // dashboard "today" counters: activity_apply.applyToSummary
  const cells = [...document.querySelectorAll('[data-today]')];
  if (!cells.length) return;
  const summary = { today: Object.fromEntries(cells.map((el) => [el.dataset.today, Number(el.textContent)])) };
  const next = applyToSummary(summary, e);
  for (const el of cells) {
    const key = el.dataset.today;
    if (next.today[key] !== summary.today[key]) { el.textContent = next.today[key]; flash(el); }
  }
});

let openOrdersTimer = null;
onActivity((e) => {  // dashboard "Open orders": activity_apply.openOrdersDelta, else re-read
  const el = document.querySelector('[data-open-orders]');
  if (!el || (e.kind !== 'order_placed' && e.kind !== 'order_updated')) return;
  const delta = openOrdersDelta(e);
  if (delta) { el.textContent = Math.max(0, Number(el.textContent) + delta); flash(el); return; }
  if (delta === 0) return;
  clearTimeout(openOrdersTimer);  // the event cannot say: summary.json can (once per burst)
  openOrdersTimer = setTimeout(async () => {
    const res = await fetch('/panel/summary.json', { headers: { Accept: 'application/json' } }).catch(() => null);
    if (!res?.ok) return;
    const { open_orders: n } = await res.json();
    if (n !== undefined && String(n) !== el.textContent) { el.textContent = n; flash(el); }
  }, 300);
});

onActivity((e) => {  // the gallery editor: "N comments" under a photo
  const grid = document.getElementById('image-grid');
  const p = e.payload || {};
  if (!grid || e.kind !== 'comment_added' || Number(grid.dataset.eventId) !== e.event_id || !p.image_id) return;
  const actions = grid.querySelector(`[data-image-id="${p.image_id}"] .tile-actions`);
  if (!actions) return;
  let link = actions.querySelector('.comment-count');
  if (!link) {
    link = document.createElement('a'); link.className = 'link-btn comment-count'; link.dataset.count = '0';
    link.href = `/panel/comments?image=${p.image_id}`; link.title = 'Comments on this photo';
    actions.prepend(link);
  }
  const n = Number(link.dataset.count || 0) + 1;
  link.dataset.count = n; link.textContent = `${n} comment${n === 1 ? '' : 's'}`;
});

function imageProcessed(m) {  // the gallery editor: a photo finished processing
  const grid = document.getElementById('image-grid');
  const tile = grid?.querySelector(`[data-image-id="${m.image_id}"]`);
  if (!tile || m.state !== 'ready' || tile.querySelector('img')) return;
  const img = new Image();
  img.src = `/panel/media/thumb/${m.image_id}`; img.alt = tile.querySelector('.filename')?.textContent || ''; img.loading = 'lazy';
  tile.querySelector('.tile-placeholder')?.replaceWith(img);
  tile.classList.remove('state-processing'); tile.classList.add('state-ready');
}

// --- viewing now ---
let viewingTimer = null;
const VIEWING_SHOWN = 8;
async function refreshViewing() {
  const box = document.getElementById('viewing-now');
  if (!box) return;
  const res = await fetch(box.dataset.url, { headers: { Accept: 'application/json' } });
  if (!res.ok) return;
  const { viewers: all, total } = await res.json();
  const viewers = all.slice(0, VIEWING_SHOWN);  // a crowd is a count, not a wall of names
  const list = document.getElementById('viewing-list');
  list.replaceChildren();
  if (!viewers.length) {
    const li = document.createElement('li'); li.className = 'muted small'; li.textContent = 'Nobody right now.'; list.append(li);
  }
  for (const v of viewers) {
    const li = document.createElement('li'); li.className = 'viewer';
    const dot = document.createElement('span'); dot.className = 'pulse';
    const a = document.createElement('a'); a.href = `/panel/activity/${v.event_id}/${v.contact_id}`; a.textContent = v.contact_name;
    const t = document.createElement('span'); t.className = 'muted small'; t.textContent = ` · ${v.event_title}`;
    li.append(dot, a, t); list.append(li);
  }
  if (total > viewers.length) {
    const li = document.createElement('li'); li.className = 'muted small';
    li.textContent = `and ${(total - viewers.length).toLocaleString()} more`; list.append(li);
  }
}
function refreshViewingSoon() {  // presence beats come in bursts: one fetch per burst
  clearTimeout(viewingTimer);
  viewingTimer = setTimeout(() => refreshViewing().catch(() => {}), 300);
}
refreshViewing().catch(() => {});
setInterval(() => refreshViewing().catch(() => {}), 30000);

// --- status and the "out of date" banner ---
function setStatus(state, label) {
  if (!status) return;
  status.className = `live-status ${state}`;
  status.querySelector('.label').textContent = label;
  status.dataset.state = state;
}

function showBanner(text, loggedOut = false) {
  const banner = document.getElementById('live-banner');
  if (!banner) return;
  banner.querySelector('.live-banner-text').textContent = text;
  const link = banner.querySelector('a');
  if (loggedOut) { link.href = '/login'; link.textContent = 'Log in'; }
  banner.classList.remove('hidden');
}

// resync: the page's state is too old to catch up by replay. Reload once; if this page was
// already reloaded for a resync a moment ago, say so instead of looping.
const RESYNC_KEY = `proofroom:resync:${location.pathname}${location.search}`;
function resync(m) {
  let previous = null;
  try { previous = JSON.parse(sessionStorage.getItem(RESYNC_KEY) || 'null'); } catch { /* unreadable */ }
  if (previous && Date.now() - previous.at < 5 * 60 * 1000) {
    showBanner('Out of date.');
    setStatus('off', 'Out of date');
    return;
  }
  try {
    sessionStorage.setItem(RESYNC_KEY, JSON.stringify({ seq: m.seq, at: Date.now() }));
  } catch {  // no storage to remember the reload by: never risk a reload loop
    showBanner('Out of date.');
    setStatus('off', 'Out of date');
    return;
  }
  location.reload();
}

// --- the socket ---
function apply(e) {
  for (const fn of handlers) {
    try { fn(e); } catch (err) { console.error(err); }
  }
  document.dispatchEvent(new CustomEvent('proofroom:activity', { detail: e }));
}

const STATUS_LABELS = { connecting: 'Connecting…', live: 'Live', retrying: 'Reconnecting…' };
export const live = root ? liveSocket({
  url: () => `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws/panel`,
  lastSeq: root.dataset.lastSeq,
  onStatus(state, info) {
    if (state === 'stopped') {
      setStatus('off stopped', info.reason);
      showBanner(info.reason, info.code === 4401 || info.code === 4409);
    } else setStatus(state === 'live' ? 'on' : 'off', STATUS_LABELS[state]);
  },
  onMessage(m) {
    if (m.type === 'activity') {
      root.dataset.lastSeq = m.seq;
      apply(m);
    } else if (m.type === 'resync') resync(m);
    else if (m.type === 'presence') refreshViewingSoon();
    else {
      if (m.type === 'image') imageProcessed(m);
      document.dispatchEvent(new CustomEvent(`proofroom:${m.type}`, { detail: m }));
    }
  },
}) : null;
live?.start();
