/**
 * Compare: the chosen runs' metrics then params side by side ("differences only" by
 * default; a value a run lacks is shown as missing, not as a difference), a metric as a
 * dot plot on an honest axis, the metric's history overlaid, and a param against a metric.
 * `CompareView` takes its run ids as props, so a sidebar section or a main-area tab hosts it.
 */
import * as React from 'react';
import type uPlot from 'uplot';

import {
  UPlotChart,
  seriesColor,
  themeColor,
  themedAxis,
  useThemeKey,
  valueAxis
} from './compare-charts';
import { ErrorMessage, Status, afterPaint, formatValue, shortName, useLoad } from './common';
import type { INav } from './panel';
import { Schemas, apiGet, askEarly } from './request';

type Run = Schemas['ComparedRun'];
type Kind = 'params' | 'metrics';

/** Runs whose history is overlaid at once (the server's bound too). */
export const MAX_CURVES = 50;
/** Runs drawn in the dot plot: the best this many by the chosen metric. */
const MAX_DOTS = 40;

function runLabel(run: Run): string {
  return run.name ?? run.run_id.slice(0, 8);
}

function shortLabel(run: Run, n = 16): string {
  const label = runLabel(run);
  return label.length <= n ? label : label.slice(0, n - 1) + '…';
}

function has(run: Run, kind: Kind, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(run[kind], key);
}

function numeric(run: Run, key: string): number | null {
  const v = run.metrics[key];
  return typeof v === 'number' && isFinite(v) ? v : null;
}

/** One metric across the runs as dots on an axis spanning the values (not from zero). */
export function DotPlot(props: { runs: Run[]; metric: string }): JSX.Element {
  const scored = props.runs
    .map(run => ({ run, value: numeric(run, props.metric) }))
    .filter((d): d is { run: Run; value: number } => d.value !== null)
    .sort((a, b) => b.value - a.value);
  const shown = scored.slice(0, MAX_DOTS);
  const missing = props.runs.length - scored.length;
  if (shown.length === 0) {
    return <div className="nbmlops-muted">No run has a value for {props.metric}.</div>;
  }
  const axis = valueAxis(shown.map(d => d.value));
  const width = 560;
  const left = 130;
  const right = 60;
  const row = 18;
  const top = 8;
  const height = top + shown.length * row + 26;
  const x = (v: number) => left + ((v - axis.lo) / (axis.hi - axis.lo)) * (width - left - right);
  return (
    <figure className="nbmlops-figure">
      <svg
        className="nbmlops-chart"
        data-testid="nbmlops-compare-chart"
        viewBox={`0 0 ${width} ${height}`}
        width="100%"
        style={{ maxWidth: width }}
        role="img"
        aria-label={`${props.metric} by run, axis from ${axis.lo} to ${axis.hi}`}
      >
        {axis.ticks.map(t => (
          <g key={t} className="nbmlops-tick">
            <line className="nbmlops-grid" x1={x(t)} x2={x(t)} y1={top - 4} y2={height - 22} />
            <text x={x(t)} y={height - 8} textAnchor="middle">
              {formatValue(t)}
            </text>
          </g>
        ))}
        {shown.map((d, i) => {
          const y = top + i * row + row / 2;
          return (
            <g key={d.run.run_id} className="nbmlops-dot-row">
              <text x={left - 8} y={y + 4} textAnchor="end">
                <title>{runLabel(d.run)}</title>
                {shortLabel(d.run, 18)}
              </text>
              <line className="nbmlops-grid" x1={left} x2={x(d.value)} y1={y} y2={y} />
              <circle className="nbmlops-dot" cx={x(d.value)} cy={y} r={4.5}>
                <title>{`${runLabel(d.run)}: ${formatValue(d.value)}`}</title>
              </circle>
              <text x={x(d.value) + 8} y={y + 4}>
                {formatValue(d.value)}
              </text>
            </g>
          );
        })}
      </svg>
      <figcaption className="nbmlops-muted">
        {props.metric}: the axis spans {formatValue(axis.lo)} to {formatValue(axis.hi)}, not
        from zero
        {scored.length > MAX_DOTS ? `; the best ${MAX_DOTS} of ${scored.length} runs` : ''}
        {missing > 0 ? `; ${missing} without a value not shown` : ''}
      </figcaption>
    </figure>
  );
}

