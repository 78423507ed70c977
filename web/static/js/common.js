// Shared by every page: the CSRF token and a JSON POST helper that reports clear errors.
export const csrfToken = () => document.querySelector('meta[name="csrf-token"]').content;

export async function postJSON(url, data = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Accept': 'application/json', 'X-CSRF-Token': csrfToken() },
    body: JSON.stringify(data),
    credentials: 'same-origin',
  });
  let body = {};
  try { body = await res.json(); } catch { /* empty body */ }
  if (!res.ok) {
    const err = new Error(body.error || `Request failed (${res.status})`);
    err.status = res.status;
    throw err;
  }
  return body;
}

export function toast(message, kind = 'info') {
  const el = document.getElementById('toast');
  if (!el) return;
  el.textContent = message;
  el.className = `toast toast-${kind}`;
  clearTimeout(el._timer);
  el._timer = setTimeout(() => el.classList.add('hidden'), 3500);
}

document.addEventListener('click', (e) => {
  const btn = e.target.closest('[data-copy]');
  if (!btn) return;
  navigator.clipboard?.writeText(btn.dataset.copy).then(() => {
    const old = btn.textContent; btn.textContent = 'Copied'; setTimeout(() => (btn.textContent = old), 1500);
  });
});

// Behaviour the templates ask for through data-* attributes. There are no inline handlers
// (the Content-Security-Policy's script-src 'self' would block them): a text that comes
// from a data attribute is only ever data, never code, whatever quotes a client typed.
//   <form data-confirm="Delete IMG_1.jpg?">  (or on the submit button) asks before sending
//   <select data-autosubmit>                 submits its form on change
//   <button data-print>                      opens the print dialog
//   <input data-select-on-click>             selects its text on click
//   <a href="/" data-history-back>           goes back when there is somewhere to go back to
document.addEventListener('submit', (e) => {
  const form = e.target;
  const message = e.submitter?.dataset?.confirm ?? form.dataset?.confirm;
  if (message === undefined) return;
  if (!window.confirm(message)) { e.preventDefault(); e.stopImmediatePropagation(); }
}, true);  // capture: a dismissed confirm stops the submit before any other listener sees it

document.addEventListener('change', (e) => {
  const field = e.target.closest?.('[data-autosubmit]');
  if (!field?.form) return;
  if (field.form.requestSubmit) field.form.requestSubmit(); else field.form.submit();
});

document.addEventListener('click', (e) => {
  if (e.target.closest?.('[data-print]')) { e.preventDefault(); window.print(); return; }
  if (e.target.closest?.('[data-history-back]') && history.length > 1) {
    e.preventDefault(); history.back(); return;  // else the link's own href (home) applies
  }
  const input = e.target.closest?.('[data-select-on-click]');
  if (input) input.select();
});

// One chat message (a comment or a reply), as both the panel inbox and the gallery's
// lightbox thread show it. Plain text only: the body never becomes HTML.
export function chatBubble(m) {
  const li = document.createElement('li');
  li.className = `bubble bubble-${m.author}`;
  li.dataset.id = m.id;
  const body = document.createElement('p'); body.textContent = m.body;
  const at = document.createElement('time'); at.textContent = new Date(m.at).toLocaleString();
  li.append(body, at);
  return li;
}
