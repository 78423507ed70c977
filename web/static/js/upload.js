// Panel uploader: one request per file so each shows its own progress; three at a time.
// The server answers per file; thumbnails appear as the arq job finishes each image.
import { csrfToken } from './common.js';

const root = document.getElementById('uploader');
const input = document.getElementById('file-input');
const zone = document.getElementById('dropzone');
const list = document.getElementById('upload-list');
const grid = document.getElementById('image-grid');
const CONCURRENCY = 3;
let queue = [];
let active = 0;
let polling = null;

function row(file) {
  const li = document.createElement('li');
  li.className = 'upload-item';
  li.innerHTML = '<span class="up-name"></span><progress max="100" value="0"></progress><span class="up-status">Waiting</span>';
  li.querySelector('.up-name').textContent = file.name;
  list.prepend(li);
  return li;
}

function send(file, li) {
  return new Promise((resolve) => {
    const form = new FormData();
    form.append('files', file, file.name);
    form.append('csrf_token', csrfToken());
    const xhr = new XMLHttpRequest();
    xhr.open('POST', root.dataset.uploadUrl);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) li.querySelector('progress').value = Math.round((e.loaded / e.total) * 100);
      li.querySelector('.up-status').textContent = 'Uploading';
    };
    xhr.onload = () => {
      let result = null;
      try { result = JSON.parse(xhr.responseText).results?.[0]; } catch { /* not JSON */ }
      if (!result) {
        let msg = `Upload failed (${xhr.status})`;
        try { msg = JSON.parse(xhr.responseText).error || msg; } catch { /* keep */ }
        result = { ok: false, error: msg };
      }
      finish(li, result);
      resolve();
    };
    xhr.onerror = () => { finish(li, { ok: false, error: 'Network error: the upload did not reach the server.' }); resolve(); };
    xhr.send(form);
  });
}

function finish(li, result) {
  li.querySelector('progress').value = 100;
  li.classList.add(result.ok ? 'ok' : 'failed');
  li.querySelector('.up-status').textContent = result.ok ? 'Processing…' : result.error;
  if (result.ok) {
    li.dataset.imageId = result.image_id;
    startPolling();
  }
}

function pump() {
  while (active < CONCURRENCY && queue.length) {
    const [file, li] = queue.shift();
    active += 1;
    send(file, li).then(() => { active -= 1; pump(); });
  }
}

function addFiles(files) {
  for (const file of files) queue.push([file, row(file)]);
  pump();
}

function tileFor(image) {
  const fig = document.createElement('figure');
  fig.className = `tile state-${image.state}`;
  fig.dataset.imageId = image.id;
  fig.innerHTML = '<div class="tile-placeholder"><span class="spinner"></span>Processing</div><figcaption><span class="filename"></span></figcaption>';
  fig.querySelector('.filename').textContent = image.filename;
  return fig;
}

async function refresh() {
  const res = await fetch(root.dataset.statusUrl, { headers: { Accept: 'application/json' } });
  if (!res.ok) return;
  const { images } = await res.json();
  let pending = 0;
  document.getElementById('images-empty')?.remove();
  for (const image of images) {
    let tile = grid.querySelector(`[data-image-id="${image.id}"]`);
    if (!tile) { tile = tileFor(image); grid.append(tile); }
    if (image.state === 'processing') pending += 1;
    if (image.state === 'ready' && !tile.querySelector('img')) {
      const img = new Image();
      img.src = image.thumb; img.alt = image.filename; img.loading = 'lazy';
      tile.querySelector('.tile-placeholder')?.replaceWith(img);
      tile.className = 'tile state-ready';
      const li = list.querySelector(`[data-image-id="${image.id}"]`);
      if (li) li.querySelector('.up-status').textContent = 'Ready';
    }
    if (image.state === 'failed') {
      tile.className = 'tile state-failed';
      const ph = tile.querySelector('.tile-placeholder'); if (ph) ph.textContent = image.error || 'Failed';
    }
  }
  if (!pending && !active && !queue.length) { clearInterval(polling); polling = null; }
}

function startPolling() {
  if (!polling) polling = setInterval(refresh, 1000);
}

input.addEventListener('change', () => { addFiles(input.files); input.value = ''; });
['dragenter', 'dragover'].forEach((t) => zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.add('drag'); }));
['dragleave', 'drop'].forEach((t) => zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.remove('drag'); }));
zone.addEventListener('drop', (e) => addFiles(e.dataTransfer.files));
if (grid.querySelector('.state-processing')) startPolling();
