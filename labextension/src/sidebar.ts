/**
 * The "Studies" left sidebar (dask-labextension's pattern): studies grouped by storage, live,
 * with row buttons, a context menu (commands with `{storage, name}` args) and drag-and-drop
 * of a row into a notebook (a code cell that loads the study).
 */

import { Drag } from '@lumino/dragdrop';
import { CommandRegistry } from '@lumino/commands';
import { MimeData } from '@lumino/coreutils';
import { Widget } from '@lumino/widgets';

import { HpoAPI } from './api';
import { IStudyRef, studyPath } from './core/cells';
import {
  formatAgo,
  formatBest,
  formatCounts,
  formatProgress,
  progressFraction,
  STATE_LABELS
} from './core/format';
import type { ICodeResponse, IStorageGroup, IStudySummary } from './core/types';
import { StudiesModel } from './model';

export const CommandIDs = {
  openDashboard: 'hpo-widget:open-dashboard',
  insertLoad: 'hpo-widget:insert-load-cell',
  insertResume: 'hpo-widget:insert-resume-cell',
  copyBest: 'hpo-widget:copy-best',
  report: 'hpo-widget:report',
  stop: 'hpo-widget:stop',
  remove: 'hpo-widget:delete',
  newSearch: 'hpo-widget:new-search',
  showSidebar: 'hpo-widget:show-sidebar',
  refresh: 'hpo-widget:refresh'
};

