/** The status bar's text, from every storage's studies (pure). */

import { formatValue } from './format.js';
import type { IStorageGroup, IStudySummary } from './types.js';

export interface IRunningSummary {
  running: IStudySummary[];
  done: number;
  /** Sum of the targets; null when some running study has no budget. */
  target: number | null;
  /** The best value of the running study that changed last (single objective), else null. */
  best: number | null;
}

export function runningSummary(groups: IStorageGroup[]): IRunningSummary {
  const running = groups.flatMap(g => g.studies.filter(s => s.state === 'running'));
  let done = 0;
  let target: number | null = 0;
  for (const s of running) {
    done += s.done;
    target = target === null || s.target === null ? null : target + s.target;
  }
  const latest = [...running]
    .filter(s => s.best_value !== null && s.directions.length === 1)
    .sort((a, b) => (b.last_update ?? 0) - (a.last_update ?? 0))[0];
  return { running, done, target, best: latest ? latest.best_value : null };
}

/** "2 running · 134/200 · best 0.912", or '' when nothing runs (the item hides). */
export function statusText(groups: IStorageGroup[]): string {
  const r = runningSummary(groups);
  if (r.running.length === 0) {
    return '';
  }
  const parts = [`${r.running.length} running`];
  parts.push(r.target === null ? `${r.done} done` : `${r.done}/${r.target}`);
  if (r.best !== null) {
    parts.push(`best ${formatValue(r.best)}`);
  }
  return parts.join(' · ');
}