/** The metric's history (value by step) in each run, overlaid. */
export function MetricCurves(props: { runs: Run[]; metric: string }): JSX.Element {
  const runs = props.runs.slice(0, MAX_CURVES);
  const ids = runs.map(r => r.run_id).join(',');
  const load = useLoad(
    () =>
      apiGet('/nbmlops/api/compare/curves', { query: { ids, metric: props.metric } }),
    [ids, props.metric]
  );
  const curves = load.data;
  if (!curves) {
    return <Status load={load} />;
  }
  const drawn = curves.curves.filter(c => c.steps.length > 0);
  if (drawn.length === 0) {
    return <div className="nbmlops-muted">No run logged {props.metric}.</div>;
  }
  if (drawn.every(c => c.steps.length === 1)) {
    return (
      <div className="nbmlops-muted" data-testid="nbmlops-compare-curves-none">
        {props.metric}: one value per run, no history to draw (the dot plot above shows
        them).
      </div>
    );
  }
  const xs = Array.from(new Set(drawn.flatMap(c => c.steps))).sort((a, b) => a - b);
  const at = new Map(xs.map((s, i) => [s, i]));
  const data: uPlot.AlignedData = [
    xs,
    ...drawn.map(c => {
      const ys: (number | null)[] = new Array(xs.length).fill(null);
      c.steps.forEach((s, i) => {
        ys[at.get(s) as number] = c.values[i];
      });
      return ys;
    })
  ];
  const names = new Map(runs.map(r => [r.run_id, runLabel(r)]));
  return (
    <figure className="nbmlops-figure">
      <UPlotChart
        testId="nbmlops-compare-curves"
        label={`${props.metric} by step in ${drawn.length} runs`}
        deps={[curves]}
        make={width => ({
          data,
          options: {
            width,
            height: 240,
            scales: { x: { time: false } },
            legend: { show: drawn.length <= 12 },
            axes: [themedAxis({ label: 'step' }), themedAxis({ label: props.metric, size: 60 })],
            series: [
              { label: 'step' },
              ...drawn.map((c, i) => ({
                label: names.get(c.run_id) ?? c.run_id.slice(0, 8),
                stroke: seriesColor(i),
                width: 1.5,
                spanGaps: true,
                points: { show: xs.length <= 30 }
              }))
            ]
          }
        })}
      />
      <figcaption className="nbmlops-muted">
        {props.metric} by step, {drawn.length} run{drawn.length === 1 ? '' : 's'}
        {props.runs.length > MAX_CURVES ? ` (the first ${MAX_CURVES} of ${props.runs.length})` : ''}
      </figcaption>
    </figure>
  );
}

/** A param (numbers, or categories in order) against a metric, one point per run. */
export function ParamScatter(props: { runs: Run[]; param: string; metric: string }): JSX.Element {
  const points = props.runs
    .filter(r => has(r, 'params', props.param) && numeric(r, props.metric) !== null)
    .map(r => ({ run: r, x: r.params[props.param] as unknown, y: numeric(r, props.metric) as number }));
  if (points.length === 0) {
    return (
      <div className="nbmlops-muted">
        No run has both {props.param} and {props.metric}.
      </div>
    );
  }
  const allNumbers = points.every(p => typeof p.x === 'number');
  const categories = allNumbers
    ? []
    : Array.from(new Set(points.map(p => formatValue(p.x)))).sort();
  const position = (v: unknown) =>
    allNumbers ? (v as number) : categories.indexOf(formatValue(v));
  const sorted = points
    .map(p => ({ ...p, px: position(p.x) }))
    .sort((a, b) => a.px - b.px);
  const positive = allNumbers && sorted.every(p => p.px > 0);
  const wide = positive && sorted[sorted.length - 1].px / sorted[0].px >= 100;
  const data: uPlot.AlignedData = [sorted.map(p => p.px), sorted.map(p => p.y)];
  const brand = themeColor('--jp-brand-color1', '#1976d2');
  return (
    <figure className="nbmlops-figure">
      <UPlotChart
        testId="nbmlops-compare-scatter"
        label={`${props.metric} against ${props.param}, ${sorted.length} runs`}
        deps={[props.runs, props.param, props.metric]}
        make={width => ({
          data,
          options: {
            width,
            height: 240,
            scales: {
              x: {
                time: false,
                distr: wide ? 3 : 1,
                range: allNumbers
                  ? undefined
                  : (): uPlot.Range.MinMax => [-0.5, categories.length - 0.5]
              }
            },
            legend: { show: false },
            cursor: { drag: { x: true, y: true } },
            axes: [
              themedAxis({
                label: props.param + (wide ? ' (log)' : ''),
                ...(allNumbers
                  ? {}
                  : {
                      splits: () => categories.map((_, i) => i),
                      values: (_u: uPlot, splits: number[]) =>
                        splits.map(i => categories[i] ?? '')
                    })
              }),
              themedAxis({ label: props.metric, size: 60 })
            ],
            series: [
              { label: props.param },
              {
                label: props.metric,
                stroke: brand,
                paths: () => null,
                points: { show: true, size: 7, stroke: brand, fill: brand }
              }
            ]
          }
        })}
      />
      <figcaption className="nbmlops-muted">
        {props.metric} against {props.param}: {sorted.length} run{sorted.length === 1 ? '' : 's'}
        {props.runs.length > sorted.length
          ? `; ${props.runs.length - sorted.length} without both not shown`
          : ''}
      </figcaption>
    </figure>
  );
}

