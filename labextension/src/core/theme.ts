/** Plotly layouts that follow JupyterLab's theme (pure: the colours are passed in). */

export interface IThemeColors {
  /** --jp-ui-font-color1 */
  font: string;
  /** --jp-border-color2 */
  grid: string;
  /** --jp-layout-color1 */
  background: string;
  /** --jp-ui-font-family */
  fontFamily: string;
}

type Layout = Record<string, unknown>;

function axis(existing: unknown, c: IThemeColors): Record<string, unknown> {
  const base = existing && typeof existing === 'object' ? (existing as Record<string, unknown>) : {};
  return {
    ...base,
    gridcolor: c.grid,
    zerolinecolor: c.grid,
    linecolor: c.grid,
    color: c.font
  };
}

/**
 * The server's figure layout with transparent backgrounds and the theme's text and grid
 * colours (a dark template in dark themes).  The server's own `template` is dropped in dark
 * themes: plotly's default is white.
 */
export function themedLayout(layout: Layout, dark: boolean, c: IThemeColors): Layout {
  const out: Layout = { ...layout };
  if (dark) {
    delete out.template;
  }
  out.paper_bgcolor = 'rgba(0,0,0,0)';
  out.plot_bgcolor = 'rgba(0,0,0,0)';
  out.font = { ...((layout.font as object) ?? {}), color: c.font, family: c.fontFamily };
  out.autosize = true;
  for (const key of Object.keys(layout)) {
    if (/^[xy]axis\d*$/.test(key)) {
      out[key] = axis(layout[key], c);
    }
  }
  if (!('xaxis' in out)) {
    out.xaxis = axis(undefined, c);
  }
  if (!('yaxis' in out)) {
    out.yaxis = axis(undefined, c);
  }
  if (out.legend && typeof out.legend === 'object') {
    out.legend = { ...(out.legend as object), font: { color: c.font } };
  }
  return out;
}

/** Whether a CSS colour (`#rgb`, `#rrggbb`, `rgb(...)`) is dark: the theme's background test. */
export function isDarkColor(color: string): boolean {
  const s = color.trim();
  let r = 255;
  let g = 255;
  let b = 255;
  const hex = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(s);
  const rgb = /^rgba?\(\s*(\d+)[ ,]+(\d+)[ ,]+(\d+)/i.exec(s);
  if (hex) {
    const h = hex[1].length === 3 ? [...hex[1]].map(ch => ch + ch).join('') : hex[1];
    r = parseInt(h.slice(0, 2), 16);
    g = parseInt(h.slice(2, 4), 16);
    b = parseInt(h.slice(4, 6), 16);
  } else if (rgb) {
    [r, g, b] = [rgb[1], rgb[2], rgb[3]].map(Number);
  } else {
    return false;
  }
  return 0.2126 * r + 0.7152 * g + 0.0722 * b < 128;
}
