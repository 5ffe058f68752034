/**
 * plotly.js for the dashboard: the copy JupyterLab already evaluated for plotly's own renderer
 * (jupyterlab-plotly, installed with the `plotly` package) when it is there, else this
 * extension's own chunk, loaded once.  Evaluating a second 4.8 MB copy costs seconds of main
 * thread on a slow machine, so it is loaded when the page is idle once the server lists a
 * study (`preloadPlotly`): the first dashboard then does not wait for it.
 */

export type PlotlyModule = typeof import('plotly.js-dist-min').default;

let plotly: Promise<PlotlyModule> | null = null;
let webgl: boolean | null = null;

export function loadPlotly(): Promise<PlotlyModule> {
  const shared = (window as unknown as { Plotly?: PlotlyModule }).Plotly;
  if (!plotly && shared && typeof shared.react === 'function') {
    plotly = Promise.resolve(shared);
  }
  plotly = plotly ?? import('plotly.js-dist-min').then(m => (m.default ?? m) as PlotlyModule);
  return plotly;
}

/** The module when loading has started (null before): for cleanups that must not load it. */
export function loadingPlotly(): Promise<PlotlyModule> | null {
  return plotly;
}

/** Whether this browser gives WebGL contexts (checked once). */
export function hasWebGL(): boolean {
  if (webgl === null) {
    try {
      webgl = !!document.createElement('canvas').getContext('webgl');
    } catch {
      webgl = false;
    }
  }
  return webgl;
}

/** Load plotly.js when the page is next idle (a no-op once loading has started). */
export function preloadPlotly(): void {
  if (plotly) {
    return;
  }
  const idle = (window as { requestIdleCallback?: (cb: () => void, o?: object) => number })
    .requestIdleCallback;
  if (idle) {
    idle(() => void loadPlotly(), { timeout: 5000 });
  } else {
    setTimeout(() => void loadPlotly(), 1000);
  }
}