/** How many axes the parallel-coordinates view draws (differing values first). */
const MAX_AXES = 10;

type PcAxis = {
  kind: Kind;
  key: string;
  /** the run's position on the axis, 0 (bottom) to 1 (top); null when it has no value */
  at: (run: Run) => number | null;
  ticks: { at: number; label: string }[];
  note: string;
};

/** An axis for one param or metric: numbers on an axis spanning their values (log when they
 * span a hundredfold or more, all positive), anything else as categories in order. */
function pcAxis(runs: Run[], kind: Kind, key: string): PcAxis | null {
  const present = runs.filter(r => has(r, kind, key)).map(r => r[kind][key] as unknown);
  if (present.length === 0) {
    return null;
  }
  const numbers = present.every(v => typeof v === 'number' && isFinite(v));
  if (numbers) {
    const values = present as number[];
    const lo0 = Math.min(...values);
    const hi0 = Math.max(...values);
    if (lo0 > 0 && hi0 / lo0 >= 100) {
      const lo = Math.floor(Math.log10(lo0));
      const hi = Math.ceil(Math.log10(hi0));
      const ticks = [];
      for (let e = lo; e <= hi; e++) {
        ticks.push({ at: (e - lo) / (hi - lo), label: formatValue(Math.pow(10, e)) });
      }
      return {
        kind,
        key,
        at: r =>
          has(r, kind, key) ? (Math.log10(r[kind][key] as number) - lo) / (hi - lo) : null,
        ticks,
        note: 'log'
      };
    }
    const axis = valueAxis(values);
    const span = axis.hi - axis.lo;
    return {
      kind,
      key,
      at: r => (has(r, kind, key) ? ((r[kind][key] as number) - axis.lo) / span : null),
      ticks: axis.ticks.map(t => ({ at: (t - axis.lo) / span, label: formatValue(t) })),
      note: ''
    };
  }
  const categories = Array.from(new Set(present.map(v => formatValue(v)))).sort();
  const place = (i: number) => (categories.length === 1 ? 0.5 : i / (categories.length - 1));
  return {
    kind,
    key,
    at: r => (has(r, kind, key) ? place(categories.indexOf(formatValue(r[kind][key]))) : null),
    ticks: categories.map((c, i) => ({ at: place(i), label: c })),
    note: 'categories'
  };
}

/** The runs' lines on a canvas, drawn once per comparison (and theme): a hover re-draws
 * none of them (the hovered line is an SVG path over them). One-pixel lines: without a GPU
 * a thousand of them take ~30 ms to draw here, against ~120 ms as SVG paths. */
