// "This gallery was just updated": shown when the photographer changes what the gallery
// holds while a visitor has it open (`proofroom:photos`, from gallery_live.js). The page
// never changes under the visitor's finger: they choose when to see the new version (a
// reload, which keeps their favorites and scroll), or dismiss the note until the next change.

const bar = document.createElement('div');
bar.className = 'gallery-updated hidden';
bar.setAttribute('role', 'status');
bar.innerHTML = '<span>The photographer just updated this gallery.</span>'
  + '<button type="button" class="btn btn-sm" data-show>Show the new version</button>'
  + '<button type="button" class="icon-btn" data-dismiss aria-label="Dismiss">×</button>';
document.body.append(bar);

bar.querySelector('[data-show]').addEventListener('click', () => location.reload());
bar.querySelector('[data-dismiss]').addEventListener('click', () => bar.classList.add('hidden'));
document.addEventListener('proofroom:photos', () => bar.classList.remove('hidden'));
