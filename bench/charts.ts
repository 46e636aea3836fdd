// The report's two charts as hand-written SVG (no chart dependency): the latency distribution
// (histogram + CDF) and the scale curve (CR size and times against the key count, log scales).

const FONT = `font-family="sans-serif" font-size="12"`;
/** A white outline behind text that sits on top of lines. */
const HALO = `paint-order="stroke" stroke="white" stroke-width="4"`;
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"];

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function text(x: number, y: number, s: string, attrs = ""): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${FONT} ${attrs}>${esc(s)}</text>`;
}

function line(x1: number, y1: number, x2: number, y2: number, attrs: string): string {
  return `<line x1="${x1.toFixed(1)}" y1="${y1.toFixed(1)}" x2="${x2.toFixed(1)}" y2="${y2.toFixed(1)}" ${attrs}/>`;
}

function svg(width: number, height: number, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    ...body,
    "</svg>",
    "",
  ].join("\n");
}

/** A "nice" step (1, 2 or 5 × 10^k) that splits `range` into about `count` intervals. */
function niceStep(range: number, count: number): number {
  const raw = range / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
}

export interface LatencySeries {
  label: string;
  /** Samples in ms. */
  values: number[];
}

/**
 * Histogram (bars, left axis: runs per bin) and empirical CDF (steps, right axis: %) of latency
 * samples, with vertical markers (e.g. the flush interval and the design bound).
 */
export function latencyChart(
  title: string,
  series: LatencySeries[],
  markers: { at: number; label: string }[],
  binMs = 250,
): string {
  const W = 800;
  const H = 440;
  const m = { left: 60, right: 60, top: 40, bottom: 80 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const all = series.flatMap(s => s.values);
  const maxX = Math.ceil((Math.max(...all, ...markers.map(k => k.at)) + binMs) / 1000) * 1000;
  const bins = Math.ceil(maxX / binMs);
  const counts = series.map(s => {
    const c = new Array<number>(bins).fill(0);
    for (const v of s.values) c[Math.min(bins - 1, Math.floor(v / binMs))]++;
    return c;
  });
  const maxCount = Math.max(1, ...counts.flat());
  const yStep = Math.max(1, niceStep(maxCount, 5));
  const maxY = Math.ceil(maxCount / yStep) * yStep;
  const x = (ms: number): number => m.left + (ms / maxX) * pw;
  const yCount = (c: number): number => m.top + ph - (c / maxY) * ph;
  const yPct = (p: number): number => m.top + ph - (p / 100) * ph;
  const body: string[] = [text(W / 2, 22, title, `text-anchor="middle" font-weight="bold"`)];

  // grid and axes
  for (let c = 0; c <= maxY; c += yStep) {
    body.push(line(m.left, yCount(c), m.left + pw, yCount(c), `stroke="#e5e5e5"`));
    body.push(text(m.left - 8, yCount(c) + 4, String(c), `text-anchor="end"`));
  }
  for (let p = 0; p <= 100; p += 25) {
    body.push(text(m.left + pw + 8, yPct(p) + 4, `${p}%`));
  }
  for (let s = 0; s <= maxX; s += 1000) {
    body.push(line(x(s), m.top + ph, x(s), m.top + ph + 5, `stroke="black"`));
    body.push(text(x(s), m.top + ph + 18, `${s / 1000} s`, `text-anchor="middle"`));
  }
  body.push(line(m.left, m.top + ph, m.left + pw, m.top + ph, `stroke="black"`));
  body.push(line(m.left, m.top, m.left, m.top + ph, `stroke="black"`));
  body.push(line(m.left + pw, m.top, m.left + pw, m.top + ph, `stroke="black"`));
  body.push(
    text(
      14,
      m.top + ph / 2,
      `runs per ${binMs} ms bin`,
      `transform="rotate(-90 14 ${m.top + ph / 2})" text-anchor="middle"`,
    ),
  );
  body.push(
    text(
      W - 12,
      m.top + ph / 2,
      "cumulative share of runs",
      `transform="rotate(90 ${W - 12} ${m.top + ph / 2})" text-anchor="middle"`,
    ),
  );
  body.push(
    text(
      m.left + pw / 2,
      m.top + ph + 36,
      "time after the API server received the ConfigMap create",
      `text-anchor="middle"`,
    ),
  );

  // bars, side by side within a bin
  const bw = pw / bins / series.length;
  counts.forEach((c, si) => {
    c.forEach((n, b) => {
      if (n === 0) return;
      const bx = x(b * binMs) + si * bw;
      body.push(
        `<rect x="${bx.toFixed(1)}" y="${yCount(n).toFixed(1)}" width="${(bw - 1).toFixed(1)}" height="${(m.top + ph - yCount(n)).toFixed(1)}" fill="${COLORS[si]}" fill-opacity="0.45"/>`,
      );
    });
  });

  // CDF steps
  series.forEach((s, si) => {
    const sorted = [...s.values].sort((a, b) => a - b);
    const pts: string[] = [`${x(0).toFixed(1)},${yPct(0).toFixed(1)}`];
    sorted.forEach((v, i) => {
      pts.push(`${x(v).toFixed(1)},${yPct((i / sorted.length) * 100).toFixed(1)}`);
      pts.push(`${x(v).toFixed(1)},${yPct(((i + 1) / sorted.length) * 100).toFixed(1)}`);
    });
    pts.push(`${x(maxX).toFixed(1)},${yPct(100).toFixed(1)}`);
    body.push(
      `<polyline points="${pts.join(" ")}" fill="none" stroke="${COLORS[si]}" stroke-width="2"/>`,
    );
  });

  markers.forEach((k, i) => {
    body.push(line(x(k.at), m.top, x(k.at), m.top + ph, `stroke="#555" stroke-dasharray="5,4"`));
    body.push(text(x(k.at) + 4, m.top + ph * 0.45 + i * 16, k.label, `fill="#333" ${HALO}`));
  });

  // legend
  series.forEach((s, si) => {
    const lx = m.left + si * 330;
    const ly = H - 22;
    body.push(
      `<rect x="${lx}" y="${ly - 10}" width="14" height="10" fill="${COLORS[si]}" fill-opacity="0.45"/>`,
    );
    body.push(line(lx + 18, ly - 5, lx + 36, ly - 5, `stroke="${COLORS[si]}" stroke-width="2"`));
    body.push(text(lx + 42, ly, `${s.label} (n=${s.values.length})`));
  });
  return svg(W, H, body);
}

export interface ScalePoint {
  keys: number;
  value: number;
}

export interface ScaleSeries {
  label: string;
  points: ScalePoint[];
}

/** Log-scale ticks (powers of ten) covering [min, max]. */
function decades(min: number, max: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) out.push(10 ** e);
  return out;
}

function formatNumber(v: number): string {
  if (v >= 1e6) return `${v / 1e6}M`;
  if (v >= 1e3) return `${v / 1e3}k`;
  return String(v);
}

/**
 * Two panels over the key count (log x): the CR size in bytes (log y) with the limit as a
 * horizontal line, and times in ms (log y); a vertical line marks the largest storable key count.
 */
export function scaleChart(
  title: string,
  size: ScaleSeries,
  sizeLimit: { bytes: number; label: string } | undefined,
  times: ScaleSeries[],
  maxKeys: { keys: number; label: string } | undefined,
): string {
  const W = 800;
  const H = 790;
  const m = { left: 80, right: 30, top: 40 };
  const pw = W - m.left - m.right;
  const panelH = 250;
  const gap = 130;
  const allKeys = [...size.points, ...times.flatMap(t => t.points)].map(p => p.keys);
  if (maxKeys) allKeys.push(maxKeys.keys);
  const xTicks = decades(Math.min(...allKeys), Math.max(...allKeys));
  const xMin = xTicks[0];
  const xMax = xTicks[xTicks.length - 1];
  const x = (k: number): number =>
    m.left + ((Math.log10(k) - Math.log10(xMin)) / (Math.log10(xMax) - Math.log10(xMin))) * pw;
  const body: string[] = [text(W / 2, 22, title, `text-anchor="middle" font-weight="bold"`)];

  const panel = (
    top: number,
    series: ScaleSeries[],
    yLabel: string,
    unit: (v: number) => string,
    hline?: { value: number; label: string },
  ): void => {
    const values = series.flatMap(s => s.points.map(p => p.value)).filter(v => v > 0);
    if (hline) values.push(hline.value);
    const yTicks = decades(Math.min(...values), Math.max(...values));
    const yMin = yTicks[0];
    const yMax = yTicks[yTicks.length - 1];
    const y = (v: number): number =>
      top +
      panelH -
      ((Math.log10(v) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * panelH;
    for (const t of yTicks) {
      body.push(line(m.left, y(t), m.left + pw, y(t), `stroke="#e5e5e5"`));
      body.push(text(m.left - 8, y(t) + 4, unit(t), `text-anchor="end"`));
    }
    for (const t of xTicks) {
      body.push(line(x(t), top, x(t), top + panelH, `stroke="#e5e5e5"`));
      body.push(text(x(t), top + panelH + 18, formatNumber(t), `text-anchor="middle"`));
    }
    body.push(
      `<rect x="${m.left}" y="${top}" width="${pw}" height="${panelH}" fill="none" stroke="black"/>`,
    );
    body.push(
      text(
        20,
        top + panelH / 2,
        yLabel,
        `transform="rotate(-90 20 ${top + panelH / 2})" text-anchor="middle"`,
      ),
    );
    body.push(
      text(
        m.left + pw / 2,
        top + panelH + 36,
        "keys in the store (log scale)",
        `text-anchor="middle"`,
      ),
    );
    if (hline) {
      body.push(
        line(
          m.left,
          y(hline.value),
          m.left + pw,
          y(hline.value),
          `stroke="#d62728" stroke-dasharray="6,4"`,
        ),
      );
      body.push(text(m.left + 6, y(hline.value) - 6, hline.label, `fill="#d62728"`));
    }
    if (maxKeys) {
      body.push(
        line(
          x(maxKeys.keys),
          top,
          x(maxKeys.keys),
          top + panelH,
          `stroke="#555" stroke-dasharray="5,4"`,
        ),
      );
      body.push(
        text(
          x(maxKeys.keys) - 4,
          top + panelH - 8,
          maxKeys.label,
          `text-anchor="end" fill="#333" ${HALO}`,
        ),
      );
    }
    series.forEach((s, si) => {
      const color = COLORS[si % COLORS.length];
      const pts = s.points.filter(p => p.value > 0);
      if (pts.length > 1) {
        body.push(
          `<polyline points="${pts.map(p => `${x(p.keys).toFixed(1)},${y(p.value).toFixed(1)}`).join(" ")}" fill="none" stroke="${color}" stroke-width="2"/>`,
        );
      }
      for (const p of pts) {
        body.push(
          `<circle cx="${x(p.keys).toFixed(1)}" cy="${y(p.value).toFixed(1)}" r="3.5" fill="${color}"/>`,
        );
      }
      // Legend below the x-axis title, two columns: the plot area stays free.
      const lx = m.left + (si % 2) * (pw / 2);
      const ly = top + panelH + 58 + Math.floor(si / 2) * 16;
      body.push(line(lx, ly - 4, lx + 18, ly - 4, `stroke="${color}" stroke-width="2"`));
      body.push(text(lx + 24, ly, s.label));
    });
  };

  const bytes = (v: number): string =>
    v >= 1e6 ? `${v / 1e6} MB` : v >= 1e3 ? `${v / 1e3} kB` : `${v} B`;
  const ms = (v: number): string => (v >= 1000 ? `${v / 1000} s` : `${v} ms`);
  panel(
    m.top,
    [size],
    "CR size (log scale)",
    bytes,
    sizeLimit ? { value: sizeLimit.bytes, label: sizeLimit.label } : undefined,
  );
  panel(m.top + panelH + gap, times, "time, median (log scale)", ms);
  return svg(W, H, body);
}
