// The client's store inside a gallery: a product picker (for the photo the client clicked
// Buy on, or from the header's Shop with no photo yet), the cart drawer and checkout
// (details → review → place order). The server prices everything: every answer
// is the whole saved cart and the page re-renders from it. The browser only formats the
// server's figures; it never adds money up. Text from the server is set as text, never HTML.
import { csrfToken, toast } from './common.js';
import { currentImageId, images, requireGuest } from './gallery.js';

const data = JSON.parse(document.getElementById('gallery-data').textContent);
const base = `/g/${data.slug}`;
const filenames = new Map(images.map((img) => [img.id, img.filename]));
const KINDS = [['print', 'Prints'], ['digital', 'Digital files'], ['product', 'Products'],
  ['package', 'Packages']];
const SCOPES = { web: 'Web size download', full: 'Full-resolution download',
  gallery: 'Every photo in this gallery' };
// As server/store/pricing.py money() writes them, so the cart and the order page agree.
const SYMBOLS = { USD: '$', EUR: '€', GBP: '£', CAD: 'CA$', AUD: 'A$', NZD: 'NZ$',
  CHF: 'CHF ', SEK: 'SEK ', NOK: 'NOK ', DKK: 'DKK ' };
const MAX_QUANTITY = 99;

const picker = document.getElementById('store-picker');
const drawer = document.getElementById('cart-drawer');

let store = null;   // what this gallery sells (null: no store here)
let cart = null;    // the server's last cart view (null until the visitor passed the gate)
let step = 'cart';  // the drawer's step: cart | details | review
let pick = null;    // the picker's state: { imageId, item, choices, quantity, slots, added }
                    // (imageId null: opened from Shop, a photo is chosen per product)
let busy = false;   // one cart change at a time: a double click sends once

// ---- helpers ----
function money(minor, currency = cart?.currency || store?.currency || 'USD') {
  const value = Math.trunc(Number(minor) || 0);
  const abs = Math.abs(value);
  const whole = Math.floor(abs / 100).toLocaleString('en-US');
  const cents = String(abs % 100).padStart(2, '0');
  return `${value < 0 ? '-' : ''}${SYMBOLS[currency] ?? `${currency} `}${whole}.${cents}`;
}

/** An element with attributes, listeners (onclick…) and text or element children. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

const thumb = (imageId, alt = '') => h('img', {
  src: `${base}/media/thumb/${imageId}`, alt, loading: 'lazy', class: 'store-thumb' });

/** POST JSON to the store; the whole saved cart back, or an Error with the server's
 * message (and the field it is about). One at a time, in order: a stage report sent as
 * the drawer opens lands before the change the client makes next. */
let queue = Promise.resolve();
function send(path, body = {}) {
  const run = queue.then(() => post(path, body), () => post(path, body));
  queue = run.catch(() => {});
  return run;
}

async function post(path, body) {
  const res = await fetch(base + path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json',
      'X-CSRF-Token': csrfToken() },
    body: JSON.stringify(body),
    credentials: 'same-origin',
  });
  let answer = {};
  try { answer = await res.json(); } catch { /* empty body */ }
  if (!res.ok) {
    const err = new Error(answer.error || `Something went wrong (${res.status}). Please try again.`);
    err.status = res.status; err.field = answer.field;
    throw err;
  }
  return answer;
}

function cartChanged() { document.dispatchEvent(new CustomEvent('proofroom:cart-changed')); }

function setCart(view) {
  // An answer that overtook a newer one (a stage report racing an add) changes nothing.
  if (view && cart && view.version < cart.version) return;
  // A new cart version may start or end a banner for this visitor (banners.js re-fetches).
  if (view && cart && view.version !== cart.version) cartChanged();
  cart = view;
  const count = cart?.count || 0;
  const badge = document.getElementById('cart-count');
  badge.textContent = String(count);
  badge.classList.toggle('is-empty', !count);
  document.getElementById('cart-open').setAttribute('aria-label', `Cart, ${count} item${count === 1 ? '' : 's'}`);
  // Re-render what shows the cart; never the details form under the client's typing (a
  // stage report answered late would wipe what they typed).
  if (!drawer.classList.contains('hidden') && step !== 'details') renderDrawer();
}

