// The client's download-size choice: when the gallery offers more than one size, the
// download buttons (one photo, "Download all", "Download favorites") open a small menu
// of them under the button; the pick travels as `?size=` on the download URL. With one
// size there is no menu: the button downloads at once, as it always did.
// The sizes and their meaning are the server's (server/downloads.py SIZES).

const LARGE = 3600;
const WEB = 2048;
const NAMES = { original: 'Original', high: 'High resolution', web: 'Web size' };

/** What a size gives, in pixels for one photo (its own dimensions), else in words. */
function detail(size, image) {
  const cap = { original: Infinity, high: LARGE, web: WEB }[size];
  if (image && image.w && image.h) {
    const scale = Math.min(1, cap / Math.max(image.w, image.h));
    return `${Math.round(image.w * scale)} × ${Math.round(image.h * scale)} px`;
  }
  return { original: 'Full files, as delivered', high: `Up to ${LARGE} px, for prints`, web: `Up to ${WEB} px, for sharing` }[size];
}

let open = null;  // { menu, anchor, finish } while a menu shows

function close(result = null) {
  if (!open) return;
  const { menu, anchor, finish } = open;
  open = null;
  menu.remove();
  anchor.setAttribute('aria-expanded', 'false');
  finish(result);
}

function place(menu, anchor) {
  const rect = anchor.getBoundingClientRect();
  const width = menu.offsetWidth;
  const left = Math.max(8, Math.min(rect.right - width, window.innerWidth - width - 8));
  const below = rect.bottom + 6;
  const fits = below + menu.offsetHeight <= window.innerHeight - 8;
  menu.style.left = `${left}px`;
  menu.style.top = `${fits ? below : Math.max(8, rect.top - menu.offsetHeight - 6)}px`;
}

/**
 * The size to download at: '' when there is nothing to choose (one size: no param), a
 * size name once the client picks one, null if they close the menu.
 * `image` (the page's photo: {w, h}) shows each size's pixels for a single photo.
 */
export function chooseSize(anchor, sizes, image = null) {
  const offered = sizes.filter((s) => s in NAMES);
  if (offered.length < 2) return Promise.resolve('');
  if (open && open.anchor === anchor) { close(); return Promise.resolve(null); }  // a toggle
  close();
  return new Promise((finish) => {
    const menu = document.createElement('div');
    menu.className = 'size-menu';
    menu.setAttribute('role', 'menu');
    menu.setAttribute('aria-label', 'Download size');
    const title = document.createElement('p');
    title.className = 'size-menu-title';
    title.textContent = image ? 'Download this photo' : 'Download size';
    menu.append(title);
    for (const size of offered) {
      const item = document.createElement('button');
      item.type = 'button';
      item.className = 'size-menu-item';
      item.setAttribute('role', 'menuitem');
      item.dataset.size = size;
      const name = document.createElement('span');
      name.className = 'size-name';
      name.textContent = NAMES[size];
      const note = document.createElement('span');
      note.className = 'size-detail';
      note.textContent = detail(size, image);
      item.append(name, note);
      item.addEventListener('click', () => close(size));
      menu.append(item);
    }
    document.body.append(menu);
    anchor.setAttribute('aria-haspopup', 'menu');
    anchor.setAttribute('aria-expanded', 'true');
    open = { menu, anchor, finish };
    place(menu, anchor);
    menu.querySelector('button').focus();
  });
}

/** `href` with the picked size (none: as it is). */
export function withSize(href, size) {
  if (!size) return href;
  const url = new URL(href, window.location.href);
  url.searchParams.set('size', size);
  return url.pathname + url.search;
}

// Closed by a click elsewhere, Esc (before the lightbox's own Esc sees it), a scroll or a
// resize (it would float away from its button). Arrow keys move between the sizes.
document.addEventListener('pointerdown', (e) => {
  if (open && !open.menu.contains(e.target) && !open.anchor.contains(e.target)) close();
}, true);
window.addEventListener('keydown', (e) => {
  if (!open) return;
  if (e.key === 'Escape') {
    e.preventDefault(); e.stopImmediatePropagation();
    const { anchor } = open;
    close();
    anchor.focus();
  } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
    e.preventDefault(); e.stopImmediatePropagation();
    const items = [...open.menu.querySelectorAll('.size-menu-item')];
    const at = items.indexOf(document.activeElement);
    const next = (at + (e.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length;
    items[next].focus();
  }
}, true);
window.addEventListener('resize', () => close());
window.addEventListener('scroll', () => close(), { passive: true });
