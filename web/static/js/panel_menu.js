// The panel's chrome on small screens: the nav folds into a sheet the "Menu" button opens,
// and a row of tabs too wide for the screen scrolls its active tab into view. Without this
// module the nav stays a row that scrolls sideways (the button is `hidden` in the markup).

const NARROW = window.matchMedia('(max-width: 1060px)');  // app.css: the menu's breakpoint

function setupMenu() {
  const bar = document.getElementById('topbar');
  const button = document.getElementById('menu-toggle');
  const nav = document.getElementById('panel-nav');
  if (!bar || !button || !nav) return;
  bar.classList.add('has-menu');
  button.hidden = false;
  const setOpen = (open) => {
    bar.classList.toggle('menu-open', open);
    button.setAttribute('aria-expanded', String(open));
  };
  button.addEventListener('click', () => {
    const open = !bar.classList.contains('menu-open');
    setOpen(open);
    if (open) nav.querySelector('a.active, a')?.focus();
  });
  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape' || !bar.classList.contains('menu-open')) return;
    setOpen(false);
    button.focus();
  });
  document.addEventListener('click', (e) => {
    if (bar.classList.contains('menu-open') && !bar.contains(e.target)) setOpen(false);
  });
  // Back to a wide screen (a rotated tablet): the sheet's state must not linger.
  NARROW.addEventListener('change', () => setOpen(false));
}

// A row of tabs wider than the screen: show the open tab, not the first ones only.
function revealActiveTabs() {
  for (const tabs of document.querySelectorAll('.tabs')) {
    const active = tabs.querySelector('a.active');
    if (!active || tabs.scrollWidth <= tabs.clientWidth) continue;
    tabs.scrollLeft = active.offsetLeft - (tabs.clientWidth - active.offsetWidth) / 2;
  }
}

setupMenu();
revealActiveTabs();
