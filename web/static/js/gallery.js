// The client gallery: favorites, the email gate, the lightbox (keyboard too), comments and
// downloads. Everything a client does goes through postJSON; the gate opens first if needed.
import { chatBubble, postJSON, toast } from './common.js';

const data = JSON.parse(document.getElementById('gallery-data').textContent);
const base = `/g/${data.slug}`;
const grid = document.getElementById('grid');
const tiles = () => [...grid.querySelectorAll('.tile')];
let known = data.known;
let pinRequired = data.pinRequired;
let view = 'all';
let current = -1;

// ---- modals: the email gate and the download PIN ----
function openModal(id, onDone) {
  const modal = document.getElementById(id);
  modal.classList.remove('hidden');
  modal.querySelector('input')?.focus();
  modal._done = onDone;
}
function closeModal(modal) { modal.classList.add('hidden'); modal._done = null; }
document.querySelectorAll('.modal [data-close]').forEach((b) => b.addEventListener('click', () => closeModal(b.closest('.modal'))));

function showError(id, message) {
  const el = document.getElementById(id);
  el.textContent = message; el.classList.toggle('hidden', !message);
}

// Also store.js's way in: Buy asks who the client is first, exactly like a favorite.
// In the photographer's banner preview nobody is asked: the action is only described.
export function requireGuest(action) {
  if (data.preview) return toast('Preview — clients can do this in their gallery', 'info');
  if (known) return action();
  openModal('gate', action);
}

document.getElementById('gate-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const name = document.getElementById('gate-name').value.trim();
  const email = document.getElementById('gate-email').value.trim();
  if (!name) return showError('gate-error', 'Please tell us your name.');
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) return showError('gate-error', 'Please enter a valid email address.');
  let passed;
  try {
    passed = await postJSON(`${base}/gate`, { name, email });
  } catch (err) { return showError('gate-error', err.message); }
  known = true;
  showDeviceNote(passed.verify_sent_to);
  document.dispatchEvent(new CustomEvent('proofroom:gate-passed', { detail: passed }));  // its seq starts the live line
  showError('gate-error', '');
  const modal = document.getElementById('gate');
  const next = modal._done; closeModal(modal);
  if (next) next();
});

// ---- "we've emailed you a link": a new browser sees only what it does itself until the
// client follows the link sent to their address. Same note for known and new addresses.
const note = document.getElementById('device-note');
const noteKey = `proofroom:device-note:${data.slug}`;
function showDeviceNote(sentTo) {
  if (!note || !sentTo) return;
  document.getElementById('device-note-email').textContent = sentTo;
  note.classList.remove('hidden');
  try { sessionStorage.removeItem(noteKey); } catch { /* storage off */ }
}
function dismissedNote() {
  try { return sessionStorage.getItem(noteKey) === '1'; } catch { return false; }
}
if (note && dismissedNote()) note.classList.add('hidden');
document.getElementById('device-note-close')?.addEventListener('click', () => {
  note.classList.add('hidden');
  try { sessionStorage.setItem(noteKey, '1'); } catch { /* storage off */ }
});

function requirePin(action) {
  if (!pinRequired) return action();
  openModal('pin-modal', action);
}

document.getElementById('pin-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const pin = document.getElementById('pin-input').value.trim();
  if (!/^\d{4}$/.test(pin)) return showError('pin-error', 'The PIN is 4 digits.');
  try { await postJSON(`${base}/pin`, { pin }); } catch (err) { return showError('pin-error', err.message); }
  pinRequired = false;
  const modal = document.getElementById('pin-modal');
  const next = modal._done; closeModal(modal);
  if (next) next();
});

// ---- favorites ----
function setFavUI(imageId, on) {
  const tile = grid.querySelector(`[data-image-id="${imageId}"]`);
  tile?.classList.toggle('is-fav', on);
  tile?.querySelector('.fav-btn')?.setAttribute('aria-pressed', String(on));
  if (current >= 0 && data.images[current].id === imageId) {
    document.getElementById('lb-fav').setAttribute('aria-pressed', String(on));
  }
  document.getElementById('fav-count').textContent = grid.querySelectorAll('.tile.is-fav').length;
  applyView();
}

async function toggleFavorite(imageId) {
  const tile = grid.querySelector(`[data-image-id="${imageId}"]`);
  const on = !tile.classList.contains('is-fav');
  setFavUI(imageId, on);
  try {
    await postJSON(`${base}/images/${imageId}/favorite`, { on });
  } catch (err) {
    setFavUI(imageId, !on);
    toast(err.message, 'error');
  }
}