const JUPYTER_CELL_MIME = 'application/vnd.jupyter.cells';

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  cls?: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (cls) {
    node.className = cls;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

export class StudiesSidebar extends Widget {
  constructor(
    readonly model: StudiesModel,
    readonly commands: CommandRegistry,
    readonly api: HpoAPI
  ) {
    super();
    this.id = 'hpo-widget-studies';
    this.addClass('hpo-Sidebar');
    this.title.caption = 'Hyperparameter studies';

    const header = el('div', 'hpo-Sidebar-header');
    header.appendChild(el('h2', 'hpo-Sidebar-title', 'Studies'));
    const refresh = el('button', 'hpo-Button hpo-Sidebar-refresh', '⟳');
    refresh.title = 'Refresh now';
    refresh.onclick = () => void this.model.refresh();
    header.appendChild(refresh);
    this.node.appendChild(header);

    const form = el('form', 'hpo-AddStorage');
    this._input = el('input', 'hpo-AddStorage-input');
    this._input.placeholder = 'Add storage: path.journal, sqlite:///…, postgresql://…';
    this._input.setAttribute('aria-label', 'Storage URL to add');
    const add = el('button', 'hpo-Button hpo-AddStorage-button', 'Add');
    add.type = 'submit';
    this._formError = el('div', 'hpo-AddStorage-error');
    form.append(this._input, add);
    form.onsubmit = event => {
      event.preventDefault();
      void this._addStorage();
    };
    this.node.append(form, this._formError);

    this._error = el('div', 'hpo-Sidebar-error');
    this._list = el('div', 'hpo-Sidebar-list');
    this.node.append(this._error, this._list);

    this.model.changed.connect(this._render, this);
    this.model.ticked.connect(this._tick, this);
    this._list.addEventListener('contextmenu', this._onContext, true);
    this._list.addEventListener('pointerdown', this._onPointerDown);
    this._render();
  }

  /** The row a context-menu command applies to (the last one right-clicked). */
  get contextRef(): IStudyRef | null {
    return this._contextRef;
  }

  dispose(): void {
    this.model.changed.disconnect(this._render, this);
    this.model.ticked.disconnect(this._tick, this);
    super.dispose();
  }

  private async _addStorage(): Promise<void> {
    const url = this._input.value.trim();
    if (!url) {
      return;
    }
    this._formError.textContent = '';
    try {
      const info = await this.model.addStorage(url);
      this._input.value = '';
      if (info.error) {
        this._formError.textContent = info.error;
      }
    } catch (error) {
      this._formError.textContent = (error as Error).message;
    }
  }

  private _tick(): void {
    this._error.textContent = this.model.error ? `Cannot list studies: ${this.model.error}` : '';
    const now = Date.now() / 1000;
    for (const node of Array.from(this._list.querySelectorAll<HTMLElement>('.hpo-StudyRow-ago'))) {
      const t = node.dataset.time;
      node.textContent = formatAgo(t ? Number(t) : null, now);
    }
  }

  private _render(): void {
    const groups = this.model.groups;
    this._list.replaceChildren(...groups.map(g => this._group(g)));
    if (!groups.length) {
      this._list.appendChild(el('div', 'hpo-Sidebar-empty', 'No storages yet.'));
    }
    this._tick();
  }

  private _group(g: IStorageGroup): HTMLElement {
    const node = el('section', 'hpo-StorageGroup');
    node.dataset.storage = g.storage.id;
    const head = el('div', 'hpo-StorageGroup-header');
    const label = el('span', 'hpo-StorageGroup-label', g.storage.label);
    label.title = g.storage.url;
    head.appendChild(label);
    head.appendChild(el('span', 'hpo-StorageGroup-count', `${g.studies.length}`));
    if (g.storage.removable) {
      const rm = el('button', 'hpo-Button hpo-IconButton', '×');
      rm.title = 'Forget this storage (its studies stay)';
      rm.onclick = () => void this.model.removeStorage(g.storage.id);
      head.appendChild(rm);
    }
    node.appendChild(head);
    const error = g.error ?? g.storage.error;
    if (error) {
      node.appendChild(el('div', 'hpo-StorageGroup-error', error));
    }
    if (!g.studies.length && !error) {
      node.appendChild(
        el('div', 'hpo-StorageGroup-empty', g.storage.exists ? 'No studies.' : 'No file yet.')
      );
    }
    for (const s of g.studies) {
      node.appendChild(this._row(g.storage.id, s));
    }
    return node;
  }

  private _row(storage: string, s: IStudySummary): HTMLElement {
    const row = el('div', `hpo-StudyRow hpo-mod-${s.state}`);
    row.dataset.storage = storage;
    row.dataset.name = s.name;
    row.title = `${s.name}: ${s.state}${s.state_reason ? ` (${s.state_reason})` : ''}` +
      (s.driver ? `\ndriver ${s.driver}` : '') + '\nDrag into a notebook for a cell that loads it.';

    const top = el('div', 'hpo-StudyRow-top');
    const name = el('span', 'hpo-StudyRow-name', s.name);
    name.onclick = () => void this.commands.execute(CommandIDs.openDashboard, { storage, name: s.name });
    top.append(name, el('span', `hpo-StateBadge hpo-mod-${s.state}`, STATE_LABELS[s.state]));
    row.appendChild(top);

    const progress = el('div', 'hpo-StudyRow-progress');
    const bar = el('div', 'hpo-ProgressBar');
    const fill = el('div', 'hpo-ProgressBar-fill');
    const fraction = progressFraction(s.done, s.target);
    fill.style.width = `${Math.round((fraction ?? (s.done ? 1 : 0)) * 100)}%`;
    if (fraction === null) {
      bar.classList.add('hpo-mod-unbounded');
    }
    bar.appendChild(fill);
    progress.append(bar, el('span', 'hpo-StudyRow-done', formatProgress(s.done, s.target)));
    row.appendChild(progress);

    const info = el('div', 'hpo-StudyRow-info');
    info.append(
      el('span', 'hpo-StudyRow-counts', formatCounts(s)),
      el('span', 'hpo-StudyRow-best', `best ${formatBest(s)}`)
    );
    const ago = el('span', 'hpo-StudyRow-ago');
    if (s.last_update !== null) {
      ago.dataset.time = String(s.last_update);
    }
    info.appendChild(ago);
    row.appendChild(info);

    const actions = el('div', 'hpo-StudyRow-actions');
    const button = (label: string, command: string, cls: string, caption: string) => {
      const b = el('button', `hpo-Button ${cls}`, label);
      b.title = caption;
      b.onclick = event => {
        event.stopPropagation();
        void this.commands.execute(command, { storage, name: s.name });
      };
      actions.appendChild(b);
    };
    button('Dashboard', CommandIDs.openDashboard, 'hpo-action-dashboard', 'Open the dashboard');
    button('Insert cell', CommandIDs.insertLoad, 'hpo-action-insert', 'Insert a cell that loads it into the active notebook');
    if (s.state === 'running') {
      button('Stop', CommandIDs.stop, 'hpo-action-stop hpo-mod-warn', 'Stop the run (wherever it runs)');
    }
    row.appendChild(actions);
    return row;
  }

  private _refOf(target: EventTarget | null): IStudyRef | null {
    const row = (target as HTMLElement | null)?.closest?.('.hpo-StudyRow') as HTMLElement | null;
    return row && row.dataset.storage && row.dataset.name
      ? { storage: row.dataset.storage, name: row.dataset.name }
      : null;
  }

  private _onContext = (event: MouseEvent): void => {
    this._contextRef = this._refOf(event.target);
  };

  /** Drag a row into a notebook: a code cell that loads the study (dask-labextension's way). */
  private _onPointerDown = (event: PointerEvent): void => {
    const ref = this._refOf(event.target);
    if (!ref || event.button !== 0 || (event.target as HTMLElement).closest('button')) {
      return;
    }
    const startX = event.clientX;
    const startY = event.clientY;
    let code: Promise<string> | null = null;
    const move = (e: PointerEvent) => {
      if (Math.abs(e.clientX - startX) + Math.abs(e.clientY - startY) < 6) {
        return;
      }
      cleanup();
      code = code ?? this._code(ref);
      void code.then(source => this._startDrag(source, e.clientX, e.clientY), () => undefined);
    };
    const cleanup = () => {
      document.removeEventListener('pointermove', move, true);
      document.removeEventListener('pointerup', cleanup, true);
    };
    document.addEventListener('pointermove', move, true);
    document.addEventListener('pointerup', cleanup, true);
  };

  private async _code(ref: IStudyRef): Promise<string> {
    const answer = await this.api.get<ICodeResponse>(studyPath(ref, 'code'), { kind: 'load' });
    return answer.code;
  }

  private _startDrag(source: string, x: number, y: number): void {
    const image = el('div', 'hpo-DragImage', 'Drop into a notebook');
    const mimeData = new MimeData();
    const drag = new Drag({
      mimeData,
      dragImage: image,
      proposedAction: 'copy',
      supportedActions: 'copy',
      source: this
    });
    mimeData.setData(JUPYTER_CELL_MIME, [
      { cell_type: 'code', source, metadata: {}, outputs: [], execution_count: null }
    ]);
    mimeData.setData('text/plain', source);
    void drag.start(x, y);
  }

  private _list: HTMLElement;
  private _error: HTMLElement;
  private _input: HTMLInputElement;
  private _formError: HTMLElement;
  private _contextRef: IStudyRef | null = null;
}
