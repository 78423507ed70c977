// What one activity event does to the state a panel page shows, as pure functions: no DOM,
// no clock unless given one, the old state is never modified. live.js applies them to the
// page's elements; tests/test_verify_action.py runs these same functions in a browser on the
// JSON states (row.json, summary.json, feed.json) and compares with a fresh load.

// Counters by kind: what one event adds to a (gallery, contact) report row. `downloads` is
// the detail page's single + bulk count.
export const ROW_DELTAS = {
  favorite_added: { favorites: 1 },
  favorite_removed: { favorites: -1 },
  comment_added: { comments: 1 },
  download_single: { single_downloads: 1, downloads: 1 },
  download_bulk: { bulk_downloads: 1, downloads: 1 },
};

// The client's own kinds: they move the row's LAST SAVED (a photographer's reply does not).
export const CLIENT_KINDS = new Set(['visit', 'favorite_added', 'favorite_removed', 'comment_added', 'download_single', 'download_bulk',
  'cart_updated', 'order_placed']);

// The row's SAVED CART columns: what a cart_updated event's payload says them to be.
export const CART_COLS = { cart_items: 'items', cart_value: 'value', cart_stage: 'stage' };

// SAVED CART's stage as the report spells it.
export const STAGE_LABELS = { browsing: 'Browsing', cart: 'In cart', details: 'Details', review: 'Review', ordered: 'Ordered' };

// Orders waiting on the photographer (server/store/orders.py open_count).
export const OPEN_STATES = new Set(['placed', 'paid', 'in_production']);

// Money as server/store/pricing.py money() spells it: 4500, 'USD' -> '$45.00'.
const CURRENCIES = { USD: '$', EUR: '€', GBP: '£', CAD: 'CA$', AUD: 'A$', NZD: 'NZ$', CHF: 'CHF ', SEK: 'SEK ', NOK: 'NOK ', DKK: 'DKK ' };
export function money(minor, currency = 'USD') {
  const n = Math.trunc(Number(minor) || 0);
  const abs = Math.abs(n);
  const whole = Math.floor(abs / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const symbol = CURRENCIES[currency] ?? `${currency} `;
  return `${n < 0 ? '-' : ''}${symbol}${whole}.${String(abs % 100).padStart(2, '0')}`;
}

// The SAVED CART cell's text: '3 items · $45.00' (empty: no cart to show).
export function cartFigures(items, value, currency) {
  const n = Number(items) || 0;
  return n ? `${n} item${n === 1 ? '' : 's'} · ${money(value, currency)}` : '';
}

// The dashboard's "today" counters each kind adds to.
export const TODAY_KEYS = { visit: 'visits', favorite_added: 'favorites', comment_added: 'comments', download_single: 'downloads', download_bulk: 'downloads' };

// A (gallery, contact) row as its first event (the visit) creates it.
export function newRow(e) {
  return {
    contact_id: e.contact_id, name: e.contact_name || '', email: e.contact_email || '',
    event_id: e.event_id, event_title: e.event_title || '',
    favorites: 0, comments: 0, single_downloads: 0, bulk_downloads: 0,
    cart_items: 0, cart_value: 0, cart_stage: '',
    created: e.at, last_saved: e.at,
  };
}

// The row for (e.event_id, e.contact_id) after `e`; `row` null: not shown yet (only a visit
// creates it). Only the columns the row has are touched, so a page's partial row works.
export function applyToRow(row, e) {
  if (!e.contact_id || !e.event_id) return row;
  if (row && (row.event_id ?? e.event_id) !== e.event_id) return row;
  if (row && (row.contact_id ?? e.contact_id) !== e.contact_id) return row;
  if (!row) return e.kind === 'visit' ? newRow(e) : row;
  const next = { ...row };
  for (const [col, d] of Object.entries(ROW_DELTAS[e.kind] || {})) {
    if (col in next) next[col] = Math.max(0, Number(next[col]) + d);
  }
  if (e.kind === 'cart_updated') {  // SAVED CART is what the event says, not a delta
    const p = e.payload || {};
    for (const [col, key] of Object.entries(CART_COLS)) if (col in next && key in p) next[col] = p[key];
  }
  if (CLIENT_KINDS.has(e.kind)) {
    for (const col of ['last_saved', 'last_saved_at']) if (col in next) next[col] = e.at;
  }
  return next;
}

export function sameLocalDay(iso, now = new Date()) {
  return new Date(iso).toDateString() === now.toDateString();
}

// The dashboard summary after `e`: today's counter of its kind, if it happened today.
export function applyToSummary(summary, e, isToday = sameLocalDay) {
  let next = summary;
  const key = TODAY_KEYS[e.kind];
  if (key && summary.today && key in summary.today && isToday(e.at)) {
    next = { ...next, today: { ...summary.today, [key]: Number(summary.today[key]) + 1 } };
  }
  const delta = openOrdersDelta(e);
  if ('open_orders' in summary && delta) next = { ...next, open_orders: Math.max(0, Number(summary.open_orders) + delta) };
  return next;
}

// What an event does to the number of open orders: +1, -1, 0, or null when the event
// alone cannot say (an order marked delivered was open unless it had shipped; the payload's
// `from`, when present, settles it). null: the page re-reads summary.json.
export function openOrdersDelta(e) {
  if (e.kind === 'order_placed') return 1;
  if (e.kind !== 'order_updated') return 0;
  const p = e.payload || {};
  if (OPEN_STATES.has(p.state)) return 0;  // placed -> paid -> in production: still open
  if (p.from) return OPEN_STATES.has(p.from) ? -1 : 0;
  if (p.state === 'shipped' || p.state === 'cancelled') return -1;  // only ever from open states
  return null;
}

// The feed (newest first) after `e`: on top unless already there, at most `limit` items.
// Items need only a `seq`. Unchanged: the same array is returned.
export function applyToFeed(items, e, limit = 50) {
  if (items.some((item) => item.seq === e.seq)) return items;
  return [e, ...items].slice(0, limit);
}

// The Gallery Workflows' kinds (photographer kinds: not in CLIENT_KINDS, TODAY_KEYS or
// ROW_DELTAS, so they move no LAST SAVED and no counter), in words for the feed and the
// contact record: "Reminder sent to Anna · “3 days left to order”", "Not sent to Anna:
// They unsubscribed". Returns null for any other kind.
export const WORKFLOW_KINDS = new Set(['workflow_email_sent', 'workflow_skipped']);
export function describeWorkflow(e, who) {
  if (!WORKFLOW_KINDS.has(e.kind)) return null;
  const p = e.payload || {};
  const step = p.step || 'Workflow email';
  // A fan-out row's skip has no contact (the step was skipped for the whole audience).
  const to = e.contact_id || e.contact_name || e.contact_email ? who : 'its recipients';
  const href = e.event_id ? `/panel/events/${e.event_id}/timeline` : '';
  const where = e.event_title ? ` · ${e.event_title}` : '';
  if (e.kind === 'workflow_email_sent') {
    const subject = p.subject ? `“${p.subject}”` : '';
    return { who: step, href, verb: `sent to ${to}${subject ? ' ·' : ''}`, what: subject, where, body: '', plain: true };
  }
  const reason = String(p.reason || '').replace(/\.$/, '');
  return { who: 'Not sent', href, verb: `to ${to}${reason ? ':' : ''}`, what: reason, where: ` (${step}${where})`, body: '', plain: true };
}
