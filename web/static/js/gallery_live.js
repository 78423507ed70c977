// The client's live line to the photographer: their own conversation, pushed as it happens.
// Opens once the visitor is known (after the email gate), replays from the last seq it saw
// after any reconnect, and tells the page through a `proofroom:comment` DOM event.
const data = JSON.parse(document.getElementById('gallery-data').textContent);
let lastSeq = Number(data.lastSeq || 0);
let backoff = 500;
let socket = null;

function connect() {
  const proto = location.protocol === 'https:' ? 'wss' : 'ws';
  socket = new WebSocket(`${proto}://${location.host}/ws/gallery/${data.slug}`);
  socket.onopen = () => { backoff = 500; socket.send(JSON.stringify({ last_seq: lastSeq })); };
  socket.onmessage = (msg) => {
    const e = JSON.parse(msg.data);
    if (e.type !== 'comment' || e.seq <= lastSeq) return;
    lastSeq = e.seq;
    document.dispatchEvent(new CustomEvent('proofroom:comment', { detail: e }));
  };
  socket.onclose = (ev) => {
    if (ev.code === 4404) return;  // the gallery closed
    // 4429: too many live connections from this browser or network; wait a minute.
    setTimeout(connect, ev.code === 4429 ? 60000 : backoff);
    backoff = Math.min(backoff * 2, 10000);
  };
}

if (data.known) connect();
else document.addEventListener('proofroom:gate-passed', connect, { once: true });
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && socket && socket.readyState > 1) connect();
});