const PcLines = React.memo(function PcLines(props: {
  ys: (number | null)[][];
  ax: (i: number) => number;
  width: number;
  height: number;
}): JSX.Element {
  const ref = React.useRef<HTMLCanvasElement>(null);
  const theme = useThemeKey();
  const { ys, ax, width, height } = props;
  React.useLayoutEffect(() => {
    const canvas = ref.current;
    const ctx = canvas?.getContext('2d');
    if (!canvas || !ctx) {
      return;
    }
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.strokeStyle = themeColor('--jp-brand-color1', '#1976d2');
    ctx.globalAlpha = 0.75;
    ctx.lineWidth = 1;
    for (const line of ys) {
      // a run without a value on an axis has a gap there
      ctx.beginPath();
      let pen = false;
      line.forEach((y, i) => {
        if (y === null) {
          pen = false;
        } else if (pen) {
          ctx.lineTo(ax(i), y);
        } else {
          ctx.moveTo(ax(i), y);
          pen = true;
        }
      });
      ctx.stroke();
    }
  }, [ys, ax, width, height, theme]);
  return (
    <canvas
      ref={ref}
      className="nbmlops-pc-lines"
      data-testid="nbmlops-parallel-lines"
      data-lines={ys.length}
      style={{ width, height }}
    />
  );
});

/** The run whose line passes nearest (within `reach` pixels) to (x, y), the last drawn
 * (the one on top) of lines as near; null when none does. */
function lineAt(
  ys: (number | null)[][],
  ax: (i: number) => number,
  x: number,
  y: number,
  reach = 6
): number | null {
  const axes = ys[0]?.length ?? 0;
  if (axes < 2 || x < ax(0) - reach || x > ax(axes - 1) + reach) {
    return null;
  }
  let i = 0;
  while (i < axes - 2 && x > ax(i + 1)) {
    i++;
  }
  const x0 = ax(i);
  const run = ax(i + 1) - x0;
  const along = Math.max(0, Math.min(1, (x - x0) / run));
  let best: number | null = null;
  let nearest = reach;
  ys.forEach((line, r) => {
    const y0 = line[i];
    const y1 = line[i + 1];
    if (y0 === null || y1 === null) {
      return;
    }
    // how far from the segment, across it (a steep segment is near in x, not in y)
    const rise = y1 - y0;
    const d = Math.abs(y - (y0 + rise * along)) / Math.sqrt(1 + (rise / run) ** 2);
    if (d <= nearest) {
      nearest = d;
      best = r;
    }
  });
  return best;
}

/** Params and metrics as vertical axes, one line per run across them; hover names the run,
 * a click opens it. A run without a value on an axis has a gap there. */
