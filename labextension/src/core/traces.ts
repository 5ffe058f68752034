/**
 * Large scatter traces drawn with WebGL (pure: the caller says whether WebGL is there).
 *
 * Plotly's SVG scatter builds one DOM node per point: a 10,000-trial history takes about a
 * second to draw, and every live refresh pays it again.  `scattergl` draws the same markers and
 * lines on a canvas.  Below the threshold SVG stays (crisper, and no WebGL context spent).
 */

type Trace = Record<string, unknown>;

/** Points above which a scatter trace is drawn with WebGL. */
export const WEBGL_POINTS = 2000;

/** Elements of a data array: a list, or plotly.py's typed array (`{dtype, bdata}`, base64). */
export function arrayLength(v: unknown): number {
  if (Array.isArray(v)) {
    return v.length;
  }
  if (v && typeof v === 'object') {
    const { dtype, bdata, shape } = v as { dtype?: unknown; bdata?: unknown; shape?: unknown };
    if (typeof shape === 'string' && shape) {
      return shape.split(',').reduce((n, d) => n * (parseInt(d, 10) || 0), 1);
    }
    if (typeof dtype === 'string' && typeof bdata === 'string') {
      const size = parseInt(dtype.replace(/^\D+/, ''), 10) || 1;
      const padding = bdata.endsWith('==') ? 2 : bdata.endsWith('=') ? 1 : 0;
      return Math.floor(((bdata.length * 3) / 4 - padding) / size);
    }
  }
  return 0;
}

function points(trace: Trace): number {
  return Math.max(arrayLength(trace.x), arrayLength(trace.y));
}

/** The traces, with each `scatter` of more than `threshold` points turned into `scattergl`. */
export function withWebGL(data: unknown[], webgl: boolean, threshold = WEBGL_POINTS): unknown[] {
  if (!webgl) {
    return data;
  }
  return data.map(item => {
    const t = item as Trace;
    return (t.type === undefined || t.type === 'scatter') && points(t) > threshold
      ? { ...t, type: 'scattergl' }
      : t;
  });
}
