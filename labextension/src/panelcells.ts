/**
 * "Insert code cell" of the panel's best-trial card (hpo_widget/ui/best_actions.js).
 *
 * The widget lives in a cell's output and cannot reach JupyterLab; it dispatches a bubbling
 * `hpo-widget:insert-cell` DOM event carrying the code instead.  Here the notebook holding the
 * clicked button gets a new code cell right below the cell whose output shows the panel (not
 * below whichever cell is active or runs next), and `preventDefault()` tells the widget it
 * was handled; where no notebook cell holds the button, the widget shows the code to copy.
 */

import type { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import type { IDisposable } from '@lumino/disposable';

export const INSERT_CELL_EVENT = 'hpo-widget:insert-cell';

interface IInsertDetail {
  code?: unknown;
}

/** The notebook and cell index whose DOM holds `target`, or null. */
function cellOf(
  tracker: INotebookTracker,
  target: Node
): { panel: NotebookPanel; index: number } | null {
  const panel = tracker.find(p => p.node.contains(target));
  if (!panel) {
    return null;
  }
  const index = panel.content.widgets.findIndex(cell => cell.node.contains(target));
  return index < 0 ? null : { panel, index };
}

export function installInsertCellBridge(tracker: INotebookTracker): IDisposable {
  const listener = (event: Event): void => {
    const detail = (event as CustomEvent<IInsertDetail>).detail ?? {};
    const target = event.target;
    if (typeof detail.code !== 'string' || !(target instanceof Node)) {
      return;
    }
    const found = cellOf(tracker, target);
    if (!found || !found.panel.content.model) {
      return;
    }
    const { panel, index } = found;
    panel.content.model!.sharedModel.insertCell(index + 1, {
      cell_type: 'code',
      source: detail.code.replace(/\n$/, '')
    });
    panel.content.activeCellIndex = index + 1;
    event.preventDefault();
  };
  document.addEventListener(INSERT_CELL_EVENT, listener);
  let disposed = false;
  return {
    get isDisposed() {
      return disposed;
    },
    dispose() {
      document.removeEventListener(INSERT_CELL_EVENT, listener);
      disposed = true;
    }
  };
}
