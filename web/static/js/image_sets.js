// The gallery page's Sets bar (routes/image_sets.py): tabs filter the photo grid by set;
// "+ New set", rename, delete and ←/→ edit the sets; photos ticked in the grid (Shift for
// a range) move to a set with "Move to set ▾". Every change saves as JSON and updates the
// page in place. A tile's set is its data-set-id ("" = no set): counts come from the tiles.
// Photos uploaded while a set is shown are moved into that set as they appear.
import { postJSON, toast } from './common.js';

const bar = document.getElementById('sets-bar');
const grid = document.getElementById('image-grid');
if (bar && grid) init();

function init() {
  const eventId = bar.dataset.eventId;
  const maxSets = Number(bar.dataset.max || 50);
  const tabsBox = document.getElementById('set-tabs');
  const noneTab = tabsBox.querySelector('[data-set="none"]');
  const newBtn = document.getElementById('set-new');
  const form = document.getElementById('set-form');
  const nameInput = document.getElementById('set-name');
  const tools = document.getElementById('set-tools');
  const moveOpen = document.getElementById('move-open');
  const menu = document.getElementById('move-menu');
  const pickCount = document.getElementById('pick-count');
  const pickNone = document.getElementById('pick-none');
  let shown = 'all';       // 'all' | 'none' | a set id (string)
  let formMode = null;     // 'create' | 'rename' | 'create-move'
  let lastPicked = null;   // the tile a Shift-click ranges from

  const tiles = () => [...grid.querySelectorAll('.tile[data-image-id]')];
  const setTabs = () => [...tabsBox.querySelectorAll('.set-tab[data-set]:not([data-set="all"]):not([data-set="none"])')];
  const tabOf = (key) => tabsBox.querySelector(`.set-tab[data-set="${key}"]`);
  const nameOf = (key) => tabOf(key)?.querySelector('.set-name').textContent || '';
  const picked = () => tiles().filter((t) => !t.hidden && t.querySelector('.pick')?.checked);
  const inView = (tile) => shown === 'all' || (shown === 'none' ? !tile.dataset.setId : tile.dataset.setId === shown);

  function recount() {
    const all = tiles();
    tabOf('all').querySelector('.count').textContent = all.length;
    const counts = new Map();
    all.forEach((t) => counts.set(t.dataset.setId || '', (counts.get(t.dataset.setId || '') || 0) + 1));
    setTabs().forEach((tab) => { tab.querySelector('.count').textContent = counts.get(tab.dataset.set) || 0; });
    const loose = counts.get('') || 0;
    noneTab.querySelector('.count').textContent = loose;
    noneTab.hidden = !setTabs().length || (!loose && shown !== 'none');
    newBtn.hidden = setTabs().length >= maxSets;
  }

  function updatePicks() {
    const n = picked().length;
    pickCount.textContent = n ? `${n} photo${n === 1 ? '' : 's'} selected` : 'Tick photos (Shift for a range) to move them to a set.';
    moveOpen.disabled = !n;
    pickNone.hidden = !n;
    grid.classList.toggle('picking', n > 0);
  }

  function clearPicks() {
    tiles().forEach((t) => { const box = t.querySelector('.pick'); if (box) box.checked = false; });
    lastPicked = null;
    updatePicks();
  }

  function applyFilter() {
    tiles().forEach((t) => { t.hidden = !inView(t); });
    tabsBox.querySelectorAll('.set-tab').forEach((tab) => {
      const on = tab.dataset.set === shown;
      tab.classList.toggle('active', on);
      tab.setAttribute('aria-selected', String(on));
    });
    tools.hidden = shown === 'all' || shown === 'none';
    grid.dataset.shownSet = shown;
  }

  function choose(key) {
    shown = key;
    clearPicks();
    closeForm();
    applyFilter();
    recount();
  }

  tabsBox.addEventListener('click', (e) => {
    const tab = e.target.closest('.set-tab');
    if (tab) choose(tab.dataset.set);
  });

  // ---- the set form: create (optionally moving the ticked photos in) or rename ----
  function openForm(mode) {
    formMode = mode;
    form.hidden = false;
    nameInput.value = mode === 'rename' ? nameOf(shown) : '';
    document.getElementById('set-save').textContent = mode === 'rename' ? 'Rename set' : 'Create set';
    nameInput.focus();
  }
  function closeForm() { form.hidden = true; formMode = null; }
  newBtn.addEventListener('click', () => openForm('create'));
  document.getElementById('set-cancel').addEventListener('click', closeForm);
  form.addEventListener('keydown', (e) => { if (e.key === 'Escape') closeForm(); });

  function addTab(set) {
    const tab = document.createElement('button');
    tab.type = 'button'; tab.className = 'set-tab'; tab.setAttribute('role', 'tab');
    tab.setAttribute('aria-selected', 'false');
    tab.dataset.set = String(set.id);
    const name = document.createElement('span'); name.className = 'set-name'; name.textContent = set.name;
    const count = document.createElement('span'); count.className = 'count'; count.textContent = '0';
    tab.append(name, ' ', count);
    noneTab.before(tab);
    return tab;
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = nameInput.value.trim();
    if (!name) { toast('Give the set a name.', 'error'); return; }
    const mode = formMode;
    try {
      if (mode === 'rename') {
        const res = await postJSON(`/panel/sets/${shown}/rename.json`, { name });
        tabOf(shown).querySelector('.set-name').textContent = res.set.name;
        toast(`Renamed to ${res.set.name}.`, 'ok');
        closeForm();
        return;
      }
      const ids = mode === 'create-move' ? picked().map((t) => Number(t.dataset.imageId)) : [];
      const res = await postJSON(`/panel/events/${eventId}/sets.json`, { name });
      addTab(res.set);
      closeForm();
      if (ids.length) await move(ids, res.set.id);
      else { choose(String(res.set.id)); toast(`Set ${res.set.name} made: tick photos and move them in.`, 'ok'); }
    } catch (err) { toast(err.message, 'error'); }
  });

  // ---- the shown set's tools ----
  tools.addEventListener('click', async (e) => {
    const action = e.target.closest('[data-set-action]')?.dataset.setAction;
    if (!action || shown === 'all' || shown === 'none') return;
    const tab = tabOf(shown);
    if (action === 'rename') { openForm('rename'); return; }
    if (action === 'delete') {
      const n = Number(tab.querySelector('.count').textContent);
      const what = n ? ` Its ${n} photo${n === 1 ? '' : 's'} stay in the gallery, in no set.` : '';
      if (!window.confirm(`Delete the set ${nameOf(shown)}?${what}`)) return;
      try {
        await postJSON(`/panel/sets/${shown}/delete.json`, {});
      } catch (err) { toast(err.message, 'error'); return; }
      const gone = shown;
      tiles().forEach((t) => { if (t.dataset.setId === gone) t.dataset.setId = ''; });
      tab.remove();
      choose('all');
      toast('Set deleted; its photos are still in the gallery.', 'ok');
      return;
    }
    const sibling = action === 'left' ? tab.previousElementSibling : tab.nextElementSibling;
    if (!sibling || !setTabs().includes(sibling)) return;
    const before = setTabs();
    sibling.insertAdjacentElement(action === 'left' ? 'beforebegin' : 'afterend', tab);
    try {
      await postJSON(`/panel/events/${eventId}/sets/order.json`, { ids: setTabs().map((t) => Number(t.dataset.set)) });
    } catch (err) {
      noneTab.before(...before);  // as it was
      toast(err.message, 'error');
    }
  });

  // ---- ticking photos: a checkbox on every tile (uploads' too) ----
  function arm(tile) {
    if (tile.querySelector('.pick')) return;
    if (tile.dataset.setId === undefined) tile.dataset.setId = '';
    const label = document.createElement('label');
    label.className = 'tile-pick';
    const box = document.createElement('input');
    box.type = 'checkbox'; box.className = 'pick';
    box.setAttribute('aria-label', `Select ${tile.querySelector('.filename')?.textContent || 'photo'}`);
    label.append(box);
    tile.prepend(label);
  }

  grid.addEventListener('click', (e) => {
    const box = e.target.closest('.pick');
    if (!box) return;
    const tile = box.closest('.tile');
    if (e.shiftKey && lastPicked && lastPicked !== tile) {
      const visible = tiles().filter((t) => !t.hidden);
      const [a, b] = [visible.indexOf(lastPicked), visible.indexOf(tile)].sort((x, y) => x - y);
      if (a >= 0) visible.slice(a, b + 1).forEach((t) => { t.querySelector('.pick').checked = box.checked; });
    }
    lastPicked = tile;
    updatePicks();
  });

  document.getElementById('pick-all').addEventListener('click', () => {
    tiles().forEach((t) => { if (!t.hidden) t.querySelector('.pick').checked = true; });
    updatePicks();
  });
  pickNone.addEventListener('click', clearPicks);

  // ---- "Move to set ▾" ----
  function closeMenu() { menu.hidden = true; moveOpen.setAttribute('aria-expanded', 'false'); }
  function item(label, onPick, extra = '') {
    const b = document.createElement('button');
    b.type = 'button'; b.className = `menu-item ${extra}`; b.setAttribute('role', 'menuitem');
    b.textContent = label;
    b.addEventListener('click', () => { closeMenu(); onPick(); });
    return b;
  }
  moveOpen.addEventListener('click', () => {
    if (!menu.hidden) { closeMenu(); return; }
    const ids = () => picked().map((t) => Number(t.dataset.imageId));
    menu.replaceChildren(
      ...setTabs().map((tab) => item(nameOf(tab.dataset.set), () => move(ids(), Number(tab.dataset.set)))),
      ...(setTabs().length ? [item('No set', () => move(ids(), null), 'menu-muted')] : []),
      ...(setTabs().length < maxSets ? [item('+ New set…', () => openForm('create-move'), 'menu-new')] : []),
    );
    menu.hidden = false;
    moveOpen.setAttribute('aria-expanded', 'true');
    menu.querySelector('button')?.focus();
  });
  document.addEventListener('click', (e) => { if (!e.target.closest('.move-menu')) closeMenu(); });
  menu.addEventListener('keydown', (e) => { if (e.key === 'Escape') { closeMenu(); moveOpen.focus(); } });

  async function move(ids, setId, quiet = false) {
    if (!ids.length) return;
    try {
      await postJSON(`/panel/events/${eventId}/sets/move.json`, { ids, set_id: setId });
    } catch (err) { toast(err.message, 'error'); return; }
    const wanted = new Set(ids);
    tiles().forEach((t) => { if (wanted.has(Number(t.dataset.imageId))) t.dataset.setId = setId === null ? '' : String(setId); });
    clearPicks();
    applyFilter();
    recount();
    if (!quiet) {
      const where = setId === null ? 'no set' : nameOf(String(setId));
      toast(`${ids.length} photo${ids.length === 1 ? '' : 's'} moved to ${where}.`, 'ok');
    }
  }

  // Tiles that arrive later (uploads): armed, and moved into the set on show.
  let arriving = [];
  new MutationObserver(() => {
    tiles().forEach((t) => {
      if (t.querySelector('.pick')) return;
      const fresh = t.dataset.setId === undefined;
      arm(t);
      if (fresh && shown !== 'all' && shown !== 'none') arriving.push(Number(t.dataset.imageId));
    });
    if (arriving.length) {
      const ids = arriving; arriving = [];
      queueMicrotask(() => move(ids, Number(shown), true));
    }
    recount();
  }).observe(grid, { childList: true });

  tiles().forEach(arm);
  recount();
  updatePicks();
}