async function load() {
  let answer;
  try {
    const res = await fetch(`${base}/store.json`, { headers: { Accept: 'application/json' },
      credentials: 'same-origin' });
    if (!res.ok) return;
    answer = await res.json();
  } catch { return; }
  store = answer.store;
  document.body.classList.toggle('has-store', !!store);
  if (store) setCart(answer.cart);
}

/** Tell the server where the client is (the Activity report's SAVED CART stage); skipped
 * when it would change nothing. */
async function tellStage(stage) {
  const count = cart?.count || 0;
  if (stage !== 'browsing' && !count) return;
  const now = cart?.stage;
  if (now === stage || (stage === 'browsing' && now === 'cart' && count)) return;
  try { setCart(await send('/cart/stage', { stage })); } catch { /* the report only */ }
}

// ---- dialogs (class .modal: gallery.js closes them on Escape too) ----
function openDialog(el) {
  el.classList.remove('hidden');
  el.querySelector('[data-store-close]')?.focus({ preventScroll: true });
}
function closeDialog(el) { el.classList.add('hidden'); }
for (const el of [picker, drawer]) {
  el.addEventListener('click', (e) => {
    if (e.target === el || e.target.closest('[data-store-close]')) closeDialog(el);
  });
}

// ---- the picker: a product for a photo (or, from Shop, a product then its photo) ----
function openPicker(imageId) {
  pick = { imageId: imageId ?? null, item: null };
  pickerShows = null;
  renderPicker();
  openDialog(picker);
  tellStage('browsing');
}

function startItem(item) {
  const slots = item.kind === 'package' ? item.slots : (item.needs_image ? 1 : 0);
  const chosen = Array(slots).fill(null);
  if (slots && pick.imageId) chosen[0] = pick.imageId;
  const choices = Object.fromEntries(item.options.map((g) => [g.name, g.choices[0]?.name]));
  Object.assign(pick, { item, choices, quantity: 1, slots: chosen, added: null, error: '',
    browsing: slots > 0 && !chosen[0] });
  renderPicker();
}

function fromPrice(item) {
  const extra = item.options.some((g) => g.choices.some((c) => c.price > 0));
  return `${extra ? 'from ' : ''}${money(item.price, store.currency)}`;
}

function itemNote(item) {
  if (item.kind === 'digital') return SCOPES[item.digital_scope] || 'Digital download';
  if (item.kind === 'package') {
    return item.contents.map((c) => `${c.quantity} × ${c.name}`).join(' · ');
  }
  return '';
}

function renderPicker() {
  const body = document.getElementById('picker-body');
  const foot = document.getElementById('picker-foot');
  // Re-rendered at every choice: keep the client where they were scrolled to.
  const scrolled = [body.scrollTop, body.querySelector('.chooser')?.scrollTop || 0];
  body.replaceChildren(); foot.replaceChildren();
  const name = pick.imageId ? filenames.get(pick.imageId) : '';
  const photo = document.getElementById('picker-photo');
  photo.replaceChildren(...(pick.imageId && !pick.item && !pick.added ? [thumb(pick.imageId, name)] : []));
  photo.classList.toggle('hidden', !photo.childElementCount);
  if (pick.added) return renderAdded(body, foot);
  renderPickerBody(body, foot, name);
  const shown = pick.item ? `${pick.item.id}${choosingPhoto() ? ':photo' : ''}` : 'list';
  if (shown !== pickerShows) { pickerShows = shown; return; }
  body.scrollTop = scrolled[0];
  const chooser = body.querySelector('.chooser');
  if (chooser) chooser.scrollTop = scrolled[1];
}
let pickerShows = null;  // which product (or 'list') the picker rendered last

/** From Shop, a product for one photo asks for that photo before its options. */
const choosingPhoto = () => pick.item && pick.slots.length === 1 && !pick.slots[0];

