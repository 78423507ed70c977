// Store → Orders, live. The list is server-rendered (filter tabs with counts, pagination,
// money in the studio's currency), so an order placed or moved on re-fetches the list's
// region once per burst (live.js regionRefresher) instead of rebuilding rows here: the
// page shows exactly what a reload would. One order's page says when someone else moved it.
import { onActivity, regionRefresher } from './live.js';

const ORDER_KINDS = new Set(['order_placed', 'order_updated']);

function flash(el) {
  el.classList.remove('flash'); void el.offsetWidth; el.classList.add('flash');
}

function rowStates() {
  return new Map([...document.querySelectorAll('#orders-table tr[data-order-id]')]
    .map((tr) => [tr.dataset.orderId, tr.dataset.state]));
}

const list = document.getElementById('orders');
if (list) {
  let before = rowStates();
  const refresh = regionRefresher(['orders'], {
    onSwapped() {  // new rows and rows whose state changed catch the eye
      for (const tr of document.querySelectorAll('#orders-table tr[data-order-id]')) {
        if (before.get(tr.dataset.orderId) !== tr.dataset.state) flash(tr);
      }
      before = rowStates();
    },
  });
  onActivity((e) => { if (ORDER_KINDS.has(e.kind)) refresh(); });
}

const detail = document.getElementById('order-detail');
if (detail) {
  onActivity((e) => {
    const p = e.payload || {};
    if (e.kind !== 'order_updated' || String(p.order_id) !== detail.dataset.orderId) return;
    if (p.state === detail.dataset.state) return;  // this page already shows it
    let notice = document.getElementById('order-changed');
    if (!notice) {
      notice = document.createElement('p');
      notice.id = 'order-changed'; notice.className = 'alert alert-ok'; notice.setAttribute('role', 'status');
      detail.after(notice);
    }
    notice.replaceChildren(`This order was just marked ${p.state.replace('_', ' ')} elsewhere. `);
    const link = document.createElement('a'); link.href = location.pathname; link.textContent = 'Show it';
    notice.append(link);
  });
}
