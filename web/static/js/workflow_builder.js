// The workflow step editor and preview: show the fields the chosen kind, anchor, button
// action and banner position need; insert merge fields at the cursor; re-render the
// preview when its contact or gallery changes. Without it every field shows and the
// server still checks everything.

const VISITOR_ANCHORS = ["first_visit", "cart_change", "first_favorite"];

function showIf(root, attr, value) {
  for (const el of root.querySelectorAll(`[${attr}]`)) {
    const wanted = el.getAttribute(attr).split(" ");
    el.hidden = !wanted.includes(value);
  }
}

function hideIf(root, attr, value) {
  for (const el of root.querySelectorAll(`[${attr}]`)) {
    el.hidden = el.getAttribute(attr).split(" ").includes(value);
  }
}

function stepForm(form) {
  const kind = form.querySelector("[data-kind]");
  const anchor = form.querySelector("[data-anchor]");
  const direction = form.querySelector("[data-direction]");
  const position = form.querySelector("[data-position]");
  const update = () => {
    showIf(form, "data-show-kind", kind.value);
    showIf(form, "data-show-anchor", anchor.value);
    hideIf(form, "data-hide-anchor", anchor.value);
    const visitor = VISITOR_ANCHORS.includes(anchor.value);
    const before = direction.querySelector('option[value="before"]');
    before.disabled = visitor;
    if (visitor) direction.value = "after";
    if (position) showIf(form, "data-show-position", position.value);
    for (const row of form.querySelectorAll("[data-button-row]")) {
      const action = row.querySelector("[data-button-action]").value;
      row.querySelector("[data-button-url]").hidden = action !== "url";
    }
  };
  form.addEventListener("change", update);
  update();
}

function mergeFields() {
  let target = document.querySelector("[data-merge-target]");
  document.addEventListener("focusin", (event) => {
    if (event.target.matches("[data-merge-target]")) target = event.target;
  });
  for (const button of document.querySelectorAll("[data-merge]")) {
    button.addEventListener("click", () => {
      if (!target) return;
      const text = button.dataset.merge;
      const start = target.selectionStart ?? target.value.length;
      const end = target.selectionEnd ?? start;
      target.setRangeText(text, start, end, "end");
      target.focus();
    });
  }
}

function previewPicker(form) {
  for (const select of form.querySelectorAll("[data-autosubmit]")) {
    select.addEventListener("change", () => form.requestSubmit());
  }
}

const form = document.querySelector("[data-step-form]");
if (form) stepForm(form);
mergeFields();
const picker = document.querySelector("[data-preview-picker]");
if (picker) previewPicker(picker);