function renderPickerBody(body, foot, name) {
  const sub = document.getElementById('picker-sub');
  const title = document.getElementById('picker-title');
  if (!pick.item) {
    title.textContent = name ? 'Prints & products' : 'Shop this gallery';
    sub.textContent = name ? `For ${name}` : 'Choose a product; you pick its photo next when it needs one.';
    for (const [kind, label] of KINDS) {
      const items = store.items.filter((i) => i.kind === kind);
      if (!items.length) continue;
      body.append(h('section', { class: 'product-group', dataset: { kind } },
        h('h3', {}, label),
        h('ul', { class: 'product-list' }, items.map((item) => h('li', {},
          h('button', { type: 'button', class: 'product', dataset: { itemId: item.id },
            onclick: () => startItem(item) },
          h('span', { class: 'product-text' },
            h('strong', {}, item.name),
            item.description ? h('span', { class: 'muted small' }, item.description) : null,
            itemNote(item) ? h('span', { class: 'muted small' }, itemNote(item)) : null),
          h('span', { class: 'product-price' }, fromPrice(item)),
          h('span', { class: 'chev', 'aria-hidden': 'true' }, '›')))))));
    }
    foot.append(h('button', { type: 'button', class: 'btn btn-ghost', 'data-store-close': true }, 'Close'),
      h('button', { type: 'button', class: 'btn btn-ghost', onclick: () => { closeDialog(picker); openCart(); } },
        `View cart (${cart?.count || 0})`));
    return;
  }
  const item = pick.item;
  title.textContent = item.name;
  sub.textContent = [money(item.price, store.currency), itemNote(item)].filter(Boolean).join(' · ');
  body.append(h('button', { type: 'button', class: 'link-btn back-link', onclick: () => { pick.item = null; renderPicker(); } },
    '← All products'));
  if (item.description) body.append(h('p', { class: 'muted' }, item.description));
  if (choosingPhoto()) {
    // Step one of two: the photo. Its options and Add follow once one is chosen.
    body.append(photoPicker(item));
    foot.append(h('span', { class: 'muted small picker-step-note', id: 'picker-step' }, 'Step 1 of 2 · choose a photo'),
      h('button', { type: 'button', class: 'btn btn-ghost', onclick: () => { pick.item = null; renderPicker(); } }, 'Back'));
    return;
  }
  if (pick.slots.length) body.append(photoPicker(item));
  else if (item.kind === 'digital') body.append(h('p', { class: 'picker-note' }, 'You get every photo in this gallery as a download once your order is paid.'));
  const form = h('form', { class: 'picker-form', id: 'picker-form', novalidate: true,
    onsubmit: (e) => { e.preventDefault(); addToCart(); } });
  for (const group of item.options) {
    form.append(h('label', {}, group.name,
      h('select', { name: group.name, dataset: { group: group.name },
        onchange: (e) => { pick.choices[group.name] = e.target.value; } },
      group.choices.map((c) => h('option', { value: c.name, selected: pick.choices[group.name] === c.name },
        c.price ? `${c.name} (${c.price > 0 ? '+' : '−'}${money(Math.abs(c.price), store.currency)})` : c.name)))));
  }
  if (item.kind !== 'digital') form.append(h('div', { class: 'field' }, h('span', { class: 'field-label' }, 'Quantity'),
    stepper(pick.quantity, (q) => { pick.quantity = q; renderPicker(); }, { id: 'picker-qty' })));
  form.append(h('p', { class: `form-error${pick.error ? '' : ' hidden'}`, role: 'alert', id: 'picker-error' }, pick.error));
  body.append(form);
  foot.append(h('button', { type: 'button', class: 'btn btn-ghost', onclick: () => { pick.item = null; renderPicker(); } }, 'Back'),
    h('button', { type: 'submit', form: 'picker-form', class: 'btn btn-primary', id: 'picker-add' }, 'Add to cart'));
}

/** Which photos go on the item: one for a print or a file, `slots` for a package; the
 * photo the client clicked Buy on comes first. */
