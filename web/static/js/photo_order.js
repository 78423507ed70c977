// The gallery page's photo order: the order picker saves on change, and a photo dragged
// to a new place in the grid (or moved with Alt+←/→ when focused) saves the photographer's
// own order: every id of the grid, in its new order (routes/photo_order.py). A refused save
// puts the grid back as it was and says why.
import { postJSON, toast } from './common.js';

const grid = document.getElementById('image-grid');
const picker = document.getElementById('photo-order');
const url = `/panel/events/${grid?.dataset.eventId}/photo-order.json`;

picker?.addEventListener('change', () => picker.form.requestSubmit());

const tiles = () => [...grid.querySelectorAll('.tile[data-image-id]')];

// Saves go one after another, each with the grid's order when it leaves: two quick moves
// can never reach the server in the wrong order and leave the older one standing.
let saving = Promise.resolve();

function save(before) {
  saving = saving.then(async () => {
    const ids = tiles().map((t) => Number(t.dataset.imageId));
    try {
      await postJSON(url, { ids });
      if (picker) picker.value = 'manual';
      grid.dataset.saved = ids.join(',');
      toast('Order saved: clients see the photos in this order.', 'ok');
    } catch (err) {
      grid.append(...before);  // as it was
      toast(err.message, 'error');
    }
  });
}

let dragged = null;
let before = [];

grid?.addEventListener('dragstart', (e) => {
  dragged = e.target.closest('.tile');
  if (!dragged) return;
  before = tiles();
  dragged.classList.add('dragging');
  e.dataTransfer.effectAllowed = 'move';
  e.dataTransfer.setData('text/plain', dragged.dataset.imageId);
});

grid?.addEventListener('dragover', (e) => {
  const over = e.target.closest('.tile');
  if (!dragged || !over || over === dragged) return;
  e.preventDefault();
  const box = over.getBoundingClientRect();
  const after = e.clientX > box.left + box.width / 2;
  if (after ? over.nextElementSibling !== dragged : over.previousElementSibling !== dragged) {
    over.insertAdjacentElement(after ? 'afterend' : 'beforebegin', dragged);
  }
});

grid?.addEventListener('drop', (e) => { if (dragged) e.preventDefault(); });

grid?.addEventListener('dragend', () => {
  if (!dragged) return;
  dragged.classList.remove('dragging');
  const moved = tiles().some((t, i) => t !== before[i]);
  dragged = null;
  if (moved) save(before);
});

grid?.addEventListener('keydown', (e) => {
  const tile = e.target.closest('.tile');
  if (!tile || !e.altKey || !['ArrowLeft', 'ArrowRight'].includes(e.key)) return;
  e.preventDefault();
  const prior = tiles();
  const next = e.key === 'ArrowLeft' ? tile.previousElementSibling : tile.nextElementSibling;
  if (!next) return;
  next.insertAdjacentElement(e.key === 'ArrowLeft' ? 'beforebegin' : 'afterend', tile);
  tile.focus();
  save(prior);
});

// Tiles that arrive later (uploads) are draggable too.
function arm(tile) { tile.draggable = true; tile.tabIndex = 0; }
if (grid) {
  tiles().forEach(arm);
  new MutationObserver(() => tiles().forEach((t) => { if (!t.draggable) arm(t); }))
    .observe(grid, { childList: true });
}
