// Settings → Brand: refuse an oversized logo before it is sent (the server answers a too
// large body with a bare 413 and closes the connection: server/body_limit.py), and keep
// the preview in step with the form while the photographer picks.
const form = document.querySelector(".brand-form");
const preview = document.querySelector(".brand-preview");

if (form) {
  const file = form.querySelector('input[name="logo"]');
  const max = Number(form.dataset.maxBytes || 0);
  const error = document.getElementById("logo-error");
  const check = () => {
    const picked = file.files && file.files[0];
    const tooBig = picked && max && picked.size > max;
    const message = tooBig
      ? `That file is ${(picked.size / 1048576).toFixed(1)} MB; the logo may be at most ${Math.round(max / 1048576)} MB.`
      : "";
    file.setCustomValidity(message);
    if (error) {
      error.textContent = message;
      error.hidden = !message;
    }
    return !tooBig;
  };
  file.addEventListener("change", check);
  form.addEventListener("submit", (event) => {
    if (!check()) {
      event.preventDefault();
      file.reportValidity();
    }
  });

  if (preview) {
    const accent = form.querySelector('input[name="accent"]');
    accent.addEventListener("input", () => {
      preview.style.setProperty("--accent", accent.value);
      // The server picks the label colour (colors.ink_on); the preview follows it roughly.
      preview.style.setProperty("--accent-ink", inkOn(accent.value));
    });
    for (const radio of form.querySelectorAll('input[name="font"]')) {
      radio.addEventListener("change", () => {
        const sample = radio.parentElement.querySelector(".brand-font-sample");
        if (radio.checked && sample) preview.style.setProperty("--cover-font", sample.style.fontFamily);
      });
    }
  }
}

function luminance(hex) {
  const channel = (i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
}

function inkOn(hex) {
  const bg = luminance(hex);
  const white = 1.05 / (bg + 0.05);
  const ink = (Math.max(bg, luminance("#111111")) + 0.05) / (Math.min(bg, luminance("#111111")) + 0.05);
  return white >= ink ? "#ffffff" : "#111111";
}