function photoPicker(item) {
  const first = choosingPhoto();  // from Shop: no photo yet, the gallery is the whole step
  const wrap = h('section', { class: `photo-picker${first ? ' is-step' : ''}`, id: first ? 'photo-step' : null });
  const filled = pick.slots.filter(Boolean).length;
  const many = pick.slots.length > 1;
  if (first) {
    wrap.append(h('div', { class: 'photo-picker-head' },
      h('strong', {}, 'Choose a photo'),
      h('span', { class: 'muted small', id: 'slot-count' }, `for your ${item.name}`)));
  } else wrap.append(h('div', { class: 'photo-picker-head' },
    h('strong', {}, many ? `Choose ${pick.slots.length} photos` : 'Photo'),
    h('span', { class: 'muted small', id: 'slot-count' }, many ? `${filled} of ${pick.slots.length} chosen`
      : (filenames.get(pick.slots[0]) || 'None chosen yet'))));
  if (!first) wrap.append(h('ol', { class: 'slots' }, pick.slots.map((id, i) => h('li', {},
    h('button', { type: 'button', class: `slot${id ? ' is-filled' : ''}`, dataset: { slot: i },
      'aria-label': id ? `Photo ${i + 1}: ${filenames.get(id)} (tap to remove)` : `Photo ${i + 1}: empty`,
      onclick: () => {
        if (!id) return;
        if (many) pick.slots[i] = null; else pick.browsing = true;
        pick.error = ''; renderPicker();
      } },
    id ? thumb(id, filenames.get(id)) : h('span', {}, String(i + 1)))))));
  if (!many && !pick.browsing) {
    wrap.append(h('button', { type: 'button', class: 'link-btn', id: 'change-photo',
      onclick: () => { pick.browsing = true; renderPicker(); } }, 'Choose another photo'));
    return wrap;
  }
  if (many) wrap.append(h('p', { class: 'muted small' }, 'Tap photos below to fill the slots; tap a slot to empty it.'));
  if (!images.length) {
    wrap.append(h('p', { class: 'muted small', id: 'chooser-empty' }, 'This gallery has no photos yet.'));
    return wrap;
  }
  wrap.append(h('div', { class: 'chooser', role: 'listbox', 'aria-label': 'Gallery photos' },
    images.map((img) => h('button', { type: 'button', class: `choose${pick.slots.includes(img.id) ? ' is-chosen' : ''}`,
      dataset: { imageId: img.id }, title: img.filename,
      onclick: () => {
        const free = pick.slots.indexOf(null);
        pick.error = '';
        if (!many) { pick.slots[0] = img.id; pick.browsing = false; } else if (free >= 0) pick.slots[free] = img.id;
        else { pick.error = 'All slots are filled: tap a slot above to free it.'; }
        renderPicker();
      } }, thumb(img.id, img.filename)))));
  return wrap;
}

function stepper(value, onChange, { id, min = 1, disabled = false } = {}) {
  return h('div', { class: 'stepper', id },
    h('button', { type: 'button', class: 'step-btn', 'aria-label': 'One fewer', disabled: disabled || value <= min,
      onclick: () => onChange(value - 1) }, '−'),
    h('span', { class: 'step-value', 'aria-live': 'polite' }, String(value)),
    h('button', { type: 'button', class: 'step-btn', 'aria-label': 'One more', disabled: disabled || value >= MAX_QUANTITY,
      onclick: () => onChange(value + 1) }, '+'));
}

async function addToCart() {
  if (busy) return;
  const item = pick.item;
  const body = { item_id: item.id, choices: { ...pick.choices }, quantity: item.kind === 'digital' ? 1 : pick.quantity };
  if (pick.slots.includes(null)) {
    pick.error = pick.slots.length > 1 ? `Choose ${pick.slots.length} photos for ${item.name}.` : 'Choose a photo first.';
    return renderPicker();
  }
  if (item.kind === 'package') body.images = [...pick.slots];
  else if (item.needs_image) body.image_id = pick.slots[0];
  busy = true;
  const button = document.getElementById('picker-add');
  button.disabled = true; button.textContent = 'Adding…';
  try {
    setCart(await send('/cart/items', body));
    pick.added = { item, quantity: body.quantity, choices: body.choices };
    pick.error = '';
  } catch (err) {
    pick.error = err.message;
  } finally {
    busy = false;
  }
  renderPicker();
}

