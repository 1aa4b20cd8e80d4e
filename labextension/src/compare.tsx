/** Compare: the chosen runs' params and metrics side by side, and one metric as bars. */
import * as React from 'react';

import { ErrorMessage, Status, formatValue, useLoad } from './common';
import type { INav } from './panel';
import { Schemas, apiGet } from './request';

const BAR_HEIGHT = 18;
const LABEL_WIDTH = 90;
const CHART_WIDTH = 260;

function runLabel(run: Schemas['RunSummary']): string {
  return run.name ?? run.run_id.slice(0, 8);
}

export function BarChart(props: {
  runs: Schemas['RunSummary'][];
  metric: string;
}): JSX.Element {
  const values = props.runs.map(r => r.metrics[props.metric]);
  const finite = values.filter((v): v is number => typeof v === 'number' && isFinite(v));
  const max = Math.max(0, ...finite);
  const min = Math.min(0, ...finite);
  const span = max - min || 1;
  const barArea = CHART_WIDTH - LABEL_WIDTH - 50;
  const zero = LABEL_WIDTH + ((0 - min) / span) * barArea;
  const height = props.runs.length * (BAR_HEIGHT + 4) + 4;
  return (
    <svg
      className="nbmlops-chart"
      data-testid="nbmlops-compare-chart"
      width={CHART_WIDTH}
      height={height}
      viewBox={`0 0 ${CHART_WIDTH} ${height}`}
      role="img"
      aria-label={`${props.metric} by run`}
    >
      {props.runs.map((run, i) => {
        const value = values[i];
        const y = 4 + i * (BAR_HEIGHT + 4);
        const has = typeof value === 'number' && isFinite(value);
        const x1 = has ? LABEL_WIDTH + ((Math.min(0, value) - min) / span) * barArea : zero;
        const w = has ? (Math.abs(value) / span) * barArea : 0;
        return (
          <g key={run.run_id}>
            <text x={LABEL_WIDTH - 4} y={y + BAR_HEIGHT - 5} textAnchor="end">
              {runLabel(run).slice(0, 12)}
            </text>
            <rect className="nbmlops-bar" x={x1} y={y} width={Math.max(w, 1)} height={BAR_HEIGHT}>
              <title>{`${runLabel(run)}: ${formatValue(value)}`}</title>
            </rect>
            <text x={x1 + w + 3} y={y + BAR_HEIGHT - 5}>
              {has ? formatValue(value) : '—'}
            </text>
          </g>
        );
      })}
      <line className="nbmlops-axis" x1={zero} x2={zero} y1={0} y2={height} />
    </svg>
  );
}

export function CompareSection(props: { runIds: string[]; nav: INav }): JSX.Element {
  const ids = props.runIds.join(',');
  const load = useLoad(
    () =>
      ids
        ? apiGet('/nbmlops/api/compare', { query: { ids } })
        : Promise.resolve<Schemas['Comparison'] | null>(null),
    [ids]
  );
  const [metric, setMetric] = React.useState<string>('');
  const comparison = load.data;
  React.useEffect(() => {
    if (comparison && !comparison.metrics.includes(metric)) {
      setMetric(comparison.differing.metrics[0] ?? comparison.metrics[0] ?? '');
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
  const differs = (kind: 'params' | 'metrics', key: string) =>
    comparison.differing[kind].includes(key);
  const rows: [kind: 'params' | 'metrics', key: string][] = [
    ...comparison.params.map(k => ['params', k] as ['params', string]),
    ...comparison.metrics.map(k => ['metrics', k] as ['metrics', string])
  ];
  return (
    <div className="nbmlops-section">
      <ErrorMessage error={load.error} />
      <div className="nbmlops-scroll">
        <table className="nbmlops-table" data-testid="nbmlops-compare-table">
          <thead>
            <tr>
              <th />
              {comparison.runs.map(run => (
                <th key={run.run_id}>
                  <a className="nbmlops-link" onClick={() => props.nav.showRun(run.run_id)}>
                    {runLabel(run)}
                  </a>
                </th>
              ))}
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
                <th title={`${kind}.${key}`}>
                  <span className="nbmlops-muted">{kind === 'params' ? 'param' : 'metric'}</span>{' '}
                  {key}
                </th>
                {comparison.runs.map(run => (
                  <td key={run.run_id} className="nbmlops-number">
                    {formatValue(run[kind][key])}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {comparison.metrics.length > 0 && (
        <div>
          <label>
            Chart{' '}
            <select
              value={metric}
              data-testid="nbmlops-chart-metric"
              onChange={e => setMetric(e.target.value)}
            >
              {comparison.metrics.map(m => (
                <option key={m} value={m}>
                  {m}
                </option>
              ))}
            </select>
          </label>
          <BarChart runs={comparison.runs} metric={metric} />
        </div>
      )}
    </div>
  );
}
