/**
 * A study's dashboard tab: the panel's figures (built by `hpo_widget.plots` on the server,
 * drawn here with plotly.js, which is loaded on first use as its own chunk) and the trials
 * table, updated live: the table through the `since` cursor (only changed rows travel), the
 * figures through their ETag at a rate that falls with the study's size.
 */

import { CommandRegistry } from '@lumino/commands';
import { Poll } from '@lumino/polling';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { HpoAPI, IAnswer } from './api';
import { IStudyRef, studyPath } from './core/cells';
import {
  formatAgo,
  formatBest,
  formatCounts,
  formatDuration,
  formatParam,
  formatProgress,
  formatValue,
  progressFraction,
  STATE_LABELS
} from './core/format';
import { mergeTrials } from './core/merge';
import { figureInterval, pollInterval } from './core/poll';
import { isDarkColor, themedLayout } from './core/theme';
import { withWebGL } from './core/traces';
import type {
  IFigure,
  IFigureKindInfo,
  IFiguresResponse,
  IStudyDetail,
  ITrialRow
} from './core/types';
import { hasWebGL, loadingPlotly, loadPlotly } from './plotly';
import { CommandIDs } from './sidebar';

const PAGE = 100;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string) {
  const node = document.createElement(tag);
  if (cls) {
    node.className = cls;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

export function themeIsDark(): boolean {
  const light = document.body.dataset.jpThemeLight;
  if (light !== undefined) {
    return light === 'false';
  }
  return isDarkColor(getComputedStyle(document.body).getPropertyValue('--jp-layout-color0'));
}

function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;
}

export class StudyDashboard extends Widget {
  constructor(
    readonly ref: IStudyRef,
    readonly api: HpoAPI,
    readonly commands: CommandRegistry
  ) {
    super();
    this.addClass('hpo-Dashboard');
    this.id = `hpo-dashboard-${ref.storage}-${encodeURIComponent(ref.name)}`.replace(/%/g, '_');
    this.title.label = ref.name;
    this.title.caption = `Study ${ref.name}`;
    this._opened = performance.now();

    this._header = el('div', 'hpo-Dashboard-header');
    this._figures = el('div', 'hpo-Dashboard-figures');
    const tableBox = el('div', 'hpo-Dashboard-tableBox');
    this._pager = el('div', 'hpo-Dashboard-pager');
    this._table = el('table', 'hpo-TrialsTable');
    tableBox.append(el('h3', 'hpo-Dashboard-section', 'Trials'), this._pager, this._table);
    this._status = el('div', 'hpo-Dashboard-status');
    this.node.append(this._header, this._status, this._figures, tableBox);

    void loadPlotly(); // its chunk loads while the first requests run
    // The figure first shown for a single-objective study, asked for with the table rather than
    // after it (the kinds come with the table).  A multi-objective study shows its Pareto front
    // first, and this history waits in the server's cache for a click on its tab.
    const answer = this.api.request<IFiguresResponse>(studyPath(this.ref, 'figures'), {
      query: { kinds: 'history' }
    });
    answer.catch(() => undefined); // a failure shows when (if) the tab uses it
    this._prefetch = { name: 'history', answer };
    this._poll = new Poll({
      auto: true,
      factory: () => this._update(),
      frequency: { interval: pollInterval(true), backoff: true, max: 30000 },
      name: `hpo-widget:dashboard:${ref.name}`,
      // The first load runs even before the tab is attached; later ones only while it shows.
      standby: () => document.hidden || (this._readyDone && !this.isVisible)
    });
    this._mark('constructed');
  }

  /** Resolves when the first table and figures are drawn (ms since the tab was created). */
  get ready(): Promise<number> {
    return this._ready;
  }

  /** Redraw the figures in the current theme's colours. */
  restyle(): void {
    // The theme's CSS is in place one frame after the theme manager says so.
    requestAnimationFrame(() => {
      const fig = this._active ? this._cache.get(this._active) : undefined;
      if (fig) {
        void this._draw(fig, false);
      }
    });
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._poll.dispose();
    const plotly = loadingPlotly();
    if (plotly) {
      void plotly.then(P => this._plot && P.purge(this._plot));
    }
    super.dispose();
  }

  protected onAfterAttach(msg: Message): void {
    this._mark('attached');
  }

  protected onAfterShow(msg: Message): void {
    void this._poll.refresh();
    this._resizePlots();
  }

  protected onResize(msg: Widget.ResizeMessage): void {
    this._resizePlots();
  }

  private _resizePlots(): void {
    const plotly = loadingPlotly();
    if (!plotly) {
      return;
    }
    void plotly.then(P => this._drawn && this._plot.isConnected && P.Plots.resize(this._plot));
  }

  private _mark(what: string): void {
    this._timing[what] = Math.round(performance.now() - this._opened);
    this.node.dataset.timing = JSON.stringify(this._timing);
  }

  private async _update(): Promise<void> {
    this._mark(`update${this._updates}`);
    const answer = await this.api.request<IStudyDetail>(studyPath(this.ref), {
      query: { since: this._cursor ?? undefined },
      etag: this._etag
    });
    this._etag = answer.etag;
    const detail = answer.data;
    this._mark('detail');
    if (detail) {
      this._bytes = answer.bytes;
      this._cursor = detail.cursor;
      const changed = detail.full || detail.trials.length > 0;
      this._rows = mergeTrials(this._rows, detail.trials, detail.full);
      this._detail = detail;
      this._renderHeader();
      if (changed || !this._tableDrawn) {
        this._renderTable();
        this._mark('table');
      }
    }
    const running = this._detail?.study.state === 'running';
    const interval = pollInterval(running);
    if (this._poll.frequency.interval !== interval) {
      this._poll.frequency = { ...this._poll.frequency, interval };
    }
    if (this._detail && !this._tabsBuilt) {
      this._buildTabs();
    }
    if (detail && (detail.full || detail.trials.length > 0)) {
      for (const kind of this._kinds) {
        if (!kind.slow) {
          this._stale.add(kind.name);
        }
      }
    }
    const due = performance.now() - this._figuresAt >= figureInterval(this._rows.length);
    if (this._active && (!this._cache.has(this._active) || (this._stale.has(this._active) && due))) {
      await this._showFigure(this._active);
    }
    this.node.dataset.updates = String(++this._updates);
    this.node.dataset.lastBytes = String(this._bytes);
    this._checkReady();
  }

  /** One tab per figure kind (the panel's figure tabs): only the shown one is fetched and drawn. */
  private _buildTabs(): void {
    this._tabsBuilt = true;
    this._kinds = this._detail?.figures ?? [];
    const bar = el('div', 'hpo-FigureTabs');
    bar.setAttribute('role', 'tablist');
    for (const kind of this._kinds) {
      const tab = el('button', 'hpo-FigureTab', kind.label || kind.title);
      tab.dataset.kind = kind.name;
      tab.title = kind.title + (kind.slow ? ' (takes a few seconds)' : '');
      tab.setAttribute('role', 'tab');
      tab.onclick = () => void this._showFigure(kind.name);
      bar.appendChild(tab);
    }
    this._box = el('div', 'hpo-FigureBox');
    this._plot = el('div', 'hpo-Figure');
    this._note = el('div', 'hpo-FigureNote');
    this._box.append(this._note, this._plot);
    this._figures.replaceChildren(bar, this._box);
    const first = this._kinds.find(k => !k.slow) ?? this._kinds[0];
    this._active = first ? first.name : null;
    this._markTabs();
  }

  private _markTabs(): void {
    for (const tab of Array.from(this._figures.querySelectorAll<HTMLElement>('.hpo-FigureTab'))) {
      const on = tab.dataset.kind === this._active;
      tab.classList.toggle('hpo-mod-active', on);
      tab.setAttribute('aria-selected', on ? 'true' : 'false');
    }
  }

  /** The figures request for one kind; the prefetched one when it is that kind. */
  private _requestFigure(name: string): Promise<IAnswer<IFiguresResponse>> {
    const early = this._prefetch;
    if (early && early.name === name) {
      this._prefetch = null;
      return early.answer;
    }
    return this.api.request<IFiguresResponse>(studyPath(this.ref, 'figures'), {
      query: { kinds: name },
      etag: this._figEtags.get(name) ?? null
    });
  }

  /** Show a kind: fetch it when stale (304 while the storage is unchanged), draw it. */
  private async _showFigure(name: string): Promise<void> {
    const switching = this._active !== name;
    this._active = name;
    this._markTabs();
    const kind = this._kinds.find(k => k.name === name);
    let fig = this._cache.get(name);
    if (!fig || this._stale.has(name)) {
      this._figuresAt = performance.now();
      if (!fig) {
        this._note.textContent = kind?.slow ? `Computing ${kind.title}…` : 'Loading…';
      }
      const seq = ++this._fetchSeq;
      try {
        const answer = await this._requestFigure(name);
        if (answer.etag) {
          this._figEtags.set(name, answer.etag);
        }
        this._mark(`fetched ${name}`);
        this._stale.delete(name);
        if (answer.data) {
          if (name in answer.data.skipped) {
            this._note.textContent = answer.data.skipped[name];
          }
          if (answer.data.figures[name]) {
            fig = answer.data.figures[name];
            this._cache.set(name, fig);
          }
        }
      } catch (error) {
        this._note.textContent = `${kind?.title ?? name}: ${(error as Error).message}`;
        return;
      }
      if (seq !== this._fetchSeq && this._active !== name) {
        return; // another tab was picked meanwhile
      }
    }
    if (this._active !== name) {
      return;
    }
    if (!fig) {
      const plotly = loadingPlotly();
      if (this._plot && plotly) {
        (await plotly).purge(this._plot);
      }
      return;
    }
    this._note.textContent = '';
    await this._draw(fig, switching);
    this._checkReady();
  }

  private async _draw(fig: IFigure, fresh: boolean): Promise<void> {
    const P = await loadPlotly();
    this._mark('plotly');
    if (fresh) {
      P.purge(this._plot); // another kind: no diffing against the previous one
    }
    const dark = themeIsDark();
    const colors = {
      font: cssVar('--jp-ui-font-color1', dark ? '#e0e0e0' : '#212121'),
      grid: cssVar('--jp-border-color2', dark ? '#444' : '#e0e0e0'),
      background: cssVar('--jp-layout-color1', dark ? '#111' : '#fff'),
      fontFamily: cssVar('--jp-ui-font-family', 'sans-serif')
    };
    const layout = themedLayout({ ...fig.layout, height: 420 }, dark, colors);
    const t0 = performance.now();
    await P.react(this._plot, withWebGL(fig.data, hasWebGL()), layout, {
      responsive: true,
      displaylogo: false,
      modeBarButtonsToRemove: ['toImage']
    });
    this._box.dataset.kind = this._active ?? '';
    this._box.dataset.drawMs = (performance.now() - t0).toFixed(0);
    this._box.dataset.theme = dark ? 'dark' : 'light';
    this._drawn = true;
    this._mark(`drawn ${this._active}`);
  }

  /** Ready: the table and the shown figure are drawn. */
  private _checkReady(): void {
    if (this._readyDone || !this._tableDrawn || !this._drawn) {
      return;
    }
    this._readyDone = true;
    const ms = performance.now() - this._opened;
    this.node.dataset.openMs = ms.toFixed(0);
    this._resolveReady(ms);
  }

  private _renderHeader(): void {
    const d = this._detail;
    if (!d) {
      return;
    }
    const s = d.study;
    const title = el('div', 'hpo-Dashboard-title');
    title.append(
      el('h2', 'hpo-Dashboard-name', s.name),
      el('span', `hpo-StateBadge hpo-mod-${s.state}`, STATE_LABELS[s.state])
    );
    const bar = el('div', 'hpo-ProgressBar hpo-Dashboard-progress');
    const fill = el('div', 'hpo-ProgressBar-fill');
    fill.style.width = `${Math.round((progressFraction(s.done, s.target) ?? (s.done ? 1 : 0)) * 100)}%`;
    bar.appendChild(fill);
    const facts = el('div', 'hpo-Dashboard-facts');
    facts.append(
      el('span', 'hpo-Dashboard-done', formatProgress(s.done, s.target)),
      el('span', 'hpo-Dashboard-counts', formatCounts(s)),
      el('span', 'hpo-Dashboard-best', `best ${formatBest(s)}${s.best_trial !== null ? ` (#${s.best_trial})` : ''}`),
      el('span', 'hpo-Dashboard-ago', `updated ${formatAgo(s.last_update, Date.now() / 1000)}`)
    );
    if (s.state_reason) {
      facts.appendChild(el('span', 'hpo-Dashboard-reason', s.state_reason));
    }
    const actions = el('div', 'hpo-Dashboard-actions');
    const args = { storage: this.ref.storage, name: this.ref.name };
    const button = (label: string, command: string, cls = '') => {
      const b = el('button', `hpo-Button ${cls}`, label);
      b.onclick = () => void this.commands.execute(command, args);
      actions.appendChild(b);
    };
    button('Insert cell', CommandIDs.insertLoad);
    button('Copy best params', CommandIDs.copyBest);
    button('Report', CommandIDs.report);
    if (s.state === 'running') {
      button('Stop', CommandIDs.stop, 'hpo-mod-warn');
    }
    this._header.replaceChildren(title, bar, facts, actions);
    this.title.label = `${s.name}${s.state === 'running' ? ' ●' : ''}`;
  }

  private _renderTable(): void {
    this._tableDrawn = true;
    const d = this._detail;
    const metrics = d?.metric_names ?? (d && d.study.directions.length > 1
      ? d.study.directions.map((_, i) => `value ${i}`)
      : ['value']);
    const params = d?.param_names ?? [];
    const rows = this._rows;
    const pages = Math.max(1, Math.ceil(rows.length / PAGE));
    this._page = Math.min(this._page, pages - 1);
    // Newest first: the live end of the study is what a person watches.
    const end = rows.length - this._page * PAGE;
    const shown = rows.slice(Math.max(0, end - PAGE), end).reverse();

    const head = el('thead');
    const hr = el('tr');
    for (const h of ['#', 'state', ...metrics, ...params, 'duration', 'worker']) {
      hr.appendChild(el('th', '', h));
    }
    head.appendChild(hr);
    const body = el('tbody');
    const now = Date.now() / 1000;
    for (const r of shown) {
      body.appendChild(this._tr(r, metrics.length, params, now));
    }
    this._table.replaceChildren(head, body);

    const info = el(
      'span',
      'hpo-Dashboard-pageInfo',
      rows.length ? `rows ${end - shown.length + 1}–${end} of ${rows.length}` : 'no trials yet'
    );
    const prev = el('button', 'hpo-Button', '‹ newer');
    prev.disabled = this._page === 0;
    prev.onclick = () => { this._page--; this._renderTable(); };
    const next = el('button', 'hpo-Button', 'older ›');
    next.disabled = this._page >= pages - 1;
    next.onclick = () => { this._page++; this._renderTable(); };
    this._pager.replaceChildren(prev, info, next);
  }

  private _tr(r: ITrialRow, nMetrics: number, params: string[], now: number): HTMLElement {
    const tr = el('tr', `hpo-mod-${r.state}${r.lost ? ' hpo-mod-lost' : ''}`);
    tr.dataset.number = String(r.number);
    tr.appendChild(el('td', '', String(r.number)));
    const state = el('td', 'hpo-TrialsTable-state', r.lost ? 'lost' : r.state);
    if (r.fail_reason) {
      state.title = r.fail_reason;
    }
    tr.appendChild(state);
    for (let i = 0; i < nMetrics; i++) {
      tr.appendChild(el('td', 'hpo-TrialsTable-num', r.values ? formatValue(r.values[i]) : ''));
    }
    for (const p of params) {
      tr.appendChild(el('td', '', formatParam(r.params[p])));
    }
    const duration = r.duration ?? (r.start !== null && r.state === 'running' ? now - r.start : null);
    tr.appendChild(el('td', 'hpo-TrialsTable-num', formatDuration(duration)));
    tr.appendChild(el('td', 'hpo-TrialsTable-worker', r.worker ?? ''));
    return tr;
  }

  private _header: HTMLElement;
  private _status: HTMLElement;
  private _figures: HTMLElement;
  private _table: HTMLTableElement;
  private _pager: HTMLElement;
  private _poll: Poll;
  private _detail: IStudyDetail | null = null;
  private _rows: ITrialRow[] = [];
  private _cursor: string | null = null;
  private _etag: string | null = null;
  private _figuresAt = 0;
  private _kinds: IFigureKindInfo[] = [];
  private _active: string | null = null;
  private _cache = new Map<string, IFigure>();
  private _figEtags = new Map<string, string>();
  private _stale = new Set<string>();
  private _fetchSeq = 0;
  private _prefetch: { name: string; answer: Promise<IAnswer<IFiguresResponse>> } | null = null;
  private _tabsBuilt = false;
  private _drawn = false;
  private _box!: HTMLElement;
  private _plot!: HTMLElement;
  private _note!: HTMLElement;
  private _page = 0;
  private _tableDrawn = false;
  private _readyDone = false;
  private _opened: number;
  private _updates = 0;
  private _timing: Record<string, number> = {};
  private _bytes = 0;
  private _resolveReady: (ms: number) => void = () => undefined;
  private _ready = new Promise<number>(resolve => (this._resolveReady = resolve));
}
