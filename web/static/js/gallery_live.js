// The client's live line to the photographer: their own conversation, pushed as it happens.
// A visitor who has not passed the email gate yet gets an anonymous line on the same URL
// that only ever carries {"type": "banners"}; once they pass it, that line is stopped and
// the known one opens (from the seq the gate answered). The known line replays from the
// last seq it saw after any reconnect (live_socket.js), and tells the page through DOM
// events: `proofroom:comment` per message, `proofroom:resync` when the page's
// conversation state is too old (gallery.js refetches the open thread and the markers).
// The known line is also this visitor's "viewing now" on the photographer's dashboard: the
// page tells it when its tab is hidden and shown again. A `banners` message (and every
// (re)connect) becomes `proofroom:banners`: banners.js re-fetches what this visitor sees.
// A `photos` message (the photographer added, removed, reordered or sorted photos into sets)
// becomes `proofroom:photos`: gallery_updated.js offers the new version.
// The photographer's banner preview (gallery-data "preview") opens no line at all.
import { liveSocket } from './live_socket.js';

const data = JSON.parse(document.getElementById('gallery-data').textContent);
let live = null;
let known = false;  // whether `live` is the known visitor's line (the one "viewing now" counts)

function connect(seq, asKnown) {
  live?.stop();
  known = asKnown;
  const line = liveSocket({
    url: () => `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws/gallery/${data.slug}`,
    lastSeq: seq,
    silenceLimit: 0,  // a client's conversation can be silent for hours: no watchdog
    onStatus(state, info) {
      if (line !== live) return;  // a stopped anonymous line says nothing more
      document.documentElement.dataset.live = state;
      document.documentElement.dataset.liveAs = asKnown ? 'known' : 'anonymous';
      if (state === 'live' && asKnown && document.visibilityState === 'hidden') line.send({ visible: false });
      if (state === 'stopped') document.documentElement.dataset.liveStopped = info.code;
      else if (state === 'live') delete document.documentElement.dataset.liveStopped;
      // Banners may have started or ended while the line was down: banners.js asks again.
      if (state === 'live') document.dispatchEvent(new CustomEvent('proofroom:banners'));
    },
    onMessage(m) {
      if (m.type === 'comment') document.dispatchEvent(new CustomEvent('proofroom:comment', { detail: m }));
      else if (m.type === 'banners') document.dispatchEvent(new CustomEvent('proofroom:banners', { detail: m }));
      else if (m.type === 'photos') document.dispatchEvent(new CustomEvent('proofroom:photos'));
      else if (m.type === 'resync') document.dispatchEvent(new CustomEvent('proofroom:resync', { detail: m }));
    },
  });
  live = line;
  line.start();
}

if (!data.preview) {
  document.addEventListener('visibilitychange', () => {
    if (known) live?.send({ visible: document.visibilityState === 'visible' });
  });
  if (data.known) connect(Number(data.lastSeq || 0), true);
  else {
    connect(0, false);  // banners only, until the visitor says who they are
    document.addEventListener('proofroom:gate-passed', (ev) => {
      // The gate's answer carries the seq this visitor's view starts from (an older server:
      // none, so the rendered one).
      const seq = Number(ev.detail?.seq);
      connect(Number.isFinite(seq) ? seq : Number(data.lastSeq || 0), true);
    }, { once: true });
  }
}
