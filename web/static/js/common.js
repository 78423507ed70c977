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
