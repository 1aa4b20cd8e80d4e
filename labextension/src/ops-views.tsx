/**
 * Main-area tabs for operations: Deployments (status, links, live traffic read by the
 * Jupyter server from the model server's /metrics, logs, stop, restarts as history), Jobs
 * (every recorded job run grouped by job, why a failed one failed, its run and executed
 * notebook) and Drift and monitors (a check's per-column tests, its plots, monitor checks).
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import * as React from 'react';

import { ArtifactPreview, download } from './artifacts';
import {
  ErrorMessage,
  Pager,
  Status,
  Table,
  formatDuration,
  formatTime,
  formatValue,
  useLoad
} from './common';
import { IJob, JobRun, useJobs } from './jobs-data';
import type { INav } from './panel';
import { Schemas, apiGet, apiPost } from './request';

const PAGE = 50;
const POLL_MS = 5000;

type Deployment = Schemas['Deployment'];

function Badge(props: { status: string; testId?: string }): JSX.Element {
  return (
    <span
      className={`nbmlops-status nbmlops-status-${props.status}`}
      data-testid={props.testId ?? 'nbmlops-status'}
    >
      {props.status}
    </span>
  );
}

function ms(value: number | null | undefined): string {
  if (value === null || value === undefined) {
    return '—';
  }
  return value < 10 ? `${value.toFixed(1)} ms` : `${Math.round(value)} ms`;
}

// -- Deployments ----------------------------------------------------------------------------

function Traffic(props: { name: string }): JSX.Element {
  const load = useLoad(
    () => apiGet('/nbmlops/api/deployments/{name}/traffic', { path: { name: props.name } }),
    [props.name],
    POLL_MS
  );
  const t = load.data;
  if (!t) {
    return <Status load={load} />;
  }
  if (!t.reachable) {
    return (
      <div className="nbmlops-muted" data-testid="nbmlops-traffic">
        No live traffic: {t.detail}
      </div>
    );
  }
  const errors = (t.client_errors ?? 0) + (t.server_errors ?? 0);
  const cells: [string, string, string][] = [
    ['requests', 'Requests', String(t.requests)],
    ['errors', 'Errors', `${errors} (${t.client_errors} 4xx, ${t.server_errors} 5xx)`],
    ['rows', 'Rows scored', String(t.rows)],
    ['mean', 'Mean latency', ms(t.mean_ms)],
    ['p50', 'p50 latency', t.p50_ms === null ? '—' : `≤ ${ms(t.p50_ms)}`],
    ['p99', 'p99 latency', t.p99_ms === null ? '—' : `≤ ${ms(t.p99_ms)}`]
  ];
  return (
    <div className="nbmlops-stats" data-testid="nbmlops-traffic">
      {cells.map(([key, label, value]) => (
        <div key={key} className="nbmlops-stat" data-testid={`nbmlops-traffic-${key}`}>
          <div className="nbmlops-stat-value">{value}</div>
          <div className="nbmlops-stat-label">{label}</div>
        </div>
      ))}
      <div className="nbmlops-muted nbmlops-stat-note">
        /predict since the server started, read from its /metrics every {POLL_MS / 1000} s
      </div>
    </div>
  );
}

function Logs(props: { name: string }): JSX.Element {
  const load = useLoad(
    () =>
      apiGet('/nbmlops/api/deployments/{name}/logs', {
        path: { name: props.name },
        query: { lines: 200 }
      }),
    [props.name],
    POLL_MS
  );
  return (
    <>
      <Status load={load} />
      {load.data && (
        <pre className="nbmlops-logs" data-testid="nbmlops-deployment-logs">
          {load.data.lines.length ? load.data.lines.join('\n') : '(the log is empty)'}
        </pre>
      )}
    </>
  );
}

function DeploymentDetail(props: { name: string; nav: INav; onChange: () => void }): JSX.Element {
  const load = useLoad(
    () => apiGet('/nbmlops/api/deployments/{name}', { path: { name: props.name } }),
    [props.name],
    POLL_MS
  );
  const [stopping, setStopping] = React.useState(false);
  const [error, setError] = React.useState<string | null>(null);
  const detail = load.data;
  if (!detail) {
    return <Status load={load} />;
  }
  const d = detail.deployment;
  const stop = async () => {
    const result = await showDialog({
      title: `Stop deployment ${d.name}?`,
      body: `${d.url} stops answering: it finishes the requests in flight, then exits. Anything calling it gets errors until it is deployed again.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Stop' })]
    });
    if (!result.button.accept) {
      return;
    }
    setStopping(true);
    setError(null);
    try {
      await apiPost('/nbmlops/api/deployments/{name}/stop', { name: d.name }, undefined as never);
    } catch (reason) {
      setError(reason instanceof Error ? reason.message : String(reason));
    }
    setStopping(false);
    load.reload();
    props.onChange();
  };
  return (
    <div className="nbmlops-detail" data-testid="nbmlops-deployment-detail">
      <h3 className="nbmlops-heading">
        {d.name} <Badge status={d.status} />{' '}
        {d.status === 'running' && (
          <button
            className="jp-Button jp-mod-styled jp-mod-warn nbmlops-small"
            data-testid="nbmlops-stop-deployment"
            disabled={stopping}
            onClick={() => void stop()}
          >
            {stopping ? 'Stopping…' : 'Stop'}
          </button>
        )}
      </h3>
      <ErrorMessage error={error} />
      <div className="nbmlops-line">
        Serves{' '}
        <a className="nbmlops-link" onClick={() => props.nav.showModel(d.model)}>
          {d.model}
          {d.alias ? `@${d.alias}` : ''} (version {d.version})
        </a>{' '}
        · {d.workers} worker{d.workers === 1 ? '' : 's'} · started {formatTime(d.started_at)}
        {d.stopped_at ? ` · stopped ${formatTime(d.stopped_at)}` : ''}
      </div>
      <div className="nbmlops-line">
        <a href={d.url} target="_blank" rel="noreferrer" data-testid="nbmlops-deployment-url">
          {d.url}
        </a>{' '}
        ·{' '}
        <a
          href={d.url.replace(/\/+$/, '') + '/docs'}
          target="_blank"
          rel="noreferrer"
          data-testid="nbmlops-deployment-docs"
        >
          API docs
        </a>{' '}
        ·{' '}
        <a
          className="nbmlops-link"
          onClick={() => props.nav.lineage({ kind: 'deployment', value: d.name })}
        >
          lineage
        </a>
      </div>
      {d.error && <ErrorMessage error={d.error} />}
      <h4>Traffic</h4>
      <Traffic name={d.name} />
      <h4>History ({detail.history.length} record{detail.history.length === 1 ? '' : 's'}: the start and each restart)</h4>
      <Table
        rows={detail.history}
        rowKey={h => h.id}
        testId="nbmlops-deployment-history-row"
        columns={[
          { title: 'Started', cell: h => formatTime(h.started_at) },
          { title: 'Stopped', cell: h => formatTime(h.stopped_at) },
          { title: 'Status', cell: h => <Badge status={h.status} /> },
          { title: 'Version', cell: h => `v${h.version}` },
          { title: 'Why it ended', cell: h => h.error ?? '' }
        ]}
      />
      <h4>Server log</h4>
      <Logs name={d.name} />
    </div>
  );
}

export function DeploymentsView(props: { nav: INav; name?: string }): JSX.Element {
  const [offset, setOffset] = React.useState(0);
  const [selected, setSelected] = React.useState<string | null>(props.name ?? null);
  const load = useLoad(
    () => apiGet('/nbmlops/api/deployments', { query: { limit: PAGE, offset } }),
    [offset],
    POLL_MS
  );
  const page = load.data;
  const shown = selected ?? page?.items[0]?.name ?? null;
  return (
    <div className="nbmlops-section" data-testid="nbmlops-deployments-view">
      <Status load={load} empty={page?.total === 0} emptyText="No deployments." />
      {page && page.items.length > 0 && (
        <>
          <Table<Deployment>
            rows={page.items}
            rowKey={d => d.name}
            testId="nbmlops-deployment-row"
            columns={[
              {
                title: 'Deployment',
                cell: d => (
                  <a
                    className={'nbmlops-link' + (d.name === shown ? ' nbmlops-mod-selected' : '')}
                    onClick={() => setSelected(d.name)}
                  >
                    {d.name}
                  </a>
                )
              },
              { title: 'Status', cell: d => <Badge status={d.status} /> },
              {
                title: 'Serves',
                cell: d => `${d.model}${d.alias ? `@${d.alias}` : ''} (v${d.version})`
              },
              {
                title: 'URL',
                cell: d => (
                  <a href={d.url} target="_blank" rel="noreferrer">
                    {d.url}
                  </a>
                )
              },
              { title: 'Restarts', cell: d => String(d.records - 1) },
              { title: 'Started', cell: d => formatTime(d.started_at) }
            ]}
          />
          <Pager total={page.total} exact={page.total_exact} limit={page.limit} offset={page.offset} onChange={setOffset} />
          {shown && <DeploymentDetail key={shown} name={shown} nav={props.nav} onChange={load.reload} />}
        </>
      )}
    </div>
  );
}

// -- Jobs -----------------------------------------------------------------------------------


export function whyFailed(r: JobRun): string {
  if (r.status === 'finished') {
    return '';
  }
  if (r.gate_failed) {
    return `gate not met: ${r.gate_failed}`;
  }
  const kind = r.failure ? `${r.failure}: ` : '';
  return `${kind}${r.error ?? r.status}`;
}

function ExecutedNotebook(props: { r: JobRun; nav: INav }): JSX.Element | null {
  const { r, nav } = props;
  const [error, setError] = React.useState<string | null>(null);
  const inRoot = nav.notebookInRoot(r.executed);
  if (inRoot) {
    return (
      <a
        className="nbmlops-link"
        data-testid="nbmlops-open-executed"
        title={r.executed ?? ''}
        onClick={() => void nav.openNotebook(inRoot)}
      >
        open notebook
      </a>
    );
  }
  if (r.executed_artifact) {
    const artifact = r.executed_artifact;
    return (
      <>
        <a
          className="nbmlops-link"
          data-testid="nbmlops-download-executed"
          title={`${r.executed ?? artifact} is outside the project: download it`}
          onClick={() =>
            download(r.run_id, artifact).catch((reason: unknown) => setError(String(reason)))
          }
        >
          download notebook
        </a>
        <ErrorMessage error={error} />
      </>
    );
  }
  return null;
}

export function JobsView(props: { nav: INav }): JSX.Element {
  const { nav } = props;
  const load = useJobs(POLL_MS);
  const groups = load.data?.groups ?? new Map<string, IJob>();
  return (
    <div className="nbmlops-section" data-testid="nbmlops-jobs-view">
      <Status load={load} empty={load.data !== null && groups.size === 0} emptyText="No jobs exported or run yet." />
      {load.data && load.data.total > load.data.read && (
        <div className="nbmlops-muted">
          The newest {load.data.read} of {load.data.total} job runs.
        </div>
      )}
      {[...groups.entries()].map(([job, g]) => {
        const last = g.runs[0];
        return (
          <div key={job} className="nbmlops-group" data-testid="nbmlops-job" data-job={job}>
            <h3 className="nbmlops-heading">
              {job} {last ? <Badge status={last.status} /> : <span className="nbmlops-muted">never run</span>}
            </h3>
            <div className="nbmlops-muted" title={g.folder}>
              {g.folder}
              {g.schedule ? ` · ${g.schedule}` : ''} · {g.runs.length} run{g.runs.length === 1 ? '' : 's'}
            </div>
            {g.runs.length > 0 && (
              <Table<JobRun>
                rows={g.runs}
                rowKey={r => r.run_id}
                testId="nbmlops-job-run-row"
                columns={[
                  { title: 'When', cell: r => formatTime(r.start) },
                  { title: 'Status', cell: r => <Badge status={r.status} /> },
                  { title: 'Took', cell: r => formatDuration(r.duration_s) },
                  {
                    title: 'Why it failed',
                    cell: r => (
                      <span className={r.status === 'finished' ? '' : 'nbmlops-bad'} data-testid="nbmlops-job-why">
                        {whyFailed(r)}
                      </span>
                    )
                  },
                  {
                    title: 'Parameters',
                    cell: r =>
                      Object.entries(r.parameters)
                        .map(([k, v]) => `${k}=${formatValue(v)}`)
                        .join(', ')
                  },
                  {
                    title: 'Run',
                    cell: r => (
                      <a className="nbmlops-link" data-testid="nbmlops-job-run-link" onClick={() => nav.showRun(r.run_id)}>
                        {r.run_id.slice(0, 8)}
                      </a>
                    )
                  },
                  { title: 'Notebook', cell: r => <ExecutedNotebook r={r} nav={nav} /> }
                ]}
              />
            )}
          </div>
        );
      })}
    </div>
  );
}

// -- Drift and monitors -----------------------------------------------------------------------

const TEST_NAMES: { [test: string]: string } = {
  ks: 'Kolmogorov–Smirnov',
  chi2: 'chi-squared',
  psi: 'population stability index',
  wasserstein: 'Wasserstein distance',
  jensenshannon: 'Jensen–Shannon distance'
};
const P_VALUE_TESTS = new Set(['ks', 'chi2']);

type DriftColumn = Schemas['DriftColumn'];

function num(value: number | null | undefined): string {
  return value === null || value === undefined ? '—' : formatValue(value);
}

function DriftTable(props: { columns: DriftColumn[] }): JSX.Element {
  return (
    <Table<DriftColumn>
      rows={props.columns}
      rowKey={c => c.column}
      testId="nbmlops-drift-column-row"
      columns={[
        { title: 'Column', cell: c => c.column },
        {
          title: 'Test',
          cell: c => (c.test ? <span title={c.test}>{TEST_NAMES[c.test] ?? c.test}</span> : '—')
        },
        { title: 'Statistic', cell: c => (c.test && !P_VALUE_TESTS.has(c.test) ? '—' : num(c.statistic)) },
        { title: 'p-value', cell: c => (c.test && P_VALUE_TESTS.has(c.test) ? num(c.p_value) : '—') },
        { title: 'Distance', cell: c => (c.test && !P_VALUE_TESTS.has(c.test) ? num(c.statistic) : '—') },
        {
          title: 'Threshold',
          cell: c =>
            c.threshold === null
              ? '—'
              : `${c.test && P_VALUE_TESTS.has(c.test) ? 'p <' : 'd >'} ${formatValue(c.threshold)}`
        },
        {
          title: 'Drifted',
          cell: c =>
            c.drifted === null ? '—' : c.drifted ? <span className="nbmlops-bad">drifted</span> : 'no'
        }
      ]}
    />
  );
}

function DriftCheckDetail(props: { runId: string; nav: INav }): JSX.Element {
  const load = useLoad(
    () => apiGet('/nbmlops/api/drift/{run_id}', { path: { run_id: props.runId } }),
    [props.runId]
  );
  const c = load.data;
  if (!c) {
    return <Status load={load} />;
  }
  const verdict = c.dataset_drift
    ? `Data drifted: ${c.drifted_columns} of ${c.columns_checked} columns`
    : `No data drift: ${c.drifted_columns} of ${c.columns_checked} columns drifted`;
  return (
    <div className="nbmlops-detail" data-testid="nbmlops-drift-detail">
      <h3 className="nbmlops-heading">
        <span className={c.dataset_drift ? 'nbmlops-bad' : 'nbmlops-good'} data-testid="nbmlops-drift-verdict">
          {verdict}
        </span>
        {c.prediction_drift !== null && (
          <span className={c.prediction_drift ? 'nbmlops-bad' : 'nbmlops-good'}>
            {' · '}
            {c.prediction_drift ? 'prediction drifted' : 'prediction steady'}
          </span>
        )}
      </h3>
      <div className="nbmlops-line">
        {c.reference} → {c.current} · {formatTime(c.time)}
        {c.share_threshold !== null ? ` · drifted when ≥ ${Math.round(c.share_threshold * 100)}% of columns drift` : ''} ·{' '}
        <a className="nbmlops-link" onClick={() => props.nav.showRun(c.run_id)}>
          run {c.run_id.slice(0, 8)}
        </a>
      </div>
      <DriftTable columns={c.prediction ? [...c.columns, c.prediction] : c.columns} />
      {c.report && (
        <>
          <h4>Plots ({c.report})</h4>
          <ArtifactPreview
            runId={c.run_id}
            artifact={{ name: c.report, kind: 'file', sha256: '', size: 0, media_type: 'text/html' }}
          />
        </>
      )}
    </div>
  );
}

function MonitorChecks(props: { onDrift: (runId: string) => void }): JSX.Element {
  const [offset, setOffset] = React.useState(0);
  const load = useLoad(
    () => apiGet('/nbmlops/api/monitor-checks', { query: { limit: PAGE, offset } }),
    [offset],
    POLL_MS
  );
  const page = load.data;
  return (
    <>
      <Status load={load} empty={page?.total === 0} emptyText="No monitor checks recorded." />
      {page && page.items.length > 0 && (
        <>
          <Table<Schemas['MonitorCheck']>
            rows={page.items}
            rowKey={m => m.run_id}
            testId="nbmlops-monitor-row"
            columns={[
              { title: 'Monitor', cell: m => m.monitor },
              { title: 'When', cell: m => formatTime(m.time) },
              { title: 'Status', cell: m => <Badge status={m.status} /> },
              { title: 'Incident', cell: m => (m.incident === null ? '' : `#${m.incident}${m.alerted ? ' (alerted)' : ''}`) },
              { title: 'Reasons', cell: m => m.reasons.join('; ') },
              { title: 'Rows', cell: m => String(m.rows) },
              {
                title: 'Window',
                cell: m => `${m.window_start ? formatTime(m.window_start) : 'first row'} – ${formatTime(m.window_end)}`
              },
              {
                title: 'Drift check',
                cell: m =>
                  m.drift_run ? (
                    <a className="nbmlops-link" data-testid="nbmlops-monitor-drift" onClick={() => props.onDrift(m.drift_run as string)}>
                      {m.drift_run.slice(0, 8)}
                    </a>
                  ) : (
                    ''
                  )
              }
            ]}
          />
          <Pager total={page.total} exact={page.total_exact} limit={page.limit} offset={page.offset} onChange={setOffset} />
        </>
      )}
    </>
  );
}

export function DriftView(props: { nav: INav; run?: string }): JSX.Element {
  const [offset, setOffset] = React.useState(0);
  const [selected, setSelected] = React.useState<string | null>(props.run ?? null);
  const load = useLoad(
    () => apiGet('/nbmlops/api/drift', { query: { limit: PAGE, offset } }),
    [offset],
    POLL_MS
  );
  const page = load.data;
  const shown = selected ?? page?.items[0]?.run_id ?? null;
  return (
    <div className="nbmlops-section" data-testid="nbmlops-drift-view">
      <h3 className="nbmlops-heading">Drift checks</h3>
      <Status load={load} empty={page?.total === 0} emptyText="No drift checks recorded." />
      {page && page.items.length > 0 && (
        <>
          <Table<Schemas['DriftRun']>
            rows={page.items}
            rowKey={d => d.run_id}
            testId="nbmlops-drift-check-row"
            columns={[
              {
                title: 'Check',
                cell: d => (
                  <a
                    className={'nbmlops-link' + (d.run_id === shown ? ' nbmlops-mod-selected' : '')}
                    title={d.name ?? d.run_id}
                    onClick={() => setSelected(d.run_id)}
                  >
                    {d.run_id.slice(0, 8)}
                  </a>
                )
              },
              { title: 'When', cell: d => formatTime(d.start) },
              { title: 'Model', cell: d => d.model ?? '' },
              { title: 'Deployment', cell: d => d.deployment ?? '' },
              {
                title: 'Verdict',
                cell: d =>
                  d.dataset_drift ? (
                    <span className="nbmlops-bad">drifted ({d.drifted_columns})</span>
                  ) : (
                    'no drift'
                  )
              }
            ]}
          />
          <Pager total={page.total} exact={page.total_exact} limit={page.limit} offset={page.offset} onChange={setOffset} />
        </>
      )}
      {shown && <DriftCheckDetail key={shown} runId={shown} nav={props.nav} />}
      <h3 className="nbmlops-heading">Monitors</h3>
      <MonitorChecks onDrift={setSelected} />
    </div>
  );
}
