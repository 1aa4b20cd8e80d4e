/**
 * A run's metric history: the metrics a person picks overlaid on one uPlot chart (canvas, a
 * few tens of kilobytes, 100,000 points drawn in milliseconds; see the README), by step or
 * by time, each series its own colour from JupyterLab's theme, a legend, drag to zoom and
 * double-click to reset.
 */
import * as React from 'react';
import type uPlot from 'uplot';

import { UPlotChart, seriesColor, themedAxis } from './compare-charts';
import { Status, formatValue, useLoad } from './common';
import { Schemas, apiGet } from './request';

/** Metrics whose history is read for the chart (the table lists every metric). */
const MAX_HISTORIES = 24;
/** Metrics overlaid at once. */
export const MAX_OVERLAID = 8;

type Point = Schemas['MetricPoint'];
type XAxis = 'step' | 'time';

/** Each metric's points, read together. */
function useHistories(runId: string, keys: string[]) {
  return useLoad(
    () =>
      Promise.all(
        keys.map(key =>
          apiGet('/nbmlops/api/runs/{run_id}/metric-history', {
            path: { run_id: runId },
            query: { key }
          }).then(page => [key, page.items] as [string, Point[]])
        )
      ),
    [runId, keys.join('\u0000')]
  );
}

/** The picked metrics on one x (steps or seconds since the epoch), aligned for uPlot. */
export function alignHistories(
  histories: [string, Point[]][],
  x: XAxis
): uPlot.AlignedData {
  const xOf = (p: Point) => (x === 'step' ? p.step : p.timestamp);
  const xs = Array.from(new Set(histories.flatMap(([, pts]) => pts.map(xOf)))).sort(
    (a, b) => a - b
  );
  const at = new Map(xs.map((v, i) => [v, i]));
  return [
    xs,
    ...histories.map(([, pts]) => {
      const ys: (number | null)[] = new Array(xs.length).fill(null);
      for (const p of pts) {
        ys[at.get(xOf(p)) as number] = p.value;
      }
      return ys;
    })
  ];
}

/** Largest absolute value of a series (0 when it has none). */
function magnitude(points: Point[]): number {
  let m = 0;
  for (const p of points) {
    if (p.value !== null && Math.abs(p.value) > m) {
      m = Math.abs(p.value);
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

/** The chart of the picked metrics, with what it shows (and its zoom) said in words. */
function HistoryChart(props: { histories: [string, Point[]][]; x: XAxis }): JSX.Element {
  const { histories, x } = props;
  const data = React.useMemo(() => alignHistories(histories, x), [histories, x]);
  const xs = data[0] as number[];
  const [zoom, setZoom] = React.useState<[number, number] | null>(null);
  React.useEffect(() => setZoom(null), [data]);
  // a metric ten times larger (or smaller) than the first goes on a right-hand axis
  const first = magnitude(histories[0][1]) || 1;
  const scaleOf = histories.map(([, pts]) => {
    const ratio = (magnitude(pts) || 1) / first;
    return ratio > 10 || ratio < 0.1 ? 'y2' : 'y';
  });
  const left = histories.filter((_, i) => scaleOf[i] === 'y').map(([k]) => k);
  const right = histories.filter((_, i) => scaleOf[i] === 'y2').map(([k]) => k);
  const points = histories.reduce((n, [, pts]) => n + pts.length, 0);
  const full: [number, number] = [xs[0], xs[xs.length - 1]];
  const xLabel = x === 'step' ? 'step' : 'time';
  return (
    <figure
      className="nbmlops-figure"
      data-testid="nbmlops-history"
      data-x={x}
      data-series={histories.length}
      data-x-min={zoom ? zoom[0] : full[0]}
      data-x-max={zoom ? zoom[1] : full[1]}
    >
      <UPlotChart
        testId="nbmlops-history-chart"
        label={`${histories.map(([k]) => k).join(', ')} by ${xLabel}`}
        deps={[data, x]}
        make={width => ({
          data,
          options: {
            width,
            height: 260,
            scales: {
              x: { time: x === 'time' },
              ...(right.length ? { y2: { auto: true } } : {})
            },
            legend: { show: true },
            cursor: { drag: { x: true, y: false, setScale: true } },
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
              ...histories.map(([key, pts], i) => ({
                label: key,
                scale: scaleOf[i],
                stroke: seriesColor(i),
                width: 1.5,
                spanGaps: true,
                points: { show: pts.length <= 60 },
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
                  setZoom(whole ? null : [min, max]);
                }
              ]
            }
          }
        })}
      />
      <figcaption className="nbmlops-muted" data-testid="nbmlops-history-caption">
        {histories.length} metric{histories.length === 1 ? '' : 's'} by {xLabel},{' '}
        {points.toLocaleString('en-US')} points
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

/** The metrics with a history: pick which to overlay, by step or by time. */
function MetricHistory(props: { runId: string; keys: string[] }): JSX.Element | null {
  const load = useHistories(props.runId, props.keys);
  const withHistory = (load.data ?? []).filter(([, pts]) => pts.length > 1);
  const [picked, setPicked] = React.useState<string[] | null>(null);
  const [x, setX] = React.useState<XAxis>('step');
  if (!load.data) {
    return <Status load={load} />;
  }
  if (withHistory.length === 0) {
    return null; // one value each: the table above shows them
  }
  const names = withHistory.map(([k]) => k);
  const chosen = (picked ?? names.slice(0, 1)).filter(k => names.includes(k));
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
          histories={withHistory.filter(([k]) => chosen.includes(k))}
          x={x}
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
