/**
 * hpo_widget's JupyterLab front end: wires the plugins (dask-labextension's layout: one module
 * per view, REST through `api.ts`, pure logic in `core/`).
 */

import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  Clipboard,
  Dialog,
  ICommandPalette,
  IThemeManager,
  MainAreaWidget,
  Notification,
  showDialog,
  WidgetTracker
} from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import { LabIcon } from '@jupyterlab/ui-components';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';

import { HpoAPI } from './api';
import { dashboardId, IStudyRef, newSearchNotebook, studyPath } from './core/cells';
import { bestParamsText } from './core/format';
import type {
  IBestResponse,
  ICodeResponse,
  IReportResponse,
  IStopResponse
} from './core/types';
import { StudyDashboard } from './dashboard';
import { StudiesModel } from './model';
import { preloadPlotly } from './plotly';
import { installInsertCellBridge } from './panelcells';
import { CommandIDs, StudiesSidebar } from './sidebar';
import { RunningStatus } from './statusbar';

const PLUGIN_ID = 'hpo-widget-labextension:plugin';

const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <rect x="3" y="13" width="4" height="8" rx="1"/>
    <rect x="10" y="8" width="4" height="13" rx="1"/>
    <rect x="17" y="3" width="4" height="18" rx="1"/>
  </g>
