/** Pure formatting for the sidebar, dashboard and status bar (no DOM, no JupyterLab). */

import type { IStudySummary, StudyState } from './types.js';

/** A number the way a person reads a score: 4 significant digits, no exponent for ordinary sizes. */
export function formatValue(value: number | null | undefined): string {
  if (value === null || value === undefined || Number.isNaN(value)) {
    return '–';
  }
  if (!Number.isFinite(value)) {
    return value > 0 ? '∞' : '-∞';
  }
  if (value === 0) {
    return '0';
  }
  const abs = Math.abs(value);
  if (abs >= 1e6 || abs < 1e-4) {
    return value.toExponential(3).replace(/\.?0+e/, 'e');
  }
  const text = value.toPrecision(4);
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

/** "done/target" or just "done" when the study has no budget. */
export function formatProgress(done: number, target: number | null): string {
  return target === null || target === undefined ? `${done}` : `${done}/${target}`;
}

/** Fraction in [0, 1] for the progress bar; null when there is no target. */
export function progressFraction(done: number, target: number | null): number | null {
  if (target === null || target === undefined || target <= 0) {
    return null;
  }
  return Math.max(0, Math.min(1, done / target));
}

/** "5 s ago", "3 min ago", "2 h ago", "4 d ago" for a POSIX time in seconds. */
export function formatAgo(then: number | null, nowSeconds: number): string {
  if (then === null || then === undefined) {
    return 'never';
  }
  const s = Math.max(0, Math.round(nowSeconds - then));
  if (s < 5) {
    return 'just now';
  }
  if (s < 60) {
    return `${s} s ago`;
  }
  if (s < 3600) {
    return `${Math.floor(s / 60)} min ago`;
  }
  if (s < 86400) {
    return `${Math.floor(s / 3600)} h ago`;
  }
  return `${Math.floor(s / 86400)} d ago`;
}

/** "12.3 s", "4 min 05 s", "1 h 02 min". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) {
    return '–';
  }
  if (seconds < 60) {
    return `${seconds < 10 ? seconds.toFixed(2) : seconds.toFixed(1)} s`;
  }
  const m = Math.floor(seconds / 60);
  if (m < 60) {
    return `${m} min ${String(Math.floor(seconds % 60)).padStart(2, '0')} s`;
  }
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** "complete 12 · pruned 3 · failed 1" (lost trials counted with the failures' tooltip). */
export function formatCounts(s: IStudySummary): string {
  const parts = [`✓ ${s.complete}`, `✂ ${s.pruned}`, `✗ ${s.failed}`];
  if (s.lost) {
    parts.push(`lost ${s.lost}`);
  }
  return parts.join(' · ');
}

/** The best column: the value (single objective) or the Pareto front's size. */
export function formatBest(s: IStudySummary): string {
  if (s.pareto_size !== null && s.pareto_size !== undefined) {
    return `Pareto ${s.pareto_size}`;
  }
  return formatValue(s.best_value);
}

export const STATE_LABELS: Record<StudyState, string> = {
  running: 'running',
  finished: 'finished',
  stopped: 'stopped',
  failed: 'failed'
};

/** A JSON-ish, readable rendering of a parameter value for the table. */
export function formatParam(value: unknown): string {
  if (typeof value === 'number') {
    return Number.isInteger(value) ? String(value) : formatValue(value);
  }
  if (value === null || value === undefined) {
    return '';
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Best params as pretty JSON for the clipboard. */
export function bestParamsText(params: Record<string, unknown>): string {
  return JSON.stringify(params, null, 2);
}
