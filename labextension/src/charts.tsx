/**
 * Metric-history charts (uPlot: canvas, a few tens of kilobytes, 100,000 points drawn in
 * milliseconds; see the README). Colours come from JupyterLab's theme variables.
 */
import * as React from 'react';
import uPlot from 'uplot';

import { ErrorMessage, formatValue, useLoad } from './common';
import { apiGet } from './request';

const MAX_CHARTS = 24;

function themeColor(name: string, fallback: string): string {
  return getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;
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

/** One metric's values by step, drawn once its history is read. */
export function MetricChart(props: { runId: string; metric: string }): JSX.Element | null {
  const load = useLoad(
    () =>
      apiGet('/nbmlops/api/runs/{run_id}/metric-series', {
        path: { run_id: props.runId },
        query: { key: props.metric }
      }),
    [props.runId, props.metric]
  );
  const box = React.useRef<HTMLDivElement>(null);
  // columns of packed float64, not a list of points: 100,000 values sent, decoded and
  // drawn without a JSON number or an object each
  const { xs, ys } = React.useMemo(() => {
    if (!load.data) {
      return { xs: [] as number[], ys: [] as (number | null)[] };
    }
    const steps = Array.from(float64s(load.data.steps));
    const values = Array.from(float64s(load.data.values), v => (Number.isFinite(v) ? v : null));
    return { xs: steps, ys: values };
  }, [load.data]);
  const count = xs.length;
  React.useEffect(() => {
    const node = box.current;
    if (!node || count < 2) {
      return;
    }
    const axis = {
      stroke: themeColor('--jp-ui-font-color1', '#333'),
      grid: { stroke: themeColor('--jp-border-color2', '#ddd'), width: 1 },
      ticks: { stroke: themeColor('--jp-border-color2', '#ddd'), width: 1 },
      font: `11px ${themeColor('--jp-ui-font-family', 'sans-serif')}`
    };
    const width = Math.max(200, node.clientWidth || 320);
    const plot = new uPlot(
      {
        width,
        height: 160,
        legend: { show: false },
        cursor: { drag: { x: true, y: false } },
        scales: { x: { time: false } },
        axes: [{ ...axis, label: 'step', labelSize: 14 }, { ...axis, size: 52 }],
        series: [
          {},
          {
            label: props.metric,
            stroke: themeColor('--jp-brand-color1', '#1976d2'),
            width: 1.5,
            points: { show: count <= 60 }
          }
        ]
      },
      [xs, ys as (number | null)[]],
      node
    );
    const resize = new ResizeObserver(() => {
      if (node.clientWidth > 0) {
        plot.setSize({ width: node.clientWidth, height: 160 });
      }
    });
    resize.observe(node);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [load.data]);
  const last = count ? { step: xs[count - 1], value: ys[count - 1] } : null;
  if (load.data && count < 2) {
    return null; // one value: the table above shows it
  }
  return (
    <div className="nbmlops-chart-card" data-testid="nbmlops-metric-chart" data-metric={props.metric}>
      <div className="nbmlops-chart-title">
        <b>{props.metric}</b>{' '}
        <span className="nbmlops-muted">
          {last ? `${formatValue(last.value)} at step ${last.step}` : ''}
          {count > 1 ? ` · ${count.toLocaleString('en-US')} points` : ''}
        </span>
      </div>
      <ErrorMessage error={load.error} />
      {count > 1 ? (
        <div ref={box} className="nbmlops-uplot" />
      ) : (
        <div className="nbmlops-muted">Loading…</div>
      )}
    </div>
  );
}

/** Every metric of a run: a chart for those with a history, a value for the others. */
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
          <div className="nbmlops-charts">
            {keys.slice(0, MAX_CHARTS).map(k => (
              <MetricChart key={k} runId={props.runId} metric={k} />
            ))}
          </div>
        </>
      )}
    </div>
  );
}
