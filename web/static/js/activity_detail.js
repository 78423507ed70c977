// The activity detail page: export format switcher, copy to clipboard, and a small lightbox.
// The tab's content is swapped in place when live events change it (live.js re-fetches it
// once per burst): the controls inside it are bound again after each swap.
function bindExport() {
  const select = document.getElementById('export-format');
  if (!select) return;
  const download = document.getElementById('download-export');
  const texts = [...document.querySelectorAll('.export-text')];
  select.addEventListener('change', () => {
    texts.forEach((t) => t.classList.toggle('hidden', t.dataset.format !== select.value));
    download.href = download.href.replace(/format=[a-z]+/, `format=${select.value}`);
  });
  document.getElementById('copy-export').addEventListener('click', async (e) => {
    const text = texts.find((t) => t.dataset.format === select.value);
    try { await navigator.clipboard.writeText(text.value); } catch { text.select(); document.execCommand('copy'); }
    e.target.textContent = 'Copied'; setTimeout(() => (e.target.textContent = 'Copy to clipboard'), 1500);
  });
}

const box = document.getElementById('panel-lightbox');
function open(link) {
  document.getElementById('plb-img').src = link.href;
  document.getElementById('plb-name').textContent = link.dataset.filename;
  box.classList.remove('hidden');
}
// Delegated: links inside a swapped tab work without binding again.
document.addEventListener('click', (e) => {
  const link = e.target.closest?.('.lightbox-link');
  if (!link || !box) return;
  e.preventDefault(); open(link);
});
document.getElementById('plb-close')?.addEventListener('click', () => box.classList.add('hidden'));
document.addEventListener('keydown', (e) => { if (e.key === 'Escape') box?.classList.add('hidden'); });

bindExport();
document.addEventListener('proofroom:region-swapped', bindExport);