function renderAdded(body, foot) {
  const { item, quantity, choices } = pick.added;
  document.getElementById('picker-title').textContent = 'Added to your cart';
  document.getElementById('picker-sub').textContent = '';
  const options = Object.entries(choices).map(([k, v]) => `${k}: ${v}`).join(' · ');
  body.append(h('div', { class: 'added', role: 'status', id: 'picker-added' },
    h('span', { class: 'added-check', 'aria-hidden': 'true' }, '✓'),
    h('div', {}, h('strong', {}, `${item.name}${quantity > 1 ? ` × ${quantity}` : ''}`),
      options ? h('p', { class: 'muted small' }, options) : null,
      h('p', { class: 'muted small' }, `Your cart now holds ${cart.count} item${cart.count === 1 ? '' : 's'}.`))));
  foot.append(h('button', { type: 'button', class: 'btn btn-ghost', id: 'keep-shopping',
    onclick: () => { pick = { imageId: pick.imageId, item: null }; renderPicker(); } }, 'Keep shopping'),
  h('button', { type: 'button', class: 'btn btn-primary', id: 'view-cart',
    onclick: () => { closeDialog(picker); openCart(); } }, `View cart (${cart.count})`));
}

// ---- the cart drawer: cart → details → review ----
function openCart() {
  step = 'cart';
  renderDrawer();
  openDialog(drawer);
  tellStage('cart');
}

function goTo(next) {
  step = next;
  renderDrawer();
  drawer.querySelector('.store-scroll').scrollTop = 0;
  if (next === 'details') tellStage('details');
  if (next === 'cart') tellStage('cart');
}

function renderDrawer() {
  if (step !== 'cart' && !cart?.lines.length) step = 'cart';
  if (step === 'review' && cart.stage !== 'review') step = 'details';
  const titles = { cart: 'Your cart', details: 'Your details', review: 'Review your order' };
  document.getElementById('cart-title').textContent = titles[step];
  const order = ['cart', 'details', 'review'];
  document.querySelectorAll('#checkout-steps li').forEach((li) => {
    const at = order.indexOf(li.dataset.step);
    li.classList.toggle('is-current', li.dataset.step === step);
    li.classList.toggle('is-done', at < order.indexOf(step));
  });
  document.getElementById('checkout-steps').classList.toggle('hidden', !cart?.lines.length);
  drawer.dataset.step = step;
  const body = document.getElementById('cart-body');
  const foot = document.getElementById('cart-foot');
  const typed = document.getElementById('coupon-input')?.value;  // kept across a re-render
  body.replaceChildren(); foot.replaceChildren();
  if (step === 'details') return renderDetails(body, foot);
  if (step === 'review') return renderReview(body, foot);
  renderCart(body, foot);
  const coupon = document.getElementById('coupon-input');
  if (coupon && typed) coupon.value = typed;
}

function lineThumb(line) {
  const id = line.image_id ?? line.images?.[0];
  if (id) return h('div', { class: 'line-thumb' }, thumb(id, line.filename || filenames.get(id) || ''));
  return h('div', { class: 'line-thumb line-thumb-all', 'aria-hidden': 'true' }, h('span', {}, '▦'));
}

function lineWhat(line) {
  if (line.kind === 'package') return `${line.images.length} photo${line.images.length === 1 ? '' : 's'}`;
  if (line.kind === 'digital' && line.digital_scope === 'gallery') return 'Every photo in this gallery';
  return line.filename || '';
}

function renderLines(editable) {
  return h('ul', { class: 'cart-lines', id: editable ? 'cart-lines' : 'review-lines' }, cart.lines.map((line) => h('li', {
    class: 'cart-line', dataset: { lineId: line.id, kind: line.kind } },
  lineThumb(line),
  h('div', { class: 'line-main' },
    h('strong', { class: 'line-name' }, line.name),
    line.options ? h('span', { class: 'muted small line-options' }, line.options) : null,
    lineWhat(line) ? h('span', { class: 'muted small line-what' }, lineWhat(line)) : null,
    editable ? h('div', { class: 'line-controls' },
      line.kind === 'digital' ? h('span', { class: 'muted small' }, 'Download · 1')
        : stepper(line.quantity, (q) => change(`/cart/items/${line.id}`, { quantity: q }), { disabled: busy }),
      h('button', { type: 'button', class: 'link-btn danger line-remove', disabled: busy,
        onclick: () => change(`/cart/items/${line.id}/delete`) }, 'Remove'))
      : h('span', { class: 'muted small' }, `Qty ${line.quantity} × ${money(line.unit_price)}`)),
  h('span', { class: 'line-total' }, money(line.total)))));
}

