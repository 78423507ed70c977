// Panel uploader: one request per file so each shows its own progress; three at a time.
// The server answers per file; thumbnails appear as the arq job finishes each image.
// Above the list, the whole batch: files and bytes sent. A file the network dropped (no
// answer, or the server unreachable) waits and is sent again when the connection is back:
// a lost Wi-Fi mid-wedding does not lose the rest of the upload. A file the server refused
// (not an image, too large) is not retried: its row says why.
import { csrfToken } from './common.js';

const root = document.getElementById('uploader');
const input = document.getElementById('file-input');
const zone = document.getElementById('dropzone');
const list = document.getElementById('upload-list');
const grid = document.getElementById('image-grid');
const summary = document.getElementById('upload-summary');
const CONCURRENCY = 3;
const RETRY_MAX = 30000;  // ms between tries at most, while the connection is down
let queue = [];
let active = 0;
let polling = null;
let retryDelay = 2000;
let retryTimer = null;
const batch = { files: 0, done: 0, failed: 0, bytes: 0, sent: new Map() };

function row(file) {
  const li = document.createElement('li');
  li.className = 'upload-item';
  li.innerHTML = '<span class="up-name"></span><progress max="100" value="0"></progress><span class="up-status">Waiting</span>';
  li.querySelector('.up-name').textContent = file.name;
  list.prepend(li);
  return li;
}

const mb = (n) => `${(n / 1048576).toFixed(n < 10485760 ? 1 : 0)} MB`;

function showSummary() {
  if (!summary) return;
  const sent = [...batch.sent.values()].reduce((a, b) => a + b, 0);
  const left = batch.files - batch.done - batch.failed;
  summary.classList.remove('hidden');
  summary.querySelector('progress').value = batch.bytes ? Math.round((sent / batch.bytes) * 100) : 0;
  const failed = batch.failed ? ` · ${batch.failed} failed` : '';
  const note = retryTimer ? ' · connection lost, will resume' : '';
  summary.querySelector('.up-sum-text').textContent = left
    ? `Uploading: ${batch.done} of ${batch.files} photos sent · ${mb(sent)} of ${mb(batch.bytes)}${failed}${note}`
    : `${batch.done} of ${batch.files} photos uploaded${failed}`;
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
      batch.sent.set(li, Math.min(e.loaded, file.size));
      showSummary();
    };
    xhr.onload = () => {
      if (xhr.status === 0 || xhr.status === 502 || xhr.status === 503 || xhr.status === 504) {
        resolve('lost');  // a proxy with the app gone, or no answer: try again later
        return;
      }
      let result = null;
      try { result = JSON.parse(xhr.responseText).results?.[0]; } catch { /* not JSON */ }
      if (!result) {
        let msg = `Upload failed (${xhr.status})`;
        try { msg = JSON.parse(xhr.responseText).error || msg; } catch { /* keep */ }
        result = { ok: false, error: msg };
      }
      finish(li, result, file);
      resolve('done');
    };
    xhr.onerror = () => resolve('lost');
    xhr.send(form);
  });
}

function finish(li, result, file) {
  li.querySelector('progress').value = 100;
  li.classList.add(result.ok ? 'ok' : 'failed');
  li.querySelector('.up-status').textContent = result.ok ? 'Processing…' : result.error;
  batch.sent.set(li, file.size);
  if (result.ok) {
    batch.done += 1;
    li.dataset.imageId = result.image_id;
    startPolling();
  } else batch.failed += 1;
  showSummary();
}

function lost(file, li) {
  li.querySelector('.up-status').textContent = 'Waiting for the connection…';
  li.querySelector('progress').value = 0;
  batch.sent.set(li, 0);
  queue.unshift([file, li]);  // first again when the line is back
  if (!retryTimer) {
    retryTimer = setTimeout(() => { retryTimer = null; pump(); }, retryDelay);
    retryDelay = Math.min(retryDelay * 2, RETRY_MAX);
  }
  showSummary();
}

function pump() {
  while (active < CONCURRENCY && queue.length && !retryTimer) {
    const [file, li] = queue.shift();
    active += 1;
    send(file, li).then((outcome) => {
      active -= 1;
      if (outcome === 'lost') lost(file, li);
      else retryDelay = 2000;
      pump();
    });
  }
}

window.addEventListener('online', () => {  // the browser says the line is back: now
  clearTimeout(retryTimer); retryTimer = null; retryDelay = 2000; pump();
});
window.addEventListener('beforeunload', (e) => {
  if (queue.length || active) e.preventDefault();  // "Leave the page?": the rest is not sent
});

function addFiles(files) {
  if (!files.length) return;
  document.getElementById('images-empty')?.remove();  // photos are on their way
  for (const file of files) {
    queue.push([file, row(file)]);
    batch.files += 1;
    batch.bytes += file.size;
  }
  showSummary();
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
