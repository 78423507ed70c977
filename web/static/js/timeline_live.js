// A gallery's email timeline, live: when one of its workflow emails is sent or skipped
// (the activity events live.js delivers; see KINDS), the timeline's region is fetched again as a
// fragment (?fragment=1) and swapped in: once per burst, one more fetch if events arrive
// while one is in flight, never a page reload.
import { onActivity } from './live.js';

// Sends and skips; and what a visitor does that plans or cancels their own emails
// (planner.visitor_acted: a first visit, a first favorite, a cart change, an order).
const KINDS = new Set(['workflow_email_sent', 'workflow_skipped', 'visit', 'favorite_added',
  'cart_updated', 'order_placed']);
const first = document.getElementById('timeline-region');

function flash(el) {
  el.classList.remove('flash'); void el.offsetWidth; el.classList.add('flash');
}

if (first) {
  const eventId = Number(first.dataset.eventId);
  const url = first.dataset.fragmentUrl;
  let timer = null; let inFlight = false; let again = false;

  const shownIds = () => new Set([...document.querySelectorAll('#timeline-region [data-action-id]')]
    .map((el) => `${el.dataset.actionId}:${el.dataset.state}`));

  async function refresh() {
    timer = null;
    if (inFlight) { again = true; return; }
    inFlight = true;
    try {
      const res = await fetch(url, { headers: { Accept: 'text/html' }, credentials: 'same-origin' });
      const old = document.getElementById('timeline-region');
      if (res.ok && old) {
        const before = shownIds();
        const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
        const fresh = doc.getElementById('timeline-region');
        if (fresh) {
          old.replaceWith(document.importNode(fresh, true));
          for (const el of document.querySelectorAll('#timeline-region [data-action-id]')) {
            if (!before.has(`${el.dataset.actionId}:${el.dataset.state}`)) flash(el);  // new or moved on
          }
        }
      }
    } catch (err) { console.warn('timeline refresh failed', err); }
    inFlight = false;
    if (again) { again = false; schedule(); }
  }
  function schedule() { clearTimeout(timer); timer = setTimeout(refresh, 400); }

  onActivity((e) => { if (KINDS.has(e.kind) && e.event_id === eventId) schedule(); });
}
