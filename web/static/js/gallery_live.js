// The client's live line to the photographer: their own conversation, pushed as it happens.
// Opens once the visitor is known (after the email gate: from the seq the gate answered),
// replays from the last seq it saw after any reconnect (live_socket.js), and tells the page
// through DOM events: `proofroom:comment` per message, `proofroom:resync` when the page's
// conversation state is too old (gallery.js refetches the open thread and the markers).
// The open socket is also this visitor's "viewing now" on the photographer's dashboard: the
// page tells it when its tab is hidden and shown again. A `banners` message (and every
// (re)connect) becomes `proofroom:banners`: banners.js re-fetches what this visitor sees.
import { liveSocket } from './live_socket.js';

const data = JSON.parse(document.getElementById('gallery-data').textContent);
let live = null;

function connect(seq) {
  if (live) return;
  live = liveSocket({
    url: () => `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws/gallery/${data.slug}`,
    lastSeq: seq,
    silenceLimit: 0,  // a client's conversation can be silent for hours: no watchdog
    onStatus(state, info) {
      document.documentElement.dataset.live = state;
      if (state === 'live' && document.visibilityState === 'hidden') live.send({ visible: false });
      if (state === 'stopped') document.documentElement.dataset.liveStopped = info.code;
      // Banners may have started or ended while the line was down: banners.js asks again.
      if (state === 'live') document.dispatchEvent(new CustomEvent('proofroom:banners'));
    },
    onMessage(m) {
      if (m.type === 'comment') document.dispatchEvent(new CustomEvent('proofroom:comment', { detail: m }));
      else if (m.type === 'banners') document.dispatchEvent(new CustomEvent('proofroom:banners', { detail: m }));
      else if (m.type === 'resync') document.dispatchEvent(new CustomEvent('proofroom:resync', { detail: m }));
    },
  });
  live.start();
  document.addEventListener('visibilitychange', () => {
    live.send({ visible: document.visibilityState === 'visible' });
  });
}

if (data.known) connect(Number(data.lastSeq || 0));
else {
  document.addEventListener('proofroom:gate-passed', (ev) => {
    // The gate's answer carries the seq this visitor's view starts from (an older server:
    // none, so the rendered one).
    const seq = Number(ev.detail?.seq);
    connect(Number.isFinite(seq) ? seq : Number(data.lastSeq || 0));
  }, { once: true });
}
