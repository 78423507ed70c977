// The client gallery: the grid (in pages), favorites, the email gate, the lightbox
// (keyboard too), comments and downloads. Everything a client does goes through postJSON;
// the gate opens first if needed.
// The page's HTML holds only the first page of tiles; every photo (id, name, size, set)
// is in the gallery's photos.json, fetched as the page loads, and the visitor's marks on
// them (favorites, comment counts, unread replies) are in #gallery-data.
// The rest of the tiles are built from it as the visitor scrolls (a sentinel under the
// grid), so the favorites view, the lightbox and live replies work on photos not yet built:
// the marks live in `favs`/`threadCounts`/`unread`, tiles only show them.
import { chatBubble, postJSON, toast } from './common.js';
import { chooseSize, withSize } from './download_sizes.js';

const data = JSON.parse(document.getElementById('gallery-data').textContent);
const base = `/g/${data.slug}`;
const grid = document.getElementById('grid');
const marks = data.state || { favorites: [], threads: {}, unread: [], page: 30 };

async function loadPhotos() {
  try {
    const res = await fetch(`${base}/photos.json`, { headers: { Accept: 'application/json' } });
    if (res.ok) return await res.json();
  } catch (err) { /* offline: the page's own tiles are all there is */ }
  return [...grid.querySelectorAll('.tile[data-image-id]')].map((tile) => {
    const img = tile.querySelector('img');
    return { id: Number(tile.dataset.imageId), filename: img.alt, s: marks.set || null,
      w: Number(img.getAttribute('width')), h: Number(img.getAttribute('height')) };
  });
}
export const images = await loadPhotos();
const PAGE = marks.page || 30;
const indexOf = new Map(images.map((img, i) => [img.id, i]));
const favs = new Set(marks.favorites.filter((id) => indexOf.has(id)));
const threadCounts = new Map(Object.entries(marks.threads).map(([id, n]) => [Number(id), n]));
const unread = new Set(marks.unread);
// Sets: the set shown (null: every photo). A set only filters: its photos keep the
// gallery's order, and the grid, favorites and lightbox all work within it.
let setId = marks.set || null;
const inSet = (index) => setId === null || images[index].s === setId;
const built = [];  // index -> its tile, once built
// The page's tiles are the first page of the set it opened on: placed by their photo.
grid.querySelectorAll('.tile').forEach((t) => {
  const index = indexOf.get(Number(t.dataset.imageId));
  t.dataset.index = index; built[index] = t;
});
let frontier = built.length;  // the "all" view shows photos [0, frontier)
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
  // What the server now shows this visitor (a client's favorites on a second device), before
  // the action that opened the gate: it acts on what the visitor will see.
  await refreshMarks();
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

// ---- the grid: tiles built from the page's data, a page at a time ----
const tileTemplate = document.getElementById('tile-template');
const tileOf = (imageId) => built[indexOf.get(imageId)];

/** Show a photo's marks (favorite, comment count, unread reply) on its tile. */
function markTile(tile, imageId) {
  const on = favs.has(imageId);
  tile.classList.toggle('is-fav', on);
  tile.classList.toggle('has-unread', unread.has(imageId));
  tile.querySelector('.fav-btn').setAttribute('aria-pressed', String(on));
  const count = threadCounts.get(imageId) || 0;
  const badge = tile.querySelector('.comment-badge');
  badge.classList.toggle('hidden', !count);
  badge.querySelector('span').textContent = count;
}

/** The same tile the server renders (gallery.html's macro): the box keeps the photo's
 * aspect ratio before it loads; srcset offers the thumb (400 px long edge) and the preview
 * (2048 px), `sizes` the tile's width at the row heights of gallery.css. */
function buildTile(index) {
  const image = images[index];
  const w = image.w || 3; const h = image.h || 2; const long = Math.max(w, h);
  const tile = tileTemplate.content.firstElementChild.cloneNode(true);
  tile.dataset.imageId = image.id;
  tile.dataset.index = index;
  tile.style.setProperty('--ar', (w / h).toFixed(4));
  const img = tile.querySelector('img');
  const media = `${base}/media/`;
  img.width = w; img.height = h; img.alt = image.filename;
  img.sizes = `(max-width: 600px) ${Math.round((w / h) * 160)}px, ${Math.round((w / h) * 300)}px`;
  const { thumb, preview } = marks.sizes || { thumb: 400, preview: 2048 };  // long edges
  img.srcset = `${media}thumb/${image.id} ${Math.round((w * thumb) / long)}w, ${media}preview/${image.id} ${Math.round((w * preview) / long)}w`;
  img.src = `${media}thumb/${image.id}`;
  tile.querySelector('.tile-open').setAttribute('aria-label', `Open ${image.filename}`);
  tile.querySelector('.buy-btn').setAttribute('aria-label', `Buy ${image.filename}`);
  markTile(tile, image.id);
  return tile;
}