grid.addEventListener('click', (e) => {
  const tile = e.target.closest('.tile');
  if (!tile) return;
  const imageId = Number(tile.dataset.imageId);
  if (e.target.closest('.fav-btn')) return requireGuest(() => toggleFavorite(imageId));
  if (e.target.closest('.tile-open') || e.target.closest('.comment-badge')) openLightbox(Number(tile.dataset.index), !!e.target.closest('.comment-badge'));
});

function applyView() {
  let shown = 0;
  for (const tile of tiles()) {
    const visible = view === 'all' || tile.classList.contains('is-fav');
    tile.classList.toggle('hidden', !visible);
    if (visible) shown += 1;
  }
  document.getElementById('favorites-empty').classList.toggle('hidden', !(view === 'favorites' && shown === 0));
}

document.querySelectorAll('.segmented .seg').forEach((btn) => btn.addEventListener('click', () => {
  document.querySelectorAll('.segmented .seg').forEach((b) => b.classList.toggle('active', b === btn));
  view = btn.dataset.view;
  applyView();
}));

// ---- downloads (gate, then PIN, then the browser downloads the file) ----
document.addEventListener('click', (e) => {
  const link = e.target.closest('[data-gated="download"]');
  if (!link) return;
  e.preventDefault();
  requireGuest(() => requirePin(() => { window.location.href = link.href; }));
});

// ---- lightbox ----
const lb = document.getElementById('lightbox');
const lbImg = document.getElementById('lb-img');

/** The id of the photo the lightbox shows (null when it is closed), for store.js. */
export function currentImageId() { return current >= 0 ? data.images[current].id : null; }

function visibleIndexes() {
  return tiles().filter((t) => !t.classList.contains('hidden')).map((t) => Number(t.dataset.index));
}

function show(index) {
  current = index;
  const image = data.images[index];
  lbImg.src = `${base}/media/preview/${image.id}`;
  lbImg.alt = image.filename;
  document.getElementById('lb-name').textContent = image.filename;
  const tile = grid.querySelector(`[data-image-id="${image.id}"]`);
  document.getElementById('lb-fav').setAttribute('aria-pressed', String(tile.classList.contains('is-fav')));
  const dl = document.getElementById('lb-download');
  if (dl) dl.href = `${base}/images/${image.id}/download`;
  if (!document.getElementById('lb-comments').classList.contains('hidden')) loadThread();
  const next = data.images[index + 1];
  if (next) new Image().src = `${base}/media/preview/${next.id}`;
}

function openLightbox(index, withComments = false) {
  lb.classList.remove('hidden');
  document.body.classList.add('no-scroll');
  document.getElementById('lb-comments').classList.toggle('hidden', !withComments);
  show(index);
}

function closeLightbox() {
  lb.classList.add('hidden');
  document.body.classList.remove('no-scroll');
  current = -1;
}

function step(delta) {
  const order = visibleIndexes();
  if (!order.length) return;
  const pos = order.indexOf(current);
  show(order[(pos + delta + order.length) % order.length]);
}

document.getElementById('lb-close').addEventListener('click', closeLightbox);
document.getElementById('lb-prev').addEventListener('click', () => step(-1));
document.getElementById('lb-next').addEventListener('click', () => step(1));
document.getElementById('lb-fav').addEventListener('click', () => {
  const id = data.images[current].id;
  requireGuest(() => toggleFavorite(id));
});
document.getElementById('lb-comments-toggle').addEventListener('click', () => {
  const panel = document.getElementById('lb-comments');
  panel.classList.toggle('hidden');
  if (!panel.classList.contains('hidden')) loadThread();
});

document.addEventListener('keydown', (e) => {
  const modalOpen = [...document.querySelectorAll('.modal')].some((m) => !m.classList.contains('hidden'));
  if (modalOpen) { if (e.key === 'Escape') document.querySelectorAll('.modal').forEach(closeModal); return; }
  if (lb.classList.contains('hidden') || e.target.matches('textarea, input')) return;
  if (e.key === 'ArrowRight') step(1);
  else if (e.key === 'ArrowLeft') step(-1);
  else if (e.key === 'Escape') closeLightbox();
  else if (e.key.toLowerCase() === 'f') document.getElementById('lb-fav').click();
  else if (e.key.toLowerCase() === 'c') document.getElementById('lb-comments-toggle').click();
});