function renderTotals() {
  const t = cart.totals;
  const inclusive = t.tax_inclusive;  // prices already hold the tax: it is shown, not added
  const rows = [['Subtotal', money(t.subtotal), 'subtotal']];
  if (t.discount) rows.push([`Discount${cart.coupon ? ` (${cart.coupon})` : ''}`, `−${money(t.discount)}`, 'discount']);
  if (t.physical) rows.push(['Shipping', t.shipping ? money(t.shipping) : 'Free', 'shipping']);
  if (t.tax) rows.push([inclusive ? 'Tax (included)' : 'Tax', money(t.tax), 'tax']);
  rows.push(['Total', money(t.total), 'total']);
  return h('dl', { class: 'cart-totals', id: 'cart-totals' }, rows.map(([label, value, key]) => [
    h('dt', { class: key === 'total' ? 'grand' : '' }, label),
    h('dd', { class: key === 'total' ? 'grand' : '', dataset: { total: key } }, value)]));
}

function renderCoupon() {
  const wrap = h('div', { class: 'coupon', id: 'coupon' });
  if (cart.coupon) {
    wrap.append(h('div', { class: 'coupon-applied' },
      h('span', { class: 'coupon-chip', id: 'coupon-code' }, cart.coupon),
      h('span', { class: 'muted small' }, cart.coupon_error ? 'not applied' : 'applied'),
      h('button', { type: 'button', class: 'link-btn', id: 'coupon-remove', onclick: () => change('/cart/coupon', { code: '' }) }, 'Remove')));
    if (cart.coupon_error) wrap.append(h('p', { class: 'form-error', id: 'coupon-error', role: 'alert' }, cart.coupon_error));
    return wrap;
  }
  const input = h('input', { id: 'coupon-input', name: 'code', maxlength: '40', placeholder: 'Coupon code',
    autocomplete: 'off', 'aria-label': 'Coupon code' });
  const error = h('p', { class: 'form-error hidden', id: 'coupon-error', role: 'alert' });
  wrap.append(h('form', { class: 'coupon-form', novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    const code = input.value.trim();
    if (!code) { error.textContent = 'Enter a coupon code.'; error.classList.remove('hidden'); return; }
    const failed = await change('/cart/coupon', { code }, false);
    if (failed) {
      // The cart re-rendered: show the refusal under the code the client typed.
      document.getElementById('coupon-input').value = code;
      const shown = document.getElementById('coupon-error');
      shown.textContent = failed.message; shown.classList.remove('hidden');
    }
  } }, input, h('button', { type: 'submit', class: 'btn btn-ghost', id: 'coupon-apply' }, 'Apply')), error);
  return wrap;
}

function renderCart(body, foot) {
  if (!cart?.lines.length) {
    body.append(h('div', { class: 'empty-state store-empty', id: 'cart-empty' },
      h('h2', {}, 'Your cart is empty'),
      h('p', { class: 'muted' }, 'Tap Buy on any photo, or browse the shop, to order prints, products or digital files.')));
    foot.append(h('button', { type: 'button', class: 'btn btn-primary btn-block', id: 'cart-shop',
      onclick: () => { closeDialog(drawer); requireGuest(() => openPicker(null)); } }, 'Browse the shop'),
    h('button', { type: 'button', class: 'btn btn-ghost btn-block', 'data-store-close': true }, 'Browse photos'));
    return;
  }
  body.append(renderLines(true), renderCoupon(), renderTotals());
  foot.append(h('button', { type: 'button', class: 'btn btn-primary btn-block', id: 'checkout-start', disabled: busy,
    onclick: () => goTo('details') }, 'Checkout'),
  h('button', { type: 'button', class: 'btn btn-ghost btn-block', 'data-store-close': true }, 'Keep browsing'));
}

