/** How often to poll (pure): fast while something runs, slower when idle. */

import type { IStorageGroup, IStudySummary } from './types.js';

/** Poll interval while a study runs: within ~1 s of a trial finishing. */
export const RUNNING_INTERVAL_MS = 1000;
/** Nothing running: a new run (from a terminal, another kernel) shows within this. */
export const IDLE_INTERVAL_MS = 5000;
/** Upper bound of the backoff after errors. */
export const MAX_INTERVAL_MS = 30000;

export function anyRunning(groups: IStorageGroup[] | IStudySummary[][]): boolean {
  for (const g of groups as Array<IStorageGroup | IStudySummary[]>) {
    const studies = Array.isArray(g) ? g : g.studies;
    if (studies.some(s => s.state === 'running')) {
      return true;
    }
  }
  return false;
}

/** The interval for the next poll given whether anything runs and how many errors in a row. */
export function pollInterval(running: boolean, consecutiveErrors = 0): number {
  const base = running ? RUNNING_INTERVAL_MS : IDLE_INTERVAL_MS;
  if (consecutiveErrors <= 0) {
    return base;
  }
  return Math.min(MAX_INTERVAL_MS, base * 2 ** Math.min(consecutiveErrors, 5));
}

/** Figures cost more than the table: refresh them at most this often while a study runs. */
export function figureInterval(nTrials: number): number {
  if (nTrials < 1000) {
    return 1000;
  }
  if (nTrials < 5000) {
    return 3000;
  }
  return 6000;
}
