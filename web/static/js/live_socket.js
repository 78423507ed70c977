// One reconnecting live socket, shared by the panel (live.js) and the client gallery
// (gallery_live.js). What it guarantees:
// - at most one WebSocket and one reconnect timer at a time (visibilitychange / online only
//   connect when there is neither);
// - jittered exponential backoff (full jitter, 0.5 s doubling to 30 s) that is reset only
//   after a socket stayed healthy for 10 s, so refused sockets never loop fast;
// - terminal close codes stop retrying and say why (onStatus('stopped', {code, reason}));
// - a watchdog: no message at all (heartbeats count) for 15 s closes and reconnects (the
//   panel's stream has heartbeats; the gallery's has none and passes silenceLimit: 0);
// - the hello carries the seq the page's content reflects, then the last seq received.
export const TERMINAL = {
  4400: 'Live updates stopped — reload the page.',
  4401: 'You are logged out.',
  4403: 'Live updates refused (wrong address) — reload the page.',
  4404: 'This gallery is closed.',
  4409: 'You are logged out.',
};
const CLOSE_TOO_MANY = 4429;
const WATCHDOG_CLOSE = 4000;  // ours: the socket went silent

export function liveSocket({
  url, lastSeq = 0, onMessage, onStatus = () => {},
  minDelay = 500, maxDelay = 30000, healthyAfter = 10000, silenceLimit = 15000, tooManyDelay = 60000,
}) {
  let socket = null;
  let timer = null;  // the one reconnect timer
  let attempt = 0;
  let stopped = false;
  let healthy = null;
  let watchdog = null;
  let seq = Number(lastSeq) || 0;

  const clearSocketTimers = () => { clearTimeout(healthy); clearTimeout(watchdog); healthy = watchdog = null; };
  const feedWatchdog = (ws) => {
    clearTimeout(watchdog);
    if (!silenceLimit) return;  // no watchdog: a stream that may be silent for hours
    watchdog = setTimeout(() => { if (ws === socket) drop(ws, WATCHDOG_CLOSE); }, silenceLimit);
  };

  function schedule(delay) {
    if (stopped || timer || socket) return;
    onStatus('retrying', { delay });
    timer = setTimeout(() => { timer = null; open(); }, delay);
  }

  function backoffDelay() {
    const cap = Math.min(maxDelay, minDelay * 2 ** attempt);
    attempt += 1;
    return Math.max(50, Math.random() * cap);  // full jitter
  }

  // Forget a socket (closed by the server, or silent): one place decides what comes next.
  function drop(ws, code) {
    if (ws !== socket) return;
    socket = null;
    clearSocketTimers();
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    if (ws.readyState < 2) { try { ws.close(WATCHDOG_CLOSE); } catch { /* already closing */ } }
    if (code in TERMINAL) {
      stopped = true;
      onStatus('stopped', { code, reason: TERMINAL[code] });
      return;
    }
    schedule(code === CLOSE_TOO_MANY ? tooManyDelay * (1 + Math.random() / 2) : backoffDelay());
  }

  function open() {
    if (stopped || socket || timer) return;
    onStatus('connecting', {});
    const ws = new WebSocket(url());
    socket = ws;
    ws.onopen = () => {
      ws.send(JSON.stringify({ last_seq: seq }));
      onStatus('live', {});
      feedWatchdog(ws);
      healthy = setTimeout(() => { attempt = 0; }, healthyAfter);
    };
    ws.onmessage = (msg) => {
      if (ws !== socket) return;
      feedWatchdog(ws);
      let m;
      try { m = JSON.parse(msg.data); } catch { return; }
      if (!m || typeof m !== 'object') return;
      const n = Number(m.seq);
      if (m.type === 'heartbeat') {  // everything up to m.seq was sent already
        if (Number.isFinite(n) && n > seq) seq = n;
        return;
      }
      if (m.type === 'resync') { if (Number.isFinite(n)) seq = Math.max(seq, n); onMessage(m); return; }
      if (Number.isFinite(n) && m.seq != null) {
        if (n <= seq) return;  // a duplicate (replay and live overlap)
        seq = n;
      }
      onMessage(m);
    };
    ws.onclose = (ev) => drop(ws, ev.code);
  }

  function wake() {
    if (document.visibilityState === 'hidden') return;
    open();  // no-op while a socket is open/connecting or a timer is pending
  }
  document.addEventListener('visibilitychange', wake);
  window.addEventListener('online', wake);

  return {
    start: open,
    get lastSeq() { return seq; },
    set lastSeq(n) { seq = Math.max(seq, Number(n) || 0); },
    get stopped() { return stopped; },
    // Send to the server if a socket is open (else nothing: the next hello starts afresh).
    send(message) { if (socket && socket.readyState === 1) socket.send(JSON.stringify(message)); },
    // Test and debugging hooks: the socket count is never more than one.
    get socket() { return socket; },
    get timerPending() { return timer !== null; },
    stop() {
      stopped = true; clearTimeout(timer); timer = null;
      if (socket) { const ws = socket; socket = null; clearSocketTimers(); ws.onclose = null; ws.close(1000); }
    },
  };
}
