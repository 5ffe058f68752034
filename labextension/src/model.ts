/**
 * One poller of every storage's studies, read by the sidebar and the status bar: ~1 s while
 * something runs, slower when idle, on standby while the browser tab is hidden, with backoff
 * on errors.  Each storage's studies are asked for with their ETag, so an idle poll costs a
 * `stat` on the server and a 304 here.
 */

import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { HpoAPI } from './api';
import { mergeGroups, sameGroups } from './core/merge';
import { anyRunning, pollInterval } from './core/poll';
import type {
  IStorageGroup,
  IStorageInfo,
  IStoragesResponse,
  IStudiesResponse,
  IStudySummary
} from './core/types';

export class StudiesModel {
  constructor(readonly api: HpoAPI) {
    this._poll = new Poll({
      auto: true,
      factory: () => this._refresh(),
      frequency: { interval: this._idle, backoff: true, max: 30000 },
      name: 'hpo-widget:studies',
      standby: 'when-hidden'
    });
  }

  get groups(): IStorageGroup[] {
    return this._groups;
  }

  /** Emitted when the groups changed (not on every poll). */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Emitted after every poll (the sidebar refreshes its "x s ago" texts). */
  get ticked(): ISignal<this, void> {
    return this._ticked;
  }

  get error(): string | null {
    return this._error;
  }

  get running(): boolean {
    return anyRunning(this._groups);
  }

  setIntervals(running: number, idle: number): void {
    this._runningMs = running;
    this._idle = idle;
    this._retune();
  }

  /** Poll now (after an action), not at the next tick. */
  refresh(): Promise<void> {
    return this._poll.refresh();
  }

  find(storage: string, name: string): IStudySummary | undefined {
    return this._groups.find(g => g.storage.id === storage)?.studies.find(s => s.name === name);
  }

  async addStorage(url: string): Promise<IStorageInfo> {
    const info = await this.api.post<IStorageInfo>('storages', { url });
    await this.refresh();
    return info;
  }

  async removeStorage(id: string): Promise<void> {
    await this.api.del(`storages/${encodeURIComponent(id)}`);
    await this.refresh();
  }

  dispose(): void {
    this._poll.dispose();
  }

  private async _refresh(): Promise<void> {
    let storages: IStorageInfo[];
    try {
      storages = (await this.api.get<IStoragesResponse>('storages')).storages;
    } catch (error) {
      this._error = String((error as Error).message ?? error);
      this._ticked.emit();
      throw error; // the poll backs off
    }
    this._error = null;
    const answers = new Map<string, IStudySummary[] | null | Error>();
    await Promise.all(
      storages.map(async s => {
        try {
          const answer = await this.api.request<IStudiesResponse>(
            `storages/${encodeURIComponent(s.id)}/studies`,
            { etag: this._etags.get(s.id) ?? null }
          );
          if (answer.etag) {
            this._etags.set(s.id, answer.etag);
          }
          answers.set(s.id, answer.data ? answer.data.studies : null);
        } catch (error) {
          this._etags.delete(s.id);
          answers.set(s.id, error as Error);
        }
      })
    );
    const groups = mergeGroups(storages, this._groups, answers);
    if (!sameGroups(groups, this._groups)) {
      this._groups = groups;
      this._changed.emit();
    }
    this._retune();
    this._ticked.emit();
  }

  private _retune(): void {
    const interval = this.running ? this._runningMs : this._idle;
    if (this._poll.frequency.interval !== interval) {
      this._poll.frequency = { ...this._poll.frequency, interval };
    }
  }

  private _poll: Poll;
  private _groups: IStorageGroup[] = [];
  private _etags = new Map<string, string>();
  private _error: string | null = null;
  private _runningMs = pollInterval(true);
  private _idle = pollInterval(false);
  private _changed = new Signal<this, void>(this);
  private _ticked = new Signal<this, void>(this);
}