</svg>`;

export const studiesIcon = new LabIcon({ name: 'hpo-widget:studies', svgstr: ICON_SVG });

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Live hyperparameter studies: sidebar, dashboard, launcher card and status bar.',
  autoStart: true,
  optional: [
    ICommandPalette,
    ILauncher,
    ILayoutRestorer,
    INotebookTracker,
    ISettingRegistry,
    IStatusBar,
    IThemeManager,
    ILabShell
  ],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    launcher: ILauncher | null,
    restorer: ILayoutRestorer | null,
    notebooks: INotebookTracker | null,
    settings: ISettingRegistry | null,
    statusBar: IStatusBar | null,
    themes: IThemeManager | null
  ) => {
    const { commands, shell } = app;
    if (notebooks) {
      // The panel's "Insert code cell" (a widget in a cell's output) asks for a cell below.
      installInsertCellBridge(notebooks);
    }
    const api = new HpoAPI(app.serviceManager.serverSettings);
    const model = new StudiesModel(api);
    const preload = () => {
      if (model.groups.some(g => g.studies.length > 0)) {
        model.changed.disconnect(preload);
        preloadPlotly();
      }
    };
    model.changed.connect(preload);

    const sidebar = new StudiesSidebar(model, commands, api);
    sidebar.title.icon = studiesIcon;
    shell.add(sidebar, 'left', { rank: 250, type: 'Hyperparameter studies' });
    if (restorer) {
      restorer.add(sidebar, sidebar.id);
    }

    const dashboards = new WidgetTracker<MainAreaWidget<StudyDashboard>>({
      namespace: 'hpo-widget-dashboard'
    });
    if (restorer) {
      void restorer.restore(dashboards, {
        command: CommandIDs.openDashboard,
        args: w => ({ storage: w.content.ref.storage, name: w.content.ref.name }),
        name: w => dashboardId(w.content.ref)
      });
    }
    themes?.themeChanged.connect(() => dashboards.forEach(w => w.content.restyle()));

    /** The study a command is about: its args, else the row right-clicked last. */
    const refOf = (args: ReadonlyPartialJSONObject): IStudyRef | null => {
      if (typeof args.storage === 'string' && typeof args.name === 'string') {
        return { storage: args.storage, name: args.name };
      }
      return sidebar.contextRef;
    };
    const labelled = (base: string) => (args: ReadonlyPartialJSONObject) =>
      args.name && args.withName ? `${base} ${String(args.name)}` : base;
    const failed = (what: string) => (error: unknown) => {
      Notification.error(`${what}: ${message(error)}`, { autoClose: 8000 });
    };

    commands.addCommand(CommandIDs.newSearch, {
      label: 'New hyperparameter search',
      caption: 'A notebook whose first cell loads hpo_widget and opens its panel',
      icon: args => (args.isPalette ? undefined : studiesIcon),
      execute: async args => {
        const cwd = typeof args.cwd === 'string' ? args.cwd : '';
        // Write the notebook with its cells first, then open it: replacing the cells of an
        // opened notebook (model.fromJSON) disposes cells its idle-time renderer still awaits
        // ("Cannot read properties of null (reading 'id')" in Notebook._runOnIdleTime).
        const contents = app.serviceManager.contents;
        const created = await contents.newUntitled({ path: cwd, type: 'notebook' });
        await contents.save(created.path, {
          type: 'notebook',
          format: 'json',
          content: newSearchNotebook()
        });
        const panel = (await commands.execute('docmanager:open', {
          path: created.path,
          factory: 'Notebook',
          kernel: { name: 'python3' }
        })) as NotebookPanel;
        await panel.context.ready;
        // Run the first cell once the kernel is up: the panel opens by itself.
        await panel.sessionContext.ready;
        if (!panel.isDisposed && panel.content.widgets.length) {
          panel.content.activeCellIndex = 0;
          await NotebookActions.run(panel.content, panel.sessionContext);
        }
        return panel;
      }
    });

    commands.addCommand(CommandIDs.showSidebar, {
      label: 'Show hyperparameter studies',
      execute: () => shell.activateById(sidebar.id)
    });

    commands.addCommand(CommandIDs.refresh, {
      label: 'Refresh hyperparameter studies',
      execute: () => model.refresh()
    });

    commands.addCommand(CommandIDs.openDashboard, {
      label: labelled('Open dashboard'),
      caption: 'Figures and trials table of the study, live',
      execute: args => {
        const ref = refOf(args);
        if (!ref) {
          return;
        }
        const id = dashboardId(ref);
        const open = dashboards.find(w => dashboardId(w.content.ref) === id);
        if (open) {
          shell.activateById(open.id);
          return open;
        }
        const content = new StudyDashboard(ref, api, commands);
        const widget = new MainAreaWidget({ content });
        widget.id = content.id + '-tab';
        widget.title.label = ref.name;
        widget.title.icon = studiesIcon;
        widget.title.closable = true;
        content.title.changed.connect(() => (widget.title.label = content.title.label));
        void dashboards.add(widget);
        shell.add(widget, 'main');
        shell.activateById(widget.id);
        return widget;
      }
    });

    const insert = (kind: 'load' | 'resume') => async (args: ReadonlyPartialJSONObject) => {
      const ref = refOf(args);
      if (!ref) {
        return;
      }
      const panel = notebooks?.currentWidget;
      if (!panel) {
        Notification.warning('Open a notebook first: the cell goes into the active notebook.', {
          autoClose: 6000
        });
        return;
      }
      try {
        const { code } = await api.get<ICodeResponse>(studyPath(ref, 'code'), { kind });
        const notebook = panel.content;
        if (notebook.widgets.length === 0 || notebook.activeCell === null) {
          NotebookActions.insertBelow(notebook);
        } else {
          NotebookActions.insertBelow(notebook);
        }
        const cell = notebook.activeCell;
        if (cell) {
          cell.model.sharedModel.setSource(code.replace(/\n$/, ''));
        }
        shell.activateById(panel.id);
      } catch (error) {
        failed('Cannot insert the cell')(error);
      }
    };
    commands.addCommand(CommandIDs.insertLoad, {
      label: labelled('Insert cell loading study'),
      caption: 'Insert a code cell that loads the study into the active notebook',
      execute: insert('load')
    });
    commands.addCommand(CommandIDs.insertResume, {
      label: labelled('Insert cell resuming study'),
      caption: 'Insert a code cell that resumes the study in a panel',
      execute: insert('resume')
    });

    commands.addCommand(CommandIDs.copyBest, {
      label: labelled('Copy best parameters'),
      execute: async args => {
        const ref = refOf(args);
        if (!ref) {
          return;
        }
        try {
          const best = await api.get<IBestResponse>(studyPath(ref, 'best'));
          if (!best.best.length) {
            Notification.info(`${ref.name} has no complete trial yet.`, { autoClose: 4000 });
            return;
          }
          const text =
            best.best.length === 1
              ? bestParamsText(best.best[0].params)
              : bestParamsText(Object.fromEntries(best.best.map(b => [`#${b.number}`, b.params])));
          Clipboard.copyToSystem(text);
          Notification.success(`Copied the best parameters of ${ref.name}.`, { autoClose: 3000 });
        } catch (error) {
          failed('Cannot read the best trial')(error);
        }
      }
    });

    commands.addCommand(CommandIDs.report, {
      label: labelled('Write and open the HTML report'),
      execute: async args => {
        const ref = refOf(args);
        if (!ref) {
          return;
        }
        try {
          const { path } = await api.post<IReportResponse>(studyPath(ref, 'report'));
          await commands.execute('docmanager:open', { path });
        } catch (error) {
          failed('Cannot write the report')(error);
        }
      }
    });

    commands.addCommand(CommandIDs.stop, {
      label: labelled('Stop the run'),
      caption: 'Ask the run to stop, from whichever kernel or terminal runs it',
      isEnabled: args => {
        const ref = refOf(args);
        const s = ref ? model.find(ref.storage, ref.name) : undefined;
        return s === undefined || s.state === 'running';
      },
      execute: async args => {
        const ref = refOf(args);
        if (!ref) {
          return;
        }
        try {
          const answer = await api.post<IStopResponse>(studyPath(ref, 'stop'));
          Notification.info(answer.message, { autoClose: 5000 });
          await model.refresh();
        } catch (error) {
          failed('Cannot stop the study')(error);
        }
      }
    });

    commands.addCommand(CommandIDs.remove, {
      label: labelled('Delete study…'),
      execute: async args => {
        const ref = refOf(args);
        if (!ref) {
          return;
        }
        const result = await showDialog({
          title: 'Delete study',
          body: `Delete ${ref.name} and all its trials from its storage? This cannot be undone.`,
          buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
        });
        if (!result.button.accept) {
          return;
        }
        try {
          await api.del(studyPath(ref));
          dashboards.find(w => dashboardId(w.content.ref) === dashboardId(ref))?.dispose();
          await model.refresh();
        } catch (error) {
          failed('Cannot delete the study')(error);
        }
      }
    });

    if (palette) {
      const category = 'Hyperparameter search';
      for (const command of [CommandIDs.newSearch, CommandIDs.showSidebar, CommandIDs.refresh]) {
        palette.addItem({ command, category, args: { isPalette: true } });
      }
    }
    if (launcher) {
      launcher.add({ command: CommandIDs.newSearch, category: 'Notebook', rank: 50 });
    }

    if (statusBar) {
      const item = new RunningStatus(model, () => shell.activateById(sidebar.id));
      statusBar.registerStatusItem(PLUGIN_ID + ':status', {
        item,
        align: 'left',
        rank: 50,
        isActive: () => item.active,
        activeStateChanged: model.changed
      });
    }

    if (settings) {
      void settings
        .load(PLUGIN_ID)
        .then(s => {
          const apply = () =>
            model.setIntervals(
              s.get('runningInterval').composite as number,
              s.get('idleInterval').composite as number
            );
          apply();
          s.changed.connect(apply);
        })
        .catch(error => console.warn('hpo_widget: settings not loaded', error));
    }
  }
};

export default plugin;
