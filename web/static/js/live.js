// The panel's live connection: one WebSocket per page. It sends the last seq it saw,
// receives the replay then live events, and reconnects with backoff (replaying again).
// Pages react through small renderers: the feed, the Activity table, the detail tabs,
// "viewing now" and the dashboard's counters.
const root = document.getElementById('live-root');
const status = document.getElementById('live-status');
let lastSeq = Number(root?.dataset.lastSeq || 0);
let backoff = 500;
let socket = null;
let queue = Promise.resolve();

const VERBS = {
  visit: 'opened',
  favorite_added: 'favorited',
  favorite_removed: 'unfavorited',
  comment_added: 'commented on',
  comment_replied: 'replied on',
  download_single: 'downloaded',
  download_bulk: 'downloaded',
};

export function describe(e) {
  const who = e.contact_name || e.contact_email || 'Someone';
  const p = e.payload || {};
  let what = '';
  if (e.kind === 'visit') what = e.event_title;
  else if (e.kind === 'download_bulk') what = `${p.scope === 'favorites' ? 'their favorites' : 'the whole gallery'} (${p.files} files)`;
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
  const who = document.createElement(e.contact_id && e.event_id ? 'a' : 'strong');
  who.textContent = d.who;
  if (who.tagName === 'A') who.href = `/panel/activity/${e.event_id}/${e.contact_id}`;
  who.className = 'who';
  line.append(who, ` ${d.verb} `);
  const p = e.payload || {};
  const conversation = e.kind.startsWith('comment') && e.contact_id && p.image_id;
  const what = document.createElement(conversation ? 'a' : 'span');
  what.className = 'what'; what.textContent = d.what;
  if (conversation) what.href = `/panel/comments/${e.contact_id}/${p.image_id}`;
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

// --- renderers shared by every panel page ---
onActivity((e) => {  // the feed
  const feed = document.getElementById('feed');
  if (!feed || feed.querySelector(`[data-seq="${e.seq}"]`)) return;
  const li = document.createElement('li');
  li.className = `feed-item kind-${e.kind}`; li.dataset.seq = e.seq;
  renderFeedItem(li, e);
  feed.prepend(li); flash(li);
  while (feed.children.length > 50) feed.lastElementChild.remove();
  document.getElementById('feed-empty')?.classList.add('hidden');
});

async function rowData(e) {
  if (e.counters) return e.counters;
  const res = await fetch(`/panel/activity/${e.event_id}/${e.contact_id}/row.json`, { headers: { Accept: 'application/json' } });
  return res.ok ? res.json() : null;
}

function fillRow(el, c) {
  for (const cell of el.querySelectorAll('[data-col]')) {
    const col = cell.dataset.col;
    if (col === 'downloads') cell.textContent = c.single_downloads + c.bulk_downloads;
    else if (col === 'last_saved' || col === 'created') cell.textContent = new Date(c[col]).toLocaleDateString(undefined, { month: 'short', day: 'numeric', year: 'numeric' });
    else if (col in c) cell.textContent = c[col];
  }
}

onActivity(async (e) => {  // Activity table rows, contact record rows, detail tab counts
  if (!e.contact_id || !e.event_id) return;
  const key = `${e.event_id}:${e.contact_id}`;
  const rows = [...document.querySelectorAll(`[data-row="${key}"]`)];
  const table = document.getElementById('activity-table');
  const c = await rowData(e);
  if (!c) return;
  if (!rows.length && table && isFirstPageByRecency(table, e)) {
    const res = await fetch(`/panel/activity/${e.event_id}/${e.contact_id}/row.json`, { headers: { Accept: 'application/json' } });
    if (res.ok) rows.push(insertRow(table, await res.json()));
  }
  for (const el of rows) {
    fillRow(el, c); flash(el);
    if (el.tagName === 'TR' && el.parentElement && isFirstPageByRecency(table, e)) el.parentElement.prepend(el);
  }
});

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

function insertRow(table, r) {
  const base = `/panel/activity/${r.event_id}/${r.contact_id}`;
  const tr = document.createElement('tr');
  tr.dataset.row = `${r.event_id}:${r.contact_id}`;
  const cell = (content, cls) => { const td = document.createElement('td'); if (cls) td.className = cls; td.append(content); tr.append(td); return td; };
  const link = document.createElement('a'); link.className = 'contact-link'; link.href = `${base}?tab=favorites`;
  const strong = document.createElement('strong'); strong.textContent = r.name || '—';
  const email = document.createElement('span'); email.className = 'muted small'; email.textContent = r.email;
  link.append(strong, document.createElement('br'), email);
  cell(link);
  cell(r.event_title);
  for (const [col, tab] of [['favorites', 'favorites'], ['comments', 'comments'], ['single_downloads', 'downloads'], ['bulk_downloads', 'downloads']]) {
    const a = document.createElement('a'); a.dataset.col = col; a.href = `${base}?tab=${tab}`; a.textContent = r[col];
    cell(a, 'num');
  }
  cell('').dataset.col = 'created';
  cell('').dataset.col = 'last_saved';
  cell('—', 'muted');
  table.querySelector('.empty-row')?.remove();
  const total = document.getElementById('report-total');
  if (total) total.textContent = Number(total.textContent) + 1;
  table.tBodies[0].prepend(tr);
  fillRow(tr, { ...r });
  return tr;
}

onActivity((e) => {  // the open detail tab: offer to show the new item
  const detail = document.getElementById('detail');
  if (!detail || Number(detail.dataset.eventId) !== e.event_id || Number(detail.dataset.contactId) !== e.contact_id) return;
  const tab = detail.dataset.tab;
  const relevant = (tab === 'favorites' && e.kind.startsWith('favorite')) || (tab === 'comments' && e.kind === 'comment_added')
    || (tab === 'downloads' && e.kind.startsWith('download'));
  if (relevant) location.reload();  // the tab is server-rendered; a reload keeps it exact
});

onActivity((e) => {  // dashboard "today" counters
  const key = { visit: 'visits', favorite_added: 'favorites', comment_added: 'comments', download_single: 'downloads', download_bulk: 'downloads' }[e.kind];
  const el = key && document.querySelector(`[data-today="${key}"]`);
  if (el && new Date(e.at).toDateString() === new Date().toDateString()) { el.textContent = Number(el.textContent) + 1; flash(el); }
});

// --- viewing now ---
async function refreshViewing() {
  const box = document.getElementById('viewing-now');
  if (!box) return;
  const res = await fetch(box.dataset.url, { headers: { Accept: 'application/json' } });
  if (!res.ok) return;
  const { viewers } = await res.json();
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
}
refreshViewing();
setInterval(refreshViewing, 30000);

// --- the socket ---
function setStatus(state, label) {
  if (!status) return;
  status.className = `live-status ${state}`;
  status.querySelector('.label').textContent = label;
}

function connect() {
  const proto = location.protocol === 'https:' ? 'wss' : 'ws';
  socket = new WebSocket(`${proto}://${location.host}/ws/panel`);
  socket.onopen = () => { socket.send(JSON.stringify({ last_seq: lastSeq })); backoff = 500; setStatus('on', 'Live'); };
  socket.onmessage = (msg) => {
    const e = JSON.parse(msg.data);
    if (e.type === 'activity') {
      if (e.seq <= lastSeq) return;
      lastSeq = e.seq;
      root.dataset.lastSeq = lastSeq;
      // One event at a time: a handler that fetches must finish before the next event
      // looks at the page (else two quick events could both insert the same new row).
      queue = queue.then(async () => {
        for (const fn of handlers) {
          try { await fn(e); } catch (err) { console.error(err); }
        }
      });
      document.dispatchEvent(new CustomEvent('proofroom:activity', { detail: e }));
    } else if (e.type === 'resync') {
      location.reload();
    } else if (e.type === 'presence') {
      refreshViewing();
    } else {
      document.dispatchEvent(new CustomEvent(`proofroom:${e.type}`, { detail: e }));
    }
  };
  socket.onclose = (ev) => {
    setStatus('off', 'Reconnecting…');
    if (ev.code === 4401 || ev.code === 4409) { location.href = '/login'; return; }
    if (ev.code === 4429) {  // too many live connections (tabs) for this login: wait a minute
      setStatus('off', 'Too many open tabs; retrying in a minute…');
      setTimeout(connect, 60000);
      return;
    }
    setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 10000);
  };
}
if (root) connect();
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && socket && socket.readyState > 1) connect();
});
