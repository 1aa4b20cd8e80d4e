/** Deployments, jobs and drift checks: read-only tables. */
import * as React from 'react';

import { Pager, Status, Table, formatTime, formatValue, useLoad } from './common';
import type { INav } from './panel';
import { apiGet } from './request';

const PAGE = 50;
const POLL_MS = 5000;

export function DeploymentsSection(props: { nav: INav }): JSX.Element {
  const [offset, setOffset] = React.useState(0);
  const load = useLoad(
    () => apiGet('/nbmlops/api/deployments', { query: { limit: PAGE, offset } }),
    [offset],
    POLL_MS
  );
  const page = load.data;
  return (
    <div className="nbmlops-section">
      <Status load={load} empty={page?.total === 0} emptyText="No deployments." />
      {page && page.items.length > 0 && (
        <>
          <Table
            rows={page.items}
            rowKey={d => d.id}
            testId="nbmlops-deployment-row"
            columns={[
              { title: 'Name', cell: d => d.name },
              {
                title: 'Status',
                cell: d => <span className={`nbmlops-status nbmlops-status-${d.status}`}>{d.status}</span>
              },
              {
                title: 'Model',
                cell: d => (
                  <a className="nbmlops-link" onClick={() => props.nav.showModel(d.model)}>
                    {d.model}
                    {d.alias ? `@${d.alias}` : ''} (v{d.version})
                  </a>
                )
              },
              { title: 'URL', cell: d => d.url },
              { title: 'Started', cell: d => formatTime(d.started_at) },
              {
                title: '',
                cell: d => (
                  <button
                    className="jp-Button jp-mod-styled nbmlops-small"
                    onClick={() => props.nav.lineage({ kind: 'deployment', value: d.id })}
                  >
                    Lineage
                  </button>
                )
              }
            ]}
          />
          <Pager total={page.total} exact={page.total_exact} limit={page.limit} offset={page.offset} onChange={setOffset} />
        </>
      )}
    </div>
  );
}

export function JobsSection(): JSX.Element {
  const [offset, setOffset] = React.useState(0);
  const load = useLoad(
    () => apiGet('/nbmlops/api/jobs', { query: { limit: PAGE, offset } }),
    [offset],
    POLL_MS
  );
  const page = load.data;
  return (
    <div className="nbmlops-section">
      <Status load={load} empty={page?.total === 0} emptyText="No exported jobs." />
      {page && page.items.length > 0 && (
        <>
          <Table
            rows={page.items}
            rowKey={j => j.folder}
            testId="nbmlops-job-row"
            columns={[
              { title: 'Job', cell: j => <span title={j.folder}>{j.job}</span> },
              { title: 'Schedule', cell: j => j.schedule ?? '' },
              { title: 'Targets', cell: j => j.targets },
              {
                title: 'Last run',
                cell: j =>
                  j.last_status ? (
                    <span className={`nbmlops-status nbmlops-status-${j.last_status}`}>
                      {j.last_status}
                    </span>
                  ) : (
                    'never'
                  )
              },
              { title: 'When', cell: j => formatTime(j.last_start) },
              { title: 'Error', cell: j => j.error ?? '' }
            ]}
          />
          <Pager total={page.total} exact={page.total_exact} limit={page.limit} offset={page.offset} onChange={setOffset} />
        </>
      )}
    </div>
  );
}

const yesNo = (value: boolean | null) => (value === null ? '' : value ? 'drift' : 'no');

export function DriftSection(props: { nav: INav }): JSX.Element {
  const [offset, setOffset] = React.useState(0);
  const load = useLoad(
    () => apiGet('/nbmlops/api/drift', { query: { limit: PAGE, offset } }),
    [offset],
    POLL_MS
  );
  const page = load.data;
  return (
    <div className="nbmlops-section">
      <Status load={load} empty={page?.total === 0} emptyText="No drift checks recorded." />
      {page && page.items.length > 0 && (
        <>
          <Table
            rows={page.items}
            rowKey={d => d.run_id}
            testId="nbmlops-drift-row"
            columns={[
              {
                title: 'Check',
                cell: d => (
                  <a className="nbmlops-link" onClick={() => props.nav.showRun(d.run_id)}>
                    {d.name ?? d.run_id.slice(0, 8)}
                  </a>
                )
              },
              { title: 'When', cell: d => formatTime(d.start) },
              { title: 'Model', cell: d => d.model ?? d.deployment ?? '' },
              {
                title: 'Dataset',
                cell: d => (
                  <span className={d.dataset_drift ? 'nbmlops-bad' : ''}>{yesNo(d.dataset_drift)}</span>
                )
              },
              {
                title: 'Prediction',
                cell: d => (
                  <span className={d.prediction_drift ? 'nbmlops-bad' : ''}>
                    {yesNo(d.prediction_drift)}
                  </span>
                )
              },
              {
                title: 'Drifted',
                cell: d =>
                  d.drifted_columns === null
                    ? ''
                    : `${d.drifted_columns} (${formatValue(d.drift_share)})`
              }
            ]}
          />
          <Pager total={page.total} exact={page.total_exact} limit={page.limit} offset={page.offset} onChange={setOffset} />
        </>
      )}
    </div>
  );
}
