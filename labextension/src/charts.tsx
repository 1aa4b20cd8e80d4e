/**
 * A run's metric history: the metrics a person picks overlaid on one uPlot chart (canvas, a
 * few tens of kilobytes; see the README), by step or by time, each series its own colour
 * from JupyterLab's theme, a legend, drag to zoom and double-click to reset.
 *
 * Like W&B's and TensorBoard's charts it never reads more than about two points per pixel:
 * the server answers a long history decimated (each span's lowest and highest value, the
 * first and the last, a NaN run as a gap), and a zoom asks for its range again, at full
 * resolution once the range holds fewer values than that.
 */
import * as React from 'react';
import type uPlot from 'uplot';

import { UPlotChart, seriesColor, themedAxis } from './compare-charts';
import { Status, formatValue, useLoad } from './common';
import { apiGet, askEarly } from './request';

/** Metrics whose history is read for the chart (the table lists every metric): the
 * metric-charts route's (reads.MAX_CHARTED). */
const MAX_HISTORIES = 24;
/** How much narrower a run's chart is than its tab (the view's and the card's padding). */
const CHART_INSET = 40;
/** Metrics overlaid at once. */
export const MAX_OVERLAID = 8;

type XAxis = 'step' | 'time';

/** One metric's values as the metric-series route answers them, decoded: columns of
 * float64 in order of step then time (a value that is not finite is NaN); `total` values in
 * the whole history, `decimated` when these are only the ones a chart needs of them. */
export interface Series {
  key: string;
  steps: Float64Array;
  values: Float64Array;
  times: Float64Array;
  total: number;
  decimated: boolean;
}

/** How many points a chart `width` pixels wide reads of a metric: two per pixel. */
export function pointsFor(width: number): number {
  return 2 * Math.max(240, Math.min(Math.round(width) || 480, 900));
}

/** One metric's values, at most `points` of them, within `range` of `x` when given. */
function readSeries(
  runId: string,
  key: string,
  points: number,
  x: XAxis,
  range?: [number, number]
): Promise<Series> {
  return apiGet('/nbmlops/api/runs/{run_id}/metric-series', {
    path: { run_id: runId },
    query: range
      ? { key, points, x, from: String(range[0]), to: String(range[1]) }
      : { key, points }
  }).then(decoded);
}

/** A series as the routes answer it, decoded. */
function decoded(s: {
  key: string;
  steps: string;
  values: string;
  timestamps: string;
  total: number;
  decimated: boolean;
}): Series {
  return {
    key: s.key,
    steps: float64s(s.steps),
    values: float64s(s.values),
    times: float64s(s.timestamps),
    total: s.total,
    decimated: s.decimated
  };
}

/** Each of a run's metrics (the first MAX_HISTORIES by name), at most `points` values
 * each, in one request (no object per point). */
function readCharts(runId: string, points: number): Promise<Series[]> {
  return apiGet('/nbmlops/api/runs/{run_id}/metric-charts', {
    path: { run_id: runId },
    query: { points }
  }).then(answer => answer.items.map(decoded));
}

/** Each metric's values (the run tab asked for them as it opened: `askChartsEarly`). */
function useHistories(runId: string, keys: string[], points: number) {
  return useLoad(() => readCharts(runId, points), [runId, keys.join('\u0000'), points]);
}

/** What a run's tab `width` pixels wide charts, asked for as the tab is being opened:
 * before the run's own record comes, which the chart would otherwise wait for to know the
 * run's metrics (a chart of another width asks again). */
export function askChartsEarly(runId: string, width: number): void {
  askEarly('/nbmlops/api/runs/{run_id}/metric-charts', {
    path: { run_id: runId },
    query: { points: pointsFor(width - CHART_INSET) }
  });
}

/** Whether xs only goes up. */
function increasing(xs: Float64Array): boolean {
  for (let i = 1; i < xs.length; i++) {
    if (!(xs[i] > xs[i - 1])) {
      return false;
    }
  }
  return true;
}

function sameNumbers(a: Float64Array, b: Float64Array): boolean {
  if (a === b) {
    return true;
  }
  if (a.length !== b.length) {
    return false;
  }
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      return false;
    }
  }
  return true;
}

/** A series' values as uPlot reads them: the typed array itself, unless a value is NaN
 * (a gap, which uPlot wants as null). */
