// The Comments inbox: live conversation list, the open thread, and the reply box.
// Messages are text only: every body goes through textContent.
import { chatBubble as bubble, postJSON } from './common.js';
import { onActivity } from './live.js';

const list = document.getElementById('conversations');
const messages = document.getElementById('messages');
const form = document.getElementById('reply-form');
const openKey = document.getElementById('chat').dataset.open;

function append(m) {
  if (!messages || messages.querySelector(`[data-id="${m.id}"]`)) return;
  messages.append(bubble(m));
  messages.scrollTop = messages.scrollHeight;
}
if (messages) messages.scrollTop = messages.scrollHeight;

async function refreshList() {
  const res = await fetch('/panel/comments.json', { headers: { Accept: 'application/json' } });
  if (!res.ok) return;
  const { conversations, unread } = await res.json();
  document.getElementById('unread-total').textContent = unread;
  document.getElementById('conversations-empty').classList.toggle('hidden', conversations.length > 0);
  const items = conversations.map((c) => {
    const key = `${c.contact_id}:${c.image_id}`;
    const li = document.createElement('li');
    li.className = `conv${c.unread && key !== openKey ? ' unread' : ''}${key === openKey ? ' open' : ''}`;
    li.dataset.key = key;
    const a = document.createElement('a'); a.href = `/panel/comments/${c.contact_id}/${c.image_id}`;
    const img = document.createElement('img'); img.src = `/panel/media/thumb/${c.image_id}`; img.alt = '';
    const text = document.createElement('span'); text.className = 'conv-text';
    const top = document.createElement('span'); top.className = 'conv-top';
    const name = document.createElement('strong'); name.className = 'conv-name'; name.textContent = c.contact_name || c.contact_email;
    const time = document.createElement('time'); time.textContent = new Date(c.last_at).toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
    top.append(name, time);
    if (c.unverified) {  // messages from a browser that never followed the emailed link
      const tag = document.createElement('span'); tag.className = 'badge badge-draft unverified-tag';
      tag.textContent = 'unverified'; name.after(' ', tag);
      tag.title = 'Messages from a browser that has not followed the link emailed to this address';
    }
    const sub = document.createElement('span'); sub.className = 'conv-sub muted small'; sub.textContent = `${c.filename} · ${c.event_title}`;
    const last = document.createElement('span'); last.className = 'conv-last'; last.textContent = (c.last_author === 'photographer' ? 'You: ' : '') + c.last_body;
    text.append(top, sub, last);
    const badge = document.createElement('span'); badge.className = 'conv-badge'; badge.textContent = c.unread;
    if (!c.unread || key === openKey) badge.classList.add('hidden');
    a.append(img, text, badge); li.append(a);
    return li;
  });
  list.replaceChildren(...items);
}

// Events change the open thread and the list; a burst (a replay after a reconnect, a busy
// client) costs one fetch of each, never one per event. Only bubbles are appended and the
// list is rebuilt: the reply box is never touched, so typing is never interrupted.
function debounced(fn, delay = 500) {
  let timer = null; let running = false; let again = false;
  const run = async () => {
    timer = null;
    if (running) { again = true; return; }
    running = true;
    try { await fn(); } catch (err) { console.warn(err); }
    running = false;
    if (again) { again = false; schedule(); }
  };
  const schedule = () => { clearTimeout(timer); timer = setTimeout(run, delay); };
  return schedule;
}

const refreshThread = debounced(async () => {
  // The open thread: fetch it (this also marks the client's new message read).
  const res = await fetch(`/panel/comments/${messages.dataset.contactId}/${messages.dataset.imageId}/thread.json`, { headers: { Accept: 'application/json' } });
  if (res.ok) (await res.json()).messages.forEach(append);
});
const refreshListSoon = debounced(refreshList);

onActivity((e) => {
  if (e.kind !== 'comment_added' && e.kind !== 'comment_replied') return;
  const p = e.payload || {};
  if (messages && Number(messages.dataset.contactId) === e.contact_id && Number(messages.dataset.imageId) === p.image_id) refreshThread();
  refreshListSoon();
});

if (form) {
  const body = document.getElementById('reply-body');
  const error = document.getElementById('reply-error');
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = body.value.trim();
    if (!text) { error.textContent = 'Write a reply first.'; error.classList.remove('hidden'); return; }
    try {
      const res = await postJSON(`/panel/comments/${messages.dataset.contactId}/${messages.dataset.imageId}/reply`, { body: text });
      append(res.message);
      body.value = ''; error.classList.add('hidden');
    } catch (err) { error.textContent = err.message; error.classList.remove('hidden'); }
  });
  body.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });
  body.focus();
}

// Server-rendered times in the reader's own time zone, like the live ones.
document.querySelectorAll('#messages time[data-at]').forEach((t) => {
  t.textContent = new Date(t.dataset.at).toLocaleString();
});
