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
export const CLIENT_KINDS = new Set(['visit', 'favorite_added', 'favorite_removed', 'comment_added', 'download_single', 'download_bulk']);

// The dashboard's "today" counters each kind adds to.
export const TODAY_KEYS = { visit: 'visits', favorite_added: 'favorites', comment_added: 'comments', download_single: 'downloads', download_bulk: 'downloads' };

// A (gallery, contact) row as its first event (the visit) creates it.
export function newRow(e) {
  return {
    contact_id: e.contact_id, name: e.contact_name || '', email: e.contact_email || '',
    event_id: e.event_id, event_title: e.event_title || '',
    favorites: 0, comments: 0, single_downloads: 0, bulk_downloads: 0,
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
  const key = TODAY_KEYS[e.kind];
  if (!key || !summary.today || !(key in summary.today) || !isToday(e.at)) return summary;
  return { ...summary, today: { ...summary.today, [key]: Number(summary.today[key]) + 1 } };
}

// The feed (newest first) after `e`: on top unless already there, at most `limit` items.
// Items need only a `seq`. Unchanged: the same array is returned.
export function applyToFeed(items, e, limit = 50) {
  if (items.some((item) => item.seq === e.seq)) return items;
  return [e, ...items].slice(0, limit);
}