function asDrawn(values: Float64Array): Float64Array | (number | null)[] {
  for (let i = 0; i < values.length; i++) {
    if (Number.isNaN(values[i])) {
      return Array.from(values, v => (Number.isNaN(v) ? null : v));
    }
  }
  return values;
}

/** The picked metrics on one x (steps or seconds since the epoch), aligned for uPlot.
 *
 * The common case, every series on the same increasing x (one metric; metrics logged at
 * the same steps), is the columns as they came: no copy, no lookup. Otherwise the x values
 * of all series are merged (sorted, once each) and each value placed by binary search;
 * a value logged twice at one x shows the later. */
export function alignHistories(series: Series[], x: XAxis): uPlot.AlignedData {
  const xsOf = (s: Series) => (x === 'step' ? s.steps : s.times);
  const first = xsOf(series[0]);
  if (increasing(first) && series.every(s => sameNumbers(xsOf(s), first))) {
    return [first, ...series.map(s => asDrawn(s.values))] as uPlot.AlignedData;
  }
  let all = new Float64Array(series.reduce((n, s) => n + s.values.length, 0));
  let at = 0;
  for (const s of series) {
    all.set(xsOf(s), at);
    at += s.values.length;
  }
  all.sort();
  let n = 0;
  for (let i = 0; i < all.length; i++) {
    if (i === 0 || all[i] !== all[n - 1]) {
      all[n++] = all[i];
    }
  }
  all = all.slice(0, n);
  return [
    all,
    ...series.map(s => {
      const ys: (number | null)[] = new Array(n).fill(null);
      const xs = xsOf(s);
      for (let i = 0; i < xs.length; i++) {
        let lo = 0;
        let hi = n - 1;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (all[mid] < xs[i]) {
            lo = mid + 1;
          } else {
            hi = mid;
          }
        }
        const v = s.values[i];
        ys[lo] = Number.isNaN(v) ? null : v;
      }
      return ys;
    })
  ] as uPlot.AlignedData;
}

/** Largest absolute value of a series (0 when it has none). */
function magnitude(values: Float64Array): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) {
    const a = Math.abs(values[i]);
    if (a > m) {
      m = a; // NaN is never larger
    }
  }
  return m;
}

/** A tick's value as written: enough digits to tell ticks apart (0.0005, not 0). */
function tickLabels(_u: uPlot, splits: number[]): string[] {
  return splits.map(v => (v === null ? '' : String(Number(v.toPrecision(6)))));
}

function formatX(x: XAxis, v: number): string {
  return x === 'step' ? formatValue(Math.round(v)) : new Date(v * 1000).toLocaleTimeString();
}

function sameRange(a: [number, number] | null, b: [number, number] | null): boolean {
  return a === b || (a !== null && b !== null && a[0] === b[0] && a[1] === b[1]);
}

/** The values of a zoomed range read again (at full resolution when it holds fewer than
 * `points`), when the overview was decimated; null until they come, or without a zoom. */
function useZoomed(
  runId: string,
  overview: Series[],
  x: XAxis,
  points: number,
  zoom: [number, number] | null
): Series[] | null {
  const [zoomed, setZoomed] = React.useState<{
    range: [number, number];
    series: Series[];
  } | null>(null);
  const decimated = overview.some(s => s.decimated);
  React.useEffect(() => {
    if (!zoom || !decimated) {
      return;
    }
    let current = true;
    Promise.all(overview.map(s => readSeries(runId, s.key, points, x, zoom))).then(
      series => current && setZoomed({ range: zoom, series }),
      () => undefined // the overview stays, zoomed as uPlot can
    );
    return () => {
      current = false;
    };
  }, [runId, overview, x, points, zoom?.[0], zoom?.[1], decimated]);
  return zoom && zoomed && sameRange(zoomed.range, zoom) ? zoomed.series : null;
}