/** The tile of photo `index`, built now if need be and put in its place in the order. */
function ensureTile(index) {
  if (built[index]) return built[index];
  const tile = buildTile(index);
  let after = index + 1;
  while (after < images.length && !built[after]) after += 1;
  if (after < images.length) built[after].before(tile); else grid.append(tile);
  built[index] = tile;
  return tile;
}

// banners.js puts its cards back at the end of their rows when tiles come or go.
const gridChanged = () => document.dispatchEvent(new CustomEvent('proofroom:grid-changed'));

/** The "all" view shows photos [0, n): build the missing ones. */
function showThrough(n) {
  const end = Math.min(n, images.length);
  if (end <= frontier) return;
  for (let i = frontier; i < end; i += 1) if (inSet(i)) ensureTile(i);
  frontier = end;
  applyView(true);
}

// The next page is built before the visitor reaches the end of the grid.
const more = document.getElementById('grid-more');
const pager = 'IntersectionObserver' in window && more ? new IntersectionObserver((entries) => {
  if (!entries.some((e) => e.isIntersecting) || view !== 'all' || frontier >= images.length) return;
  showThrough(pageEnd());
  pager.unobserve(more); pager.observe(more);  // still in sight: the observer asks again
}, { rootMargin: '0px 0px 1200px 0px' }) : null;
if (pager) pager.observe(more); else showThrough(images.length);

// ---- favorites ----
function setFavUI(imageId, on) {
  if (on) favs.add(imageId); else favs.delete(imageId);
  const tile = tileOf(imageId);
  if (tile) markTile(tile, imageId);
  if (current >= 0 && images[current].id === imageId) {
    document.getElementById('lb-fav').setAttribute('aria-pressed', String(on));
  }
  showCounts();
  applyView();
}

/** Ask the server for this visitor's marks (after the gate) and show them. */
async function refreshMarks() {
  let fresh;
  try {
    const res = await fetch(`${base}/marks.json`, { headers: { Accept: 'application/json' }, cache: 'no-store' });
    if (!res.ok) return;
    fresh = await res.json();
  } catch { return; }  // offline: the next page load shows them
  favs.clear();
  fresh.favorites.filter((id) => indexOf.has(id)).forEach((id) => favs.add(id));
  threadCounts.clear();
  Object.entries(fresh.threads).forEach(([id, n]) => threadCounts.set(Number(id), n));
  unread.clear();
  fresh.unread.forEach((id) => unread.add(id));
  built.forEach((tile, index) => markTile(tile, images[index].id));
  if (current >= 0) document.getElementById('lb-fav').setAttribute('aria-pressed', String(favs.has(images[current].id)));
  showCounts();
  applyView();
}

/** Set a favorite as the heart the visitor clicked showed it (`on`: it was empty), not
 * as a toggle: the gate may have brought in this very favorite meanwhile. */
async function toggleFavorite(imageId, on = !favs.has(imageId)) {
  if (favs.has(imageId) === on) return;
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
  if (e.target.closest('.fav-btn')) {
    const on = !favs.has(imageId);
    return requireGuest(() => toggleFavorite(imageId, on));
  }
  if (e.target.closest('.tile-open') || e.target.closest('.comment-badge')) openLightbox(Number(tile.dataset.index), !!e.target.closest('.comment-badge'));
});

/** Which tiles show: the built pages ("all"), or every favorite, built if need be. */
function applyView(changed = false) {
  if (view === 'favorites') favs.forEach((id) => { if (inSet(indexOf.get(id))) ensureTile(indexOf.get(id)); });
  built.forEach((tile, index) => {
    const visible = inSet(index) && (view === 'all' ? index < frontier : favs.has(images[index].id));
    if (tile.classList.contains('hidden') !== visible) return;
    tile.classList.toggle('hidden', !visible);
    changed = true;
  });
  document.getElementById('favorites-empty').classList.toggle('hidden', !(view === 'favorites' && favCount() === 0));
  if (changed) gridChanged();
}

document.querySelectorAll('.segmented .seg').forEach((btn) => btn.addEventListener('click', () => {
  document.querySelectorAll('.segmented .seg').forEach((b) => b.classList.toggle('active', b === btn));
  view = btn.dataset.view;
  applyView();
  if (view === 'all' && pager) { pager.unobserve(more); pager.observe(more); }
}));

// ---- sets: a tab shows one set; the address says which (?set=<id>), so a reload or a
// shared link opens it (the server renders that set's first page) ----

