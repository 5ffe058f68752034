/** The status bar item while studies run: "2 running · 134/200 · best 0.912". */

import { Widget } from '@lumino/widgets';

import { statusText } from './core/status';
import { StudiesModel } from './model';

export class RunningStatus extends Widget {
  constructor(
    readonly model: StudiesModel,
    onClick: () => void
  ) {
    super();
    this.addClass('hpo-StatusItem');
    this.node.title = 'Hyperparameter studies running: click to show them';
    this.node.onclick = onClick;
    model.changed.connect(this._update, this);
    this._update();
  }

  /** Shown only while a study runs (the status bar asks through `isActive`). */
  get active(): boolean {
    return this._text !== '';
  }

  dispose(): void {
    this.model.changed.disconnect(this._update, this);
    super.dispose();
  }

  private _update(): void {
    this._text = statusText(this.model.groups);
    this.node.textContent = this._text;
    this.node.dataset.active = this.active ? 'true' : 'false';
  }

  private _text = '';
}
