"""Tells the kernel which JupyterLab theme the panel is shown in (a tiny anywidget).

Plotly draws its figures with colours of its own, so the panel's figures must be told to use
the dark template when JupyterLab's theme is dark; only the browser knows the theme (JupyterLab
marks ``<body data-jp-theme-light="true|false">`` and changes it when the user switches), so
this view reads it, watches it, and reports each change.  Outside JupyterLab nothing is
reported and the figures stay light.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anywidget
import traitlets

__all__ = ["ThemeProbe"]

_ESM = """
export default {
  render({ model, el }) {
    el.style.display = "none";
    const body = document.body;
    let observer = null;
    let shown = false;
    const report = () => {
      // A view whose notebook was closed must not write to a model that can no longer reach
      // the kernel: once it has been on the page and is gone, stop watching.
      if (el.isConnected) {
        shown = true;
      } else {
        if (shown && observer) {
          observer.disconnect();
        }
        return;
      }
      const light = body.dataset.jpThemeLight;
      if (light === "true" || light === "false") {
        const theme = light === "true" ? "light" : "dark";
        if (model.get("theme") !== theme) {
          try {
            model.set("theme", theme);
            model.save_changes();
          } catch (error) {
            observer.disconnect();
          }
        }
      }
    };
    observer = new MutationObserver(report);
    observer.observe(body, { attributes: true, attributeFilter: ["data-jp-theme-light"] });
    report();
    // The view is attached to the page after render(): report once it is.
    requestAnimationFrame(report);
    return () => observer.disconnect();
  },
};
"""


class ThemeProbe(anywidget.AnyWidget):
    _esm = _ESM
    #: "light" or "dark", as the browser last reported ("light" until it does).
    theme = traitlets.Unicode("light").tag(sync=True)

    def __init__(self, on_theme: Callable[[str], Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.observe(lambda change: on_theme(change["new"]), "theme")