/** One cart change; the drawer re-renders from the answer. Returns the error, if any
 * (shown as a toast unless `report` is false). */
async function change(path, body = {}, report = true) {
  if (busy) return null;
  busy = true;
  drawer.setAttribute('aria-busy', 'true');
  let failed = null;
  try {
    setCart(await send(path, body));
  } catch (err) {
    failed = err;
    if (report) toast(err.message, 'error');
  } finally {
    busy = false;
    drawer.removeAttribute('aria-busy');
  }
  renderDrawer();
  return failed;
}

const FIELDS = [
  ['name', 'Full name', { autocomplete: 'name', maxlength: '120', required: true }],
  ['email', 'Email', { type: 'email', autocomplete: 'email', maxlength: '254', required: true }],
  ['phone', 'Phone (optional)', { type: 'tel', autocomplete: 'tel', maxlength: '40' }],
];
const ADDRESS = [
  ['line1', 'Address', { autocomplete: 'address-line1', maxlength: '120', required: true }],
  ['line2', 'Apartment, suite (optional)', { autocomplete: 'address-line2', maxlength: '120' }],
  ['city', 'City', { autocomplete: 'address-level2', maxlength: '120', required: true }],
  ['region', 'State / region', { autocomplete: 'address-level1', maxlength: '120' }],
  ['postal_code', 'Postal code', { autocomplete: 'postal-code', maxlength: '120', required: true }],
  ['country', 'Country', { autocomplete: 'country-name', maxlength: '120', required: true }],
];
// The server names a bad field by its label (lower case); our inputs by their key.
const FIELD_OF = { address: 'line1', 'address line 2': 'line2', 'state / region': 'region',
  'postal code': 'postal_code', 'full name': 'name' };

function renderDetails(body, foot) {
  const saved = cart.details || {};
  // Nothing saved yet: what the client told the gate (on this page, or their name shown).
  const typed = { name: document.getElementById('guest-name')?.textContent.trim()
    || document.getElementById('gate-name').value.trim(),
  email: document.getElementById('gate-email').value.trim() };
  const field = ([key, label, attrs]) => h('label', { class: `field-${key}` }, label,
    h('input', { name: key, id: `details-${key}`, value: saved[key] ?? typed[key] ?? '', ...attrs }));
  const form = h('form', { class: 'details-form', id: 'details-form', novalidate: true, onsubmit: saveDetails },
    h('fieldset', {}, h('legend', {}, 'Contact'), FIELDS.map(field)));
  if (cart.totals.physical) {
    form.append(h('fieldset', { class: 'address' }, h('legend', {}, 'Shipping address'),
      h('div', { class: 'address-grid' }, ADDRESS.map(field))));
  } else {
    form.append(h('p', { class: 'muted small' }, 'Everything in your cart is digital: no shipping address needed.'));
  }
  form.append(h('p', { class: 'form-error hidden', id: 'details-error', role: 'alert' }));
  body.append(form);
  foot.append(h('button', { type: 'submit', form: 'details-form', class: 'btn btn-primary btn-block', id: 'details-continue' }, 'Continue to review'),
    h('button', { type: 'button', class: 'btn btn-ghost btn-block', onclick: () => goTo('cart') }, 'Back to cart'));
  setTimeout(() => [...form.querySelectorAll('input')].find((i) => !i.value)?.focus({ preventScroll: true }), 0);
}

async function saveDetails(e) {
  e.preventDefault();
  if (busy) return;
  const form = e.target;
  const values = Object.fromEntries([...FIELDS, ...ADDRESS].map(([key]) => [key, form.elements[key]?.value.trim() ?? '']));
  const error = document.getElementById('details-error');
  form.querySelectorAll('[aria-invalid]').forEach((el) => el.removeAttribute('aria-invalid'));
  const missing = [...FIELDS, ...(cart.totals.physical ? ADDRESS : [])].find(([key, , attrs]) => attrs.required && !values[key]);
  if (missing) return showFieldError(form, error, missing[0], `${missing[1]} is required.`);
  busy = true;
  const button = document.getElementById('details-continue');
  button.disabled = true; button.textContent = 'Saving…';
  try {
    const view = await send('/cart/details', values);
    busy = false;
    setCart(view);
    goTo('review');
  } catch (err) {
    busy = false;
    button.disabled = false; button.textContent = 'Continue to review';
    showFieldError(form, error, FIELD_OF[err.field] || err.field, err.message);
  }
}