// ---- comments (plain text only: textContent, never innerHTML) ----
function renderThread(comments) {
  const list = document.getElementById('thread');
  list.replaceChildren();
  if (!comments.length) {
    const li = document.createElement('li'); li.className = 'thread-empty muted small';
    li.textContent = 'No comments yet. Ask for a retouch, a crop, or just say you love it.';
    list.append(li);
  }
  for (const c of comments) list.append(chatBubble(c));
  list.scrollTop = list.scrollHeight;
}

async function loadThread() {
  if (current < 0) return;
  const id = data.images[current].id;
  grid.querySelector(`[data-image-id="${id}"]`)?.classList.remove('has-unread');
  const res = await fetch(`${base}/images/${id}/comments`, { headers: { Accept: 'application/json' } });
  if (res.ok && current >= 0 && data.images[current].id === id) renderThread((await res.json()).comments);
}

document.getElementById('comment-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const textarea = document.getElementById('comment-body');
  const body = textarea.value.trim();
  if (!body) return showError('comment-error', 'Write something first.');
  requireGuest(async () => {
    const id = data.images[current].id;
    try {
      const res = await postJSON(`${base}/images/${id}/comments`, { body });
      textarea.value = ''; showError('comment-error', '');
      renderThread(res.comments);
      res.comments.forEach((c) => counted.add(c.id));
      const badge = grid.querySelector(`[data-image-id="${id}"] .comment-badge`);
      badge.classList.remove('hidden'); badge.querySelector('span').textContent = res.comments.length;
    } catch (err) { showError('comment-error', err.message); }
  });
});
document.getElementById('comment-body').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); document.getElementById('comment-form').requestSubmit(); }
});

// ---- live replies (gallery_live.js pushes them) ----
const counted = new Set();  // comment ids already in a badge count (own posts included)
document.addEventListener('proofroom:comment', (ev) => {
  const c = ev.detail;
  const tile = grid.querySelector(`[data-image-id="${c.image_id}"]`);
  if (!tile) return;
  const threadOpen = !lb.classList.contains('hidden') && current >= 0
    && data.images[current].id === c.image_id
    && !document.getElementById('lb-comments').classList.contains('hidden');
  if (threadOpen) loadThread();
  else if (c.author === 'photographer') {
    tile.classList.add('has-unread');
    toast('Your photographer replied to your comment.', 'info');
  }
  if (counted.has(c.comment_id)) return;
  counted.add(c.comment_id);
  const badge = tile.querySelector('.comment-badge');
  badge.classList.remove('hidden');
  const count = badge.querySelector('span');
  count.textContent = Number(count.textContent) + 1;
});

// The live line fell too far behind (gallery_live.js): refetch the open thread.
document.addEventListener('proofroom:resync', () => {
  const threadOpen = !lb.classList.contains('hidden') && current >= 0
    && !document.getElementById('lb-comments').classList.contains('hidden');
  if (threadOpen) loadThread();
});

// A link from an email (?image=<id>&comments=1) opens that photo with its conversation.
{
  const params = new URLSearchParams(location.search);
  const wanted = Number(params.get('image'));
  const index = data.images.findIndex((img) => img.id === wanted);
  if (index >= 0) openLightbox(index, params.get('comments') === '1');
  openLinkedView(params.get('view'), params.get('coupon') || '');
}

// A workflow email's buttons: ?view=favorites shows the favorites filter; ?view=shop opens
// the store (the cart drawer when the client already has a cart, else Shop) once store.js
// has learnt this gallery sells something (it sets body.has-store). Given up after a while.
// With a coupon (&coupon=CODE) the visitor passes the gate first, then store.js puts the
// code on their cart (`proofroom:apply-coupon`). Also banners.js's way for its buttons.
export function openLinkedView(linked, coupon = '') {
  if (linked === 'favorites') {
    document.querySelector('.segmented .seg[data-view="favorites"]')?.click();
    return;
  }
  if (linked !== 'shop') return;
  const open = () => {
    const hasCart = Number(document.getElementById('cart-count')?.textContent || 0) > 0;
    if (!coupon) { document.getElementById(hasCart ? 'cart-open' : 'store-open')?.click(); return; }
    requireGuest(() => {
      document.getElementById(hasCart ? 'cart-open' : 'store-open')?.click();
      document.dispatchEvent(new CustomEvent('proofroom:apply-coupon', { detail: { code: coupon } }));
    });
  };
  if (document.body.classList.contains('has-store')) { open(); return; }
  const watch = new MutationObserver(() => {
    if (!document.body.classList.contains('has-store')) return;
    watch.disconnect(); clearTimeout(giveUp); open();
  });
  const giveUp = setTimeout(() => watch.disconnect(), 15000);
  watch.observe(document.body, { attributes: true, attributeFilter: ['class'] });
}