/** The chart of the picked metrics, with what it shows (and its zoom) said in words. */
function HistoryChart(props: {
  runId: string;
  histories: Series[];
  x: XAxis;
  points: number;
}): JSX.Element {
  const { runId, histories, x, points } = props;
  const overview = React.useMemo(() => alignHistories(histories, x), [histories, x]);
  const [zoom, setZoom] = React.useState<[number, number] | null>(null);
  React.useEffect(() => setZoom(null), [overview]);
  const zoomed = useZoomed(runId, histories, x, points, zoom);
  const shown = zoomed ?? histories;
  const data = React.useMemo(
    () => (zoomed ? alignHistories(zoomed, x) : overview),
    [zoomed, overview, x]
  );
  // a metric ten times larger (or smaller) than the first goes on a right-hand axis
  const first = magnitude(histories[0].values) || 1;
  const scaleOf = histories.map(s => {
    const ratio = (magnitude(s.values) || 1) / first;
    return ratio > 10 || ratio < 0.1 ? 'y2' : 'y';
  });
  const left = histories.filter((_, i) => scaleOf[i] === 'y').map(s => s.key);
  const right = histories.filter((_, i) => scaleOf[i] === 'y2').map(s => s.key);
  const drawn = shown.reduce((n, s) => n + s.values.length, 0);
  const total = histories.reduce((n, s) => n + s.total, 0);
  const everyPoint = !shown.some(s => s.decimated);
  const xs = overview[0];
  const full: [number, number] = [xs[0], xs[xs.length - 1]];
  const xLabel = x === 'step' ? 'step' : 'time';
  const pointsSaid =
    drawn === total
      ? `${total.toLocaleString('en-US')} points`
      : `${drawn.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} points` +
        (everyPoint ? ', every one in this range' : ", each span's lowest and highest");
  return (
    <figure
      className="nbmlops-figure"
      data-testid="nbmlops-history"
      data-x={x}
      data-series={histories.length}
      data-x-min={zoom ? zoom[0] : full[0]}
      data-x-max={zoom ? zoom[1] : full[1]}
      data-points={drawn}
      data-total={total}
      data-every-point={everyPoint ? 'true' : 'false'}
    >
      <UPlotChart
        testId="nbmlops-history-chart"
        label={`${histories.map(s => s.key).join(', ')} by ${xLabel}`}
        deps={[data, x]}
        make={width => ({
          data,
          options: {
            width,
            height: 260,
            scales: {
              // a zoom's own values are drawn over the range dragged (not their extent:
              // that would read as another zoom)
              x: {
                time: x === 'time',
                ...(zoomed && zoom ? { range: (): uPlot.Range.MinMax => zoom } : {})
              },
              ...(right.length ? { y2: { auto: true } } : {})
            },
            legend: { show: true },
            cursor: {
              drag: { x: true, y: false, setScale: true },
              bind: {
                // back to the whole history (the overview's data again, where a zoom read
                // its own)
                dblclick: (_u, _t, handler) => (e: MouseEvent) => {
                  setZoom(null);
                  return zoomed ? null : handler(e);
                }
              }
            },
            axes: [
              themedAxis({ label: xLabel }),
              themedAxis({ label: left.join(', '), size: 64, scale: 'y', values: tickLabels }),
              ...(right.length
                ? [themedAxis({
                    label: right.join(', '),
                    size: 64,
                    scale: 'y2',
                    side: 1,
                    values: tickLabels
                  })]
                : [])
            ],
            series: [
              { label: xLabel },
              ...histories.map((s, i) => ({
                label: s.key,
                scale: scaleOf[i],
                stroke: seriesColor(i),
                width: 1.5,
                spanGaps: true,
                points: { show: (zoomed ?? histories)[i].values.length <= 60 },
                value: (_u: uPlot, v: number | null) => (v === null ? '—' : formatValue(v))
              }))
            ],
            hooks: {
              setScale: [
                (u: uPlot, key: string) => {
                  if (key !== 'x') {
                    return;
                  }
                  const { min, max } = u.scales.x;
                  if (min === undefined || max === undefined) {
                    return;
                  }
                  const whole = min <= full[0] && max >= full[1];
                  setZoom(z => (whole ? null : sameRange(z, [min, max]) ? z : [min, max]));
                }
              ]
            }
          }
        })}
      />
      <figcaption className="nbmlops-muted" data-testid="nbmlops-history-caption">
        {histories.length} metric{histories.length === 1 ? '' : 's'} by {xLabel},{' '}
        {pointsSaid}
        {right.length ? ` (${right.join(', ')} on the right-hand axis)` : ''} ·{' '}
        <span data-testid="nbmlops-history-zoom">
          {zoom
            ? `zoomed to ${xLabel} ${formatX(x, zoom[0])} – ${formatX(x, zoom[1])} of ` +
              `${formatX(x, full[0])} – ${formatX(x, full[1])}; double-click to reset`
            : 'drag across the chart to zoom'}
        </span>
      </figcaption>
    </figure>
  );
}

