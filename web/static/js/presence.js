// Tell the photographer's dashboard this gallery is open (named visitors only): a beat now
// and every 20 s while the tab is visible.
import { csrfToken } from './common.js';

const data = JSON.parse(document.getElementById('gallery-data').textContent);
async function beat() {
  if (document.visibilityState !== 'visible') return;
  try {
    await fetch(`/g/${data.slug}/presence`, { method: 'POST', headers: { 'X-CSRF-Token': csrfToken(), Accept: 'application/json' } });
  } catch { /* offline: the next beat tries again */ }
}
beat();
setInterval(beat, 20000);
document.addEventListener('visibilitychange', beat);
document.addEventListener('proofroom:gate-passed', beat);
