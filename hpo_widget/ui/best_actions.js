// "Copy params" and "Insert code cell" of the best-trial card, as front-end code: a click
// must write the clipboard while the browser still counts it as the user's gesture, and the
// code inserted must be what the card shows now, so neither waits for a kernel round trip.
// Inserting a cell is JupyterLab's business: the button dispatches a DOM event that the
// hpo_widget JupyterLab extension handles (a new cell right below the cell showing the panel);
// where nothing handles it, the kernel side shows the code to copy instead.

function button(label, icon, cls, tip) {
  const b = document.createElement("button");
  b.className = `jupyter-widgets jupyter-button widget-button ${cls}`;
  b.title = tip;
  const i = document.createElement("i");
  i.className = `fa fa-${icon}`;
  b.append(i, document.createTextNode(` ${label}`));
  return b;
}

async function writeClipboard(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Plain http on a non-local host: the old way, still inside the click's gesture.
  const area = document.createElement("textarea");
  area.value = text;
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.append(area);
  area.select();
  const ok = document.execCommand("copy");
  area.remove();
  if (!ok) {
    throw new Error("the browser refused to copy");
  }
}

export default {
  render({ model, el }) {
    el.classList.add("hpo-best-actions");
    const copy = button(
      "Copy params", "copy", "hpo-copy", "copy the best trial's parameters to the clipboard"
    );
    const insert = button(
      "Insert code cell", "plus", "hpo-insert",
      "a new cell below the panel with code for the best trial"
    );
    const sync = () => {
      const off = !model.get("enabled");
      copy.disabled = off;
      insert.disabled = off;
    };
    model.on("change:enabled", sync);
    sync();
    copy.addEventListener("click", async () => {
      try {
        await writeClipboard(model.get("params_text"));
        model.send({ event: "copied" });
      } catch (error) {
        model.send({ event: "copy_failed", error: String(error) });
      }
    });
    insert.addEventListener("click", () => {
      const event = new CustomEvent("hpo-widget:insert-cell", {
        bubbles: true,
        cancelable: true,
        composed: true,
        detail: { code: model.get("code") },
      });
      const handled = !el.dispatchEvent(event); // the extension calls preventDefault()
      model.send({ event: handled ? "inserted" : "insert_unhandled" });
    });
    el.append(copy, insert);
    return () => model.off("change:enabled", sync);
  },
};