function showFieldError(form, error, key, message) {
  error.textContent = message; error.classList.remove('hidden');
  const input = key && form.elements[key];
  if (input) { input.setAttribute('aria-invalid', 'true'); input.focus(); }
}

function renderReview(body, foot) {
  const d = cart.details || {};
  const who = h('section', { class: 'review-block', id: 'review-details' },
    h('div', { class: 'review-head' }, h('h3', {}, 'Contact'),
      h('button', { type: 'button', class: 'link-btn', onclick: () => goTo('details') }, 'Edit')),
    h('p', {}, d.name, h('br'), d.email, d.phone ? [h('br'), d.phone] : null));
  body.append(renderLines(false), who);
  if (cart.totals.physical) {
    const place = [d.city, d.region, d.postal_code].filter(Boolean).join(', ');
    body.append(h('section', { class: 'review-block', id: 'review-address' },
      h('div', { class: 'review-head' }, h('h3', {}, 'Ships to'),
        h('button', { type: 'button', class: 'link-btn', onclick: () => goTo('details') }, 'Edit')),
      h('p', {}, [d.line1, d.line2, place, d.country].filter(Boolean).flatMap((part, i) => (i ? [h('br'), part] : [part])))));
  }
  body.append(renderTotals(),
    h('p', { class: 'muted small' }, 'Placing the order does not charge you here: your photographer confirms it and arranges payment.'),
    h('p', { class: 'form-error hidden', id: 'checkout-error', role: 'alert' }));
  foot.append(h('button', { type: 'button', class: 'btn btn-primary btn-block', id: 'place-order', onclick: placeOrder },
    `Place order · ${money(cart.totals.total)}`),
  h('button', { type: 'button', class: 'btn btn-ghost btn-block', onclick: () => goTo('details') }, 'Back'));
}

let placing = false;
async function placeOrder(e) {
  if (placing) return;  // a double click sends once
  placing = true;
  const button = e.currentTarget;
  button.disabled = true; button.textContent = 'Placing order…';
  try {
    const answer = await send('/checkout', { version: cart.version });
    cartChanged();
    window.location.assign(answer.order_url);
  } catch (err) {
    placing = false;
    await load();  // what the cart holds now (a changed cart goes back a step)
    if (step !== 'review') { toast(err.message, 'error'); return; }
    const error = document.getElementById('checkout-error');
    error.textContent = err.message; error.classList.remove('hidden');
    const again = document.getElementById('place-order');
    if (again) again.disabled = false;
  }
}

// ---- wiring ----
document.getElementById('grid').addEventListener('click', (e) => {
  const button = e.target.closest('.buy-btn');
  if (!button || !store) return;
  const id = Number(button.closest('.tile').dataset.imageId);
  requireGuest(() => openPicker(id));
});
document.getElementById('lb-buy').addEventListener('click', () => {
  const id = currentImageId();
  if (store && id) requireGuest(() => openPicker(id));
});
document.getElementById('cart-open').addEventListener('click', () => { if (store) openCart(); });
// Shop: every product, no photo chosen yet (each product that needs one asks for it).
document.getElementById('store-open').addEventListener('click', () => {
  if (store) requireGuest(() => openPicker(null));
});
// A client who just told us who they are may already have a cart (another visit).
document.addEventListener('proofroom:gate-passed', () => { load(); });
// "Open the store with a coupon" (a banner's or an email's button; gallery.js passed the
// gate first): the code goes on the cart as if typed; change() toasts a refusal.
document.addEventListener('proofroom:apply-coupon', async (e) => {
  const code = String(e.detail?.code || '').trim();
  if (!store || !code) return;
  const failed = await change('/cart/coupon', { code });
  if (!failed && cart?.coupon) toast(`Coupon ${cart.coupon} applied.`, 'info');
});

load();
