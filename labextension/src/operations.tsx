/** Deployments, jobs and drift checks: read-only tables. */
import * as React from 'react';

import { Pager, Status, Table, formatTime, shortName, useLoad } from './common';
import type { INav } from './panel';
import { useJobs } from './jobs-data';
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
              {
                title: 'Deployment',
                cell: d => (
                  <a
                    className="nbmlops-link"
                    title={`${d.model}${d.alias ? `@${d.alias}` : ''} at ${d.url}: open its tab`}
                    onClick={() => props.nav.open('deployments', { name: d.name })}
                  >
                    {d.name}
                  </a>
                )
              },
              {
                title: 'Status',
                cell: d => <span className={`nbmlops-status nbmlops-status-${d.status}`}>{d.status}</span>
              },
              { title: 'Version', cell: d => `v${d.version}` }
            ]}
          />
          <Pager total={page.total} exact={page.total_exact} limit={page.limit} offset={page.offset} onChange={setOffset} />
        </>
      )}
    </div>
  );
}

/** The sidebar's jobs: every job that ran (wherever it was exported) or is exported in the
 * project, with its last run; the Jobs tab has each run and why it failed. */
export function JobsSection(props: { nav: INav }): JSX.Element {
  const load = useJobs(POLL_MS);
  const rows = [...(load.data?.groups.entries() ?? [])].map(
    ([job, g]) =>
      [
        job,
        {
          status: g.runs[0]?.status ?? null,
          start: g.runs[0]?.start ?? null,
          run: g.runs[0]?.run_id ?? null,
          folder: g.folder
        }
      ] as const
  );
  return (
    <div className="nbmlops-section">
      <Status load={load} empty={load.data !== null && rows.length === 0} emptyText="No jobs exported or run yet." />
      {rows.length > 0 && (
        <Table
          rows={rows}
          rowKey={([job]) => job}
          testId="nbmlops-job-row"
          columns={[
            { title: 'Job', cell: ([job, j]) => <span title={j.folder}>{job}</span> },
            {
              title: 'Last run',
              cell: ([, j]) =>
                j.status ? (
                  <a className="nbmlops-link" onClick={() => j.run && props.nav.showRun(j.run)}>
                    <span className={`nbmlops-status nbmlops-status-${j.status}`}>{j.status}</span>
                  </a>
                ) : (
                  'never'
                )
            },
            { title: 'When', cell: ([, j]) => formatTime(j.start) }
          ]}
        />
      )}
    </div>
  );
}

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
                  <a
                    className="nbmlops-link"
                    title={d.name ?? d.run_id}
                    onClick={() => props.nav.open('drift', { run: d.run_id })}
                  >
                    {shortName(d.name ?? d.run_id.slice(0, 8), 24)}
                  </a>
                )
              },
              { title: 'When', cell: d => formatTime(d.start) },
              {
                title: 'Verdict',
                cell: d => (
                  <span className={d.dataset_drift ? 'nbmlops-bad' : ''}>
                    {d.dataset_drift ? `drift (${d.drifted_columns})` : 'no drift'}
                    {d.prediction_drift ? ', prediction' : ''}
                  </span>
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