export function ParallelCoordinates(props: {
  comparison: Schemas['Comparison'];
  nav: INav;
}): JSX.Element {
  const { comparison, nav } = props;
  const runs = comparison.runs;
  const [hovered, setHovered] = React.useState<number | null>(null);
  React.useEffect(() => setHovered(null), [comparison]);
  // everything but the hovered run depends on the comparison only: computed once
  const chart = React.useMemo(() => {
    const differing: [Kind, string][] = [
      ...comparison.differing.metrics.map(k => ['metrics', k] as [Kind, string]),
      ...comparison.differing.params.map(k => ['params', k] as [Kind, string])
    ];
    const chosen =
      differing.length >= 2
        ? differing
        : [
            ...comparison.metrics.map(k => ['metrics', k] as [Kind, string]),
            ...comparison.params.map(k => ['params', k] as [Kind, string])
          ];
    const axes = chosen
      .map(([kind, key]) => pcAxis(comparison.runs, kind, key))
      .filter((a): a is PcAxis => a !== null)
      .slice(0, MAX_AXES);
    const gap = 120;
    const left = 60;
    const top = 34;
    const plotH = 220;
    const ax = (i: number) => left + i * gap;
    const ay = (t: number) => top + (1 - t) * plotH;
    // each run's height on each axis (null where it has no value)
    const ys = comparison.runs.map(run =>
      axes.map(a => {
        const t = a.at(run);
        return t === null ? null : ay(t);
      })
    );
    return {
      axes,
      ys,
      more: chosen.length - axes.length,
      width: left * 2 + gap * (axes.length - 1),
      height: top + plotH + 16,
      ax,
      ay
    };
  }, [comparison]);
  const { axes, ax, ay, ys, width, height } = chart;
  if (axes.length < 2) {
    return (
      <div className="nbmlops-muted" data-testid="nbmlops-parallel-none">
        Parallel coordinates need two params or metrics with values.
      </div>
    );
  }
  const shown = hovered === null ? null : (runs[hovered] ?? null);
  const describe = (run: Run) =>
    `${runLabel(run)}: ` +
    axes
      .map(a => `${a.key}=${has(run, a.kind, a.key) ? formatValue(run[a.kind][a.key]) : '—'}`)
      .join(', ');
  const pathOf = (line: (number | null)[]) =>
    line
      .map((y, i) =>
        y === null ? '' : `${i > 0 && line[i - 1] !== null ? 'L' : 'M'}${ax(i)},${y.toFixed(1)}`
      )
      .join('');
  const pointer = (e: React.MouseEvent<HTMLDivElement>) => {
    const box = e.currentTarget.getBoundingClientRect();
    return lineAt(ys, ax, e.clientX - box.left, e.clientY - box.top);
  };
  return (
    <figure className="nbmlops-figure nbmlops-parallel-figure">
      <div className="nbmlops-scroll">
        <div
          className={'nbmlops-parallel' + (shown ? ' nbmlops-mod-hovering' : '')}
          data-testid="nbmlops-parallel"
          style={{ width, height }}
          title={shown ? describe(shown) : undefined}
          role="img"
          aria-label={`parallel coordinates of ${runs.length} runs over ${axes
            .map(a => a.key)
            .join(', ')}`}
          onMouseMove={e => {
            const at = pointer(e);
            if (at !== hovered) {
              setHovered(at);
            }
          }}
          onMouseLeave={() => setHovered(null)}
          onClick={e => {
            const at = pointer(e);
            if (at !== null) {
              nav.showRun(runs[at].run_id);
            }
          }}
        >
          <PcLines ys={ys} ax={ax} width={width} height={height} />
          <svg
            className="nbmlops-chart"
            viewBox={`0 0 ${width} ${height}`}
            width={width}
            height={height}
          >
            {shown && (
              <path
                d={pathOf(ys[hovered as number])}
                data-run={shown.run_id}
                data-testid="nbmlops-parallel-highlight"
                className="nbmlops-pc-line nbmlops-mod-hover"
              />
            )}
            {axes.map((a, i) => (
              <g
                key={`${a.kind}.${a.key}`}
                className="nbmlops-pc-axis"
                data-testid="nbmlops-parallel-axis"
                data-key={`${a.kind}.${a.key}`}
              >
                <line className="nbmlops-axis" x1={ax(i)} x2={ax(i)} y1={ay(1)} y2={ay(0)} />
                <text className="nbmlops-pc-title" x={ax(i)} y={12} textAnchor="middle">
                  <title>{`${a.kind === 'params' ? 'param' : 'metric'} ${a.key}`}</title>
                  {shortName(a.key, 16)}
                </text>
                <text className="nbmlops-pc-kind" x={ax(i)} y={25} textAnchor="middle">
                  {a.kind === 'params' ? 'param' : 'metric'}
                  {a.note ? ` (${a.note})` : ''}
                </text>
                {a.ticks.map(t => (
                  <g key={t.label} className="nbmlops-tick">
                    <line
                      className="nbmlops-axis"
                      x1={ax(i) - 3}
                      x2={ax(i)}
                      y1={ay(t.at)}
                      y2={ay(t.at)}
                    />
                    <text x={ax(i) - 5} y={ay(t.at) + 4} textAnchor="end">
                      {shortName(t.label, 10)}
                    </text>
                  </g>
                ))}
              </g>
            ))}
          </svg>
        </div>
      </div>
      <figcaption className="nbmlops-muted">
        <span data-testid="nbmlops-parallel-hovered">
          {shown ? describe(shown) : 'Hover a line to see its run; click it to open the run.'}
        </span>
        <br />
        {runs.length} runs over {axes.length} axes; each axis spans its values (not from zero)
        {chart.more > 0 ? `; ${chart.more} more params or metrics not drawn` : ''}
      </figcaption>
    </figure>
  );
}

