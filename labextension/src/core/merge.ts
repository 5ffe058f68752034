/** Merging incremental server answers into what the UI holds (pure). */

import type { IStorageGroup, IStorageInfo, IStudySummary, ITrialRow } from './types.js';

/**
 * The trials table after an answer of `GET study?since=`: `full` replaces, otherwise rows are
 * merged by trial number.  Returns a new array sorted by number; `rows` itself is not changed.
 */
export function mergeTrials(rows: ITrialRow[], incoming: ITrialRow[], full: boolean): ITrialRow[] {
  if (full) {
    return [...incoming].sort((a, b) => a.number - b.number);
  }
  if (incoming.length === 0) {
    return rows;
  }
  const out = rows.slice();
  const index = new Map<number, number>();
  out.forEach((r, i) => index.set(r.number, i));
  let appended = false;
  for (const r of incoming) {
    const at = index.get(r.number);
    if (at === undefined) {
      index.set(r.number, out.length);
      out.push(r);
      appended = true;
    } else {
      out[at] = r;
    }
  }
  if (appended) {
    out.sort((a, b) => a.number - b.number);
  }
  return out;
}

/** Trial numbers whose row differs between two tables (for redrawing only those rows). */
export function changedNumbers(before: ITrialRow[], after: ITrialRow[]): number[] {
  const old = new Map(before.map(r => [r.number, JSON.stringify(r)]));
  return after.filter(r => old.get(r.number) !== JSON.stringify(r)).map(r => r.number);
}

/** Sorted by state (running first) then most recently updated first, then name. */
export function sortStudies(studies: IStudySummary[]): IStudySummary[] {
  const rank = { running: 0, stopped: 1, failed: 1, finished: 2 } as const;
  return [...studies].sort(
    (a, b) =>
      rank[a.state] - rank[b.state] ||
      (b.last_update ?? 0) - (a.last_update ?? 0) ||
      a.name.localeCompare(b.name)
  );
}

/**
 * The sidebar's groups after a poll: keeps the storages' order from the server, keeps the
 * previous studies of a storage whose answer was "not modified" (`null`), and records errors.
 */
export function mergeGroups(
  storages: IStorageInfo[],
  previous: IStorageGroup[],
  answers: Map<string, IStudySummary[] | null | Error>
): IStorageGroup[] {
  const before = new Map(previous.map(g => [g.storage.id, g]));
  return storages.map(storage => {
    const answer = answers.get(storage.id);
    const old = before.get(storage.id);
    if (answer instanceof Error) {
      return { storage, studies: old ? old.studies : [], error: answer.message };
    }
    if (answer === null || answer === undefined) {
      return { storage, studies: old ? old.studies : [], error: old ? old.error : null };
    }
    return { storage, studies: sortStudies(answer), error: null };
  });
}

/** True when two group lists would render the same (skip a DOM rebuild). */
export function sameGroups(a: IStorageGroup[], b: IStorageGroup[]): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
