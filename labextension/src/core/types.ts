/**
 * Wire shapes of the REST API under `/hpo-widget/api/`, written from
 * `hpo_widget/server/_protocol.py` (the one definition; keep the two in step).
 */

export type StorageSource = 'env' | 'config' | 'root' | 'ui';
export type StudyState = 'running' | 'finished' | 'stopped' | 'failed';
export type CodeKind = 'load' | 'resume';

export interface IStorageInfo {
  id: string;
  label: string;
  url: string;
  kind: 'journal' | 'rdb' | 'grpc';
  sources: StorageSource[];
  exists: boolean;
  removable: boolean;
  error: string | null;
}

export interface IStoragesResponse {
  storages: IStorageInfo[];
}

export interface IStudySummary {
  name: string;
  state: StudyState;
  state_reason: string | null;
  done: number;
  target: number | null;
  complete: number;
  pruned: number;
  failed: number;
  lost: number;
  running: number;
  directions: Array<'minimize' | 'maximize'>;
  best_value: number | null;
  best_trial: number | null;
  pareto_size: number | null;
  last_update: number | null;
  driver: string | null;
}

export interface IStudiesResponse {
  storage: string;
  studies: IStudySummary[];
}

export interface ITrialRow {
  number: number;
  state: 'running' | 'complete' | 'pruned' | 'fail';
  values: Array<number | null> | null;
  params: Record<string, unknown>;
  duration: number | null;
  start: number | null;
  complete: number | null;
  worker: string | null;
  lost: boolean;
  fail_reason: string | null;
}

export interface IFigureKindInfo {
  name: string;
  title: string;
  label: string;
  slow: boolean;
}

export interface IStudyDetail {
  storage: string;
  study: IStudySummary;
  metric_names: string[] | null;
  param_names: string[];
  figures: IFigureKindInfo[];
  trials: ITrialRow[];
  full: boolean;
  cursor: string;
}

export interface IFigure {
  data: unknown[];
  layout: Record<string, unknown>;
}

export interface IFiguresResponse {
  figures: Record<string, IFigure>;
  skipped: Record<string, string>;
}

export interface IBestTrial {
  number: number;
  values: Array<number | null>;
  params: Record<string, unknown>;
}

export interface IBestResponse {
  directions: string[];
  best: IBestTrial[];
}

export interface IStopResponse {
  requested: boolean;
  run_id: string | null;
  driver: string | null;
  message: string;
}

export interface IReportResponse {
  path: string;
}

export interface ICodeResponse {
  kind: CodeKind;
  code: string;
}

/** One storage with its studies, as the sidebar holds it. */
export interface IStorageGroup {
  storage: IStorageInfo;
  studies: IStudySummary[];
  /** Why the last read of this storage failed, else null. */
  error: string | null;
}