/** Where the next page of the shown set ends: PAGE more of its photos past the frontier. */
function pageEnd() {
  if (setId === null) return frontier + PAGE;
  let end = frontier;
  for (let n = 0; end < images.length && n < PAGE; end += 1) if (inSet(end)) n += 1;
  return end;
}

function favCount() {
  if (setId === null) return favs.size;
  return [...favs].filter((id) => inSet(indexOf.get(id))).length;
}

/** The toolbar's counts are the shown set's. */
function showCounts() {
  document.getElementById('fav-count').textContent = favCount();
  const all = document.getElementById('all-count');
  if (all) all.textContent = setId === null ? images.length : images.filter((img) => img.s === setId).length;
}

function chooseSet(id) {
  setId = id;
  document.querySelectorAll('#set-nav .set-link').forEach((tab) => {
    const on = (Number(tab.dataset.set) || null) === id;
    tab.classList.toggle('active', on);
    tab.setAttribute('aria-selected', String(on));
  });
  const url = new URL(location.href);
  if (id === null) url.searchParams.delete('set'); else url.searchParams.set('set', id);
  history.replaceState(history.state, '', url);
  const zip = document.getElementById('download-set');
  if (zip) {
    zip.hidden = id === null;
    zip.href = `${base}/download.zip?scope=set&set=${id ?? ''}`;
  }
  // The set's first page; tiles built for another set stay, hidden, past the frontier.
  frontier = 0;
  showThrough(pageEnd());
  showCounts();
  applyView(true);
  if (pager) { pager.unobserve(more); pager.observe(more); }
  // Scrolled down the previous set: back to the top of this one.
  const gap = grid.getBoundingClientRect().top - document.getElementById('photos').getBoundingClientRect().bottom;
  if (gap < 0) window.scrollBy(0, gap - 12);
}

document.getElementById('set-nav')?.addEventListener('click', (e) => {
  const tab = e.target.closest('.set-link');
  if (tab) chooseSet(Number(tab.dataset.set) || null);
});
showCounts();
{  // A phone's tab strip scrolls sideways: the set the page opened on is in sight.
  const nav = document.getElementById('set-nav');
  const on = nav?.querySelector('.set-link.active');
  const [tab, strip] = [on?.getBoundingClientRect(), nav?.getBoundingClientRect()];
  if (tab && tab.right > strip.right) nav.scrollLeft += tab.left - strip.left - 16;
}

// ---- downloads (gate, then PIN, then the browser downloads the file) ----
document.addEventListener('click', (e) => {
  const link = e.target.closest('[data-gated="download"]');
  if (!link) return;
  e.preventDefault();
  requireGuest(() => requirePin(() => {
    // No favorites: say so here, not with the server's refusal page.
    if (link.id === 'download-favs' && favs.size === 0) {
      toast('No favorites yet: tap the heart on a photo first.', 'info');
      return;
    }
    // More than one size offered: the client picks one first (download_sizes.js).
    const href = link.href;
    const photo = link.id === 'lb-download' && current >= 0 ? images[current] : null;
    chooseSize(link, data.downloadSizes || [], photo).then((size) => {
      if (size !== null) window.location.href = withSize(href, size);
    });
  }));
});

// ---- lightbox ----
const lb = document.getElementById('lightbox');
const lbImg = document.getElementById('lb-img');

/** The id of the photo the lightbox shows (null when it is closed), for store.js. */
export function currentImageId() { return current >= 0 ? images[current].id : null; }

/** The photos the lightbox steps through: all of them, or the favorites (built or not). */
function visibleIndexes() {
  return images.map((img, i) => (inSet(i) && (view === 'all' || favs.has(img.id)) ? i : -1))
    .filter((i) => i >= 0);
}

function show(index) {
  current = index;
  const image = images[index];
  // Its tile is built too (with the page it is on): closing the lightbox finds it there.
  if (view === 'all') showThrough(Math.ceil((index + 1) / PAGE) * PAGE);
  lbImg.src = `${base}/media/preview/${image.id}`;
  lbImg.alt = image.filename;
  lbImg.classList.remove('lb-in'); void lbImg.offsetWidth; lbImg.classList.add('lb-in');  // fade again
  document.getElementById('lb-name').textContent = image.filename;
  document.getElementById('lb-fav').setAttribute('aria-pressed', String(favs.has(image.id)));
  const dl = document.getElementById('lb-download');
  if (dl) dl.href = `${base}/images/${image.id}/download`;
  if (!document.getElementById('lb-comments').classList.contains('hidden')) loadThread();
  const next = images[index + 1];
  if (next) new Image().src = `${base}/media/preview/${next.id}`;
}

function openLightbox(index, withComments = false) {
  lb.classList.remove('hidden');
  document.body.classList.add('no-scroll');
  document.getElementById('lb-comments').classList.toggle('hidden', !withComments);
  show(index);
}