function Picker(props: {
  label: string;
  value: string;
  options: string[];
  testId: string;
  onChange: (v: string) => void;
}): JSX.Element {
  return (
    <label className="nbmlops-picker">
      {props.label}{' '}
      <select
        value={props.value}
        data-testid={props.testId}
        onChange={e => props.onChange(e.target.value)}
      >
        {props.options.map(o => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
    </label>
  );
}

/** From this many runs the table draws only the run columns in view (a fixed width each),
 * more as it scrolls: 1,000 runs by 20 values are 20,000 cells to lay out otherwise. */
export const VIRTUAL_FROM = 40;
const COLUMN_W = 112;
const KEY_W = 200;
const OVERSCAN = 4;

/** The run columns [first, last) in view of the scrolled `box`, re-read as it scrolls or
 * resizes (once a frame at most); every column when there are few. */
function useColumnWindow(box: React.RefObject<HTMLDivElement>, count: number): [number, number] {
  const virtual = count >= VIRTUAL_FROM;
  const [view, setView] = React.useState({ left: 0, width: 1200 });
  React.useEffect(() => {
    const host = box.current;
    if (!virtual || !host) {
      return;
    }
    let pending = 0;
    const read = () => {
      pending = 0;
      setView(v =>
        v.left === host.scrollLeft && v.width === host.clientWidth
          ? v
          : { left: host.scrollLeft, width: host.clientWidth || v.width }
      );
    };
    const later = () => {
      if (!pending) {
        pending = requestAnimationFrame(read);
      }
    };
    read();
    host.addEventListener('scroll', later, { passive: true });
    const observer = new ResizeObserver(later);
    observer.observe(host);
    return () => {
      host.removeEventListener('scroll', later);
      observer.disconnect();
      cancelAnimationFrame(pending);
    };
  }, [virtual, box.current]);
  if (!virtual) {
    return [0, count];
  }
  const first = Math.max(0, Math.floor((view.left - KEY_W) / COLUMN_W) - OVERSCAN);
  const last = Math.min(count, Math.ceil((view.left + view.width) / COLUMN_W) + OVERSCAN);
  return [first, Math.max(first, last)];
}

/** Charts are drawn after the table has been painted (the table is what is read first). */
function useAfterPaint(key: unknown): boolean {
  const [ready, setReady] = React.useState(false);
  React.useEffect(() => {
    if (ready || key === undefined || key === null) {
      return;
    }
    return afterPaint(() => setReady(true));
  }, [key, ready]);
  return ready;
}

/** Ask for the comparison of `runIds` as its tab is being opened. */
export function askCompareEarly(runIds: string[]): void {
  if (runIds.length) {
    askEarly('/nbmlops/api/compare', { query: { ids: runIds.join(',') } });
  }
}

export function CompareView(props: { runIds: string[]; nav: INav }): JSX.Element {
  const ids = props.runIds.join(',');
  const load = useLoad(
    () =>
      ids
        ? apiGet('/nbmlops/api/compare', { query: { ids } })
        : Promise.resolve<Schemas['Comparison'] | null>(null),
    [ids]
  );
  const [metric, setMetric] = React.useState<string>('');
  const [param, setParam] = React.useState<string>('');
  const [onlyDiffering, setOnlyDiffering] = React.useState(true);
  const comparison = load.data;
  const box = React.useRef<HTMLDivElement>(null);
  const count = comparison?.runs.length ?? 0;
  const [first, last] = useColumnWindow(box, count);
  const chartsReady = useAfterPaint(comparison);
  React.useEffect(() => {
    if (comparison && !comparison.metrics.includes(metric)) {
      setMetric(comparison.differing.metrics[0] ?? comparison.metrics[0] ?? '');
    }
    if (comparison && !comparison.params.includes(param)) {
      setParam(comparison.differing.params[0] ?? comparison.params[0] ?? '');
    }
  }, [comparison]);

  if (!ids) {
    return (
      <div className="nbmlops-muted">
        Select two or more runs in the Runs section and press Compare.
      </div>
    );
  }
  if (comparison === null) {
    return <Status load={load} />;
  }
  const differs = (kind: Kind, key: string) => comparison.differing[kind].includes(key);
  const all: [Kind, string][] = [
    ...comparison.metrics.map(k => ['metrics', k] as [Kind, string]),
    ...comparison.params.map(k => ['params', k] as [Kind, string])
  ];
  const rows = onlyDiffering ? all.filter(([kind, key]) => differs(kind, key)) : all;
  const same = all.length - all.filter(([kind, key]) => differs(kind, key)).length;
  const virtual = count >= VIRTUAL_FROM;
  const drawn = comparison.runs.slice(first, last);
  const before = virtual && first > 0 ? first * COLUMN_W : 0;
  const after = virtual && last < count ? (count - last) * COLUMN_W : 0;
  const spacer = (width: number, head: boolean) =>
    width > 0 ? (
      head ? (
        <th className="nbmlops-spacer" style={{ width }} aria-hidden="true" />
      ) : (
        <td className="nbmlops-spacer" aria-hidden="true" />
      )
    ) : null;
  return (
    <div className="nbmlops-section nbmlops-compare" data-testid="nbmlops-compare">
      <ErrorMessage error={load.error} />
      <div className="nbmlops-toolbar">
        <label>
          <input
            type="checkbox"
            checked={onlyDiffering}
            data-testid="nbmlops-differences-only"
            onChange={e => setOnlyDiffering(e.target.checked)}
          />{' '}
          Differences only
        </label>
        <span className="nbmlops-muted" data-testid="nbmlops-compare-note">
          {comparison.runs.length} runs ·{' '}
          {onlyDiffering
            ? `${rows.length} that differ${same ? `, ${same} the same in every run hidden` : ''}`
            : `${rows.length} values`}
        </span>
      </div>
      <div className="nbmlops-scroll nbmlops-compare-scroll" ref={box}>
        <table
          className={'nbmlops-table' + (virtual ? ' nbmlops-mod-virtual' : '')}
          data-testid="nbmlops-compare-table"
          data-columns={`${first}-${last}`}
          style={virtual ? { width: KEY_W + count * COLUMN_W } : undefined}
        >
          <thead>
            <tr>
              <th className="nbmlops-sticky" style={virtual ? { width: KEY_W } : undefined} />
              {spacer(before, true)}
              {drawn.map(run => (
                <th
                  key={run.run_id}
                  title={`${runLabel(run)} (${run.run_id})`}
                  style={virtual ? { width: COLUMN_W } : undefined}
                >
                  <a className="nbmlops-link" onClick={() => props.nav.showRun(run.run_id)}>
                    {shortLabel(run)}
                  </a>
                </th>
              ))}
              {spacer(after, true)}
            </tr>
          </thead>
          <tbody>
            {rows.map(([kind, key]) => (
              <tr
                key={`${kind}.${key}`}
                data-key={`${kind}.${key}`}
                className={differs(kind, key) ? 'nbmlops-differs' : ''}
                data-differs={differs(kind, key) ? 'true' : 'false'}
              >
                <th className="nbmlops-sticky" title={`${kind}.${key}`}>
                  <span className="nbmlops-muted">{kind === 'params' ? 'param' : 'metric'}</span>{' '}
                  {key}
                </th>
                {spacer(before, false)}
                {drawn.map(run =>
                  has(run, kind, key) ? (
                    <td key={run.run_id} className="nbmlops-number">
                      {formatValue(run[kind][key])}
                    </td>
                  ) : (
                    <td
                      key={run.run_id}
                      className="nbmlops-missing"
                      data-missing="true"
                      title="not recorded in this run"
                    >
                      —
                    </td>
                  )
                )}
                {spacer(after, false)}
              </tr>
            ))}
          </tbody>
        </table>
        {rows.length === 0 && (
          <div className="nbmlops-muted">
            Every param and metric is the same in these runs (untick Differences only to see
            them).
          </div>
        )}
      </div>
      {comparison.metrics.length > 0 && !chartsReady && (
        <div className="nbmlops-muted" data-testid="nbmlops-charts-pending">
          Drawing the charts…
        </div>
      )}
      {comparison.metrics.length > 0 && chartsReady && (
        <div className="nbmlops-charts">
          <div className="nbmlops-toolbar">
            <Picker
              label="Metric"
              value={metric}
              options={comparison.metrics}
              testId="nbmlops-chart-metric"
              onChange={setMetric}
            />
            {comparison.params.length > 0 && (
              <Picker
                label="against param"
                value={param}
                options={comparison.params}
                testId="nbmlops-chart-param"
                onChange={setParam}
              />
            )}
          </div>
          {metric && <DotPlot runs={comparison.runs} metric={metric} />}
          {metric && <MetricCurves runs={comparison.runs} metric={metric} />}
          <ParallelCoordinates comparison={comparison} nav={props.nav} />
          {metric && param && (
            <ParamScatter runs={comparison.runs} param={param} metric={metric} />
          )}
        </div>
      )}
    </div>
  );
}

/** The sidebar's Compare section (the same view). */
export const CompareSection = CompareView;