/** The metric histories, read at two points per pixel of the width they are drawn in. */
function MetricHistory(props: { runId: string; keys: string[] }): JSX.Element {
  const box = React.useRef<HTMLDivElement>(null);
  const [points, setPoints] = React.useState(0);
  React.useLayoutEffect(() => setPoints(pointsFor(box.current?.clientWidth ?? 0)), []);
  return (
    <div ref={box}>
      {points > 0 ? <PickedHistories {...props} points={points} /> : null}
    </div>
  );
}

/** The metrics with a history (read at most `points` values each): pick which to overlay,
 * by step or by time. */
function PickedHistories(props: {
  runId: string;
  keys: string[];
  points: number;
}): JSX.Element | null {
  const load = useHistories(props.runId, props.keys, props.points);
  const withHistory = React.useMemo(
    () => (load.data ?? []).filter(s => s.values.length > 1),
    [load.data]
  );
  const [picked, setPicked] = React.useState<string[] | null>(null);
  const [x, setX] = React.useState<XAxis>('step');
  const names = withHistory.map(s => s.key);
  const chosen = (picked ?? names.slice(0, 1)).filter(k => names.includes(k));
  // the same array while the same metrics are picked: a run tab drawn again (its live
  // updates) keeps the chart and its zoom
  const charted = React.useMemo(
    () => withHistory.filter(s => chosen.includes(s.key)),
    [withHistory, chosen.join('\u0000')]
  );
  if (!load.data) {
    return <Status load={load} />;
  }
  if (withHistory.length === 0) {
    return null; // one value each: the table above shows them
  }
  const toggle = (key: string, on: boolean) =>
    setPicked(
      on
        ? [...chosen, key].slice(-MAX_OVERLAID)
        : chosen.filter(k => k !== key)
    );
  return (
    <div className="nbmlops-chart-card" data-testid="nbmlops-metric-history">
      <div className="nbmlops-toolbar nbmlops-history-toolbar">
        <span className="nbmlops-segmented" role="group" aria-label="x axis">
          {(['step', 'time'] as XAxis[]).map(v => (
            <button
              key={v}
              className={`jp-mod-styled nbmlops-small ${x === v ? 'jp-mod-accept' : ''}`}
              aria-pressed={x === v}
              data-testid={`nbmlops-history-by-${v}`}
              onClick={() => setX(v)}
            >
              by {v}
            </button>
          ))}
        </span>
        {names.map(key => (
          <label key={key} className="nbmlops-history-pick">
            <input
              type="checkbox"
              data-testid="nbmlops-history-metric"
              data-key={key}
              checked={chosen.includes(key)}
              onChange={e => toggle(key, e.target.checked)}
            />{' '}
            {key}
          </label>
        ))}
      </div>
      {chosen.length > 0 ? (
        <HistoryChart
          runId={props.runId}
          histories={charted}
          x={x}
          points={props.points}
        />
      ) : (
        <div className="nbmlops-muted">Tick a metric to chart its history.</div>
      )}
    </div>
  );
}

/** Every metric of a run: its last value in a table, the histories on a chart. */
export function MetricCharts(props: {
  runId: string;
  metrics: { [key: string]: number };
}): JSX.Element {
  const keys = Object.keys(props.metrics).sort();
  return (
    <div>
      <h4>Metrics</h4>
      {keys.length === 0 ? (
        <div className="nbmlops-muted">none</div>
      ) : (
        <>
          <table className="nbmlops-table nbmlops-kv" data-testid="nbmlops-run-metrics">
            <tbody>
              {keys.map(k => (
                <tr key={k}>
                  <th>{k}</th>
                  <td className="nbmlops-number">{formatValue(props.metrics[k])}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <MetricHistory runId={props.runId} keys={keys.slice(0, MAX_HISTORIES)} />
        </>
      )}
    </div>
  );
}

/** The numbers of a column of the metric-series route (base64 of little-endian float64). */
export function float64s(packed: string): Float64Array {
  const text = atob(packed);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    bytes[i] = text.charCodeAt(i);
  }
  return new Float64Array(bytes.buffer);
}
