// The demo account's "Simulate a client" button (server/routes/demo_simulate.py): starts a
// simulated client on the server, says until when it runs, and when it has stopped. The
// dashboard itself moves through live.js, as it does for real clients.
import { postJSON, toast } from './common.js';

const box = document.getElementById('demo-sim');
if (box) {
  const start = box.querySelector('[data-demo-sim-start]');
  const stop = box.querySelector('[data-demo-sim-stop]');
  const status = box.querySelector('[data-demo-sim-status]');
  const url = box.dataset.url;
  let timer = null;

  const clock = (iso) => new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });

  function show(state, justStopped = false) {
    clearTimeout(timer);
    box.classList.toggle('is-running', state.running);
    stop.classList.toggle('hidden', !state.running);
    start.textContent = state.running ? 'Client simulation running' : '▶ Simulate a client';
    if (state.running) {
      status.textContent = `A simulated client is browsing your galleries until ${clock(state.ends_at)}. Watch the live feed.`;
      // Ask again when it should have stopped (and every 15 s, in case it was stopped elsewhere).
      const wait = Math.min(15000, Math.max(1000, new Date(state.ends_at) - Date.now() + 1500));
      timer = setTimeout(refresh, wait);
    } else if (justStopped) {
      status.textContent = `The simulated client left at ${clock(new Date().toISOString())}. Press again for another.`;
    }
  }

  async function refresh() {
    try {
      const res = await fetch(url, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
      if (!res.ok) return;
      const state = await res.json();
      show(state, box.classList.contains('is-running') && !state.running);
    } catch { timer = setTimeout(refresh, 15000); }
  }

  start.addEventListener('click', async () => {
    start.disabled = true;
    try {
      const state = await postJSON(url);
      if (!state.started) toast(`A simulation is already running, until ${clock(state.ends_at)}.`);
      show(state);
    } catch (err) {
      toast(err.message, 'error');
    } finally {
      start.disabled = false;
    }
  });

  stop.addEventListener('click', async () => {
    try { show(await postJSON(`${url}/stop`), true); } catch (err) { toast(err.message, 'error'); }
  });

  refresh();  // a run started earlier (another tab, before a reload) shows as running
}