function closeLightbox() {
  stopSlideshow();
  lb.classList.add('hidden');
  document.body.classList.remove('no-scroll');
  const tile = current >= 0 ? built[current] : null;
  current = -1;
  tile?.scrollIntoView({ block: 'nearest' });  // where the visitor stepped to
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
  const id = images[current].id;
  const on = !favs.has(id);
  requireGuest(() => toggleFavorite(id, on));
});
document.getElementById('lb-comments-toggle').addEventListener('click', () => {
  const panel = document.getElementById('lb-comments');
  panel.classList.toggle('hidden');
  if (!panel.classList.contains('hidden')) loadThread();
});

document.addEventListener('keydown', (e) => {
  const modalOpen = [...document.querySelectorAll('.modal')].some((m) => !m.classList.contains('hidden'));
  if (modalOpen) { if (e.key === 'Escape') document.querySelectorAll('.modal').forEach(closeModal); return; }
  if (lb.classList.contains('hidden')) return;
  if (e.key === 'Escape') { closeLightbox(); return; }  // from the comment box too
  if (e.target.matches('textarea, input')) return;
  if (e.key === ' ' && !e.target.closest('button, a')) {  // a focused button's own Space stays
    e.preventDefault(); document.getElementById('lb-play').click(); return;
  }
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
  const id = images[current].id;
  unread.delete(id);
  tileOf(id)?.classList.remove('has-unread');
  const res = await fetch(`${base}/images/${id}/comments`, { headers: { Accept: 'application/json' } });
  if (res.ok && current >= 0 && images[current].id === id) renderThread((await res.json()).comments);
}

document.getElementById('comment-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const textarea = document.getElementById('comment-body');
  const body = textarea.value.trim();
  if (!body) return showError('comment-error', 'Write something first.');
  requireGuest(async () => {
    const id = images[current].id;
    try {
      const res = await postJSON(`${base}/images/${id}/comments`, { body });
      textarea.value = ''; showError('comment-error', '');
      renderThread(res.comments);
      res.comments.forEach((c) => counted.add(c.id));
      threadCounts.set(id, res.comments.length);
      if (tileOf(id)) markTile(tileOf(id), id);
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
  if (!indexOf.has(c.image_id)) return;
  const threadOpen = !lb.classList.contains('hidden') && current >= 0
    && images[current].id === c.image_id
    && !document.getElementById('lb-comments').classList.contains('hidden');
  if (threadOpen) loadThread();
  else if (c.author === 'photographer') {
    unread.add(c.image_id);
    toast('Your photographer replied to your comment.', 'info');
  }
  if (!counted.has(c.comment_id)) {
    counted.add(c.comment_id);
    threadCounts.set(c.image_id, (threadCounts.get(c.image_id) || 0) + 1);
  }
  const tile = tileOf(c.image_id);
  if (tile) markTile(tile, c.image_id);
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
  const index = indexOf.has(wanted) ? indexOf.get(wanted) : -1;
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

// ---- slideshow: the lightbox moves on every SLIDE_MS while playing (play/pause, Space).
// The photo cross-fades unless the visitor asked for less motion (gallery.css); typing a
// comment or opening the comments pauses it.
const SLIDE_MS = 4000;
const play = document.getElementById('lb-play');
let slideTimer = 0;
function stopSlideshow() {
  clearInterval(slideTimer); slideTimer = 0;
  play.setAttribute('aria-pressed', 'false');
  play.setAttribute('aria-label', 'Play slideshow');
}
play.addEventListener('click', () => {
  if (slideTimer) { stopSlideshow(); return; }
  slideTimer = setInterval(() => step(1), SLIDE_MS);
  play.setAttribute('aria-pressed', 'true');
  play.setAttribute('aria-label', 'Pause slideshow');
});
document.getElementById('comment-body').addEventListener('focus', () => { if (slideTimer) stopSlideshow(); });
document.getElementById('lb-comments-toggle').addEventListener('click', () => { if (slideTimer) stopSlideshow(); });

// ---- share: the phone's share sheet where there is one, else the link is copied.
document.getElementById('share')?.addEventListener('click', async () => {
  const url = `${location.origin}${base}`;
  const coarse = window.matchMedia('(pointer: coarse)').matches;
  if (navigator.share && coarse) {
    try { await navigator.share({ title: document.title, url }); return; } catch (err) {
      if (err.name === 'AbortError') return;  // the visitor closed the sheet
    }
  }
  try {
    await navigator.clipboard.writeText(url);
    toast('Gallery link copied', 'info');
  } catch {
    toast(`Copy this link: ${url}`, 'info');  // no clipboard (an http page, a refusal)
  }
});
