/** Runs: filters, a sortable paged table refreshed every few seconds, and one run's details. */
import * as React from 'react';

import {
  ErrorMessage,
  Pager,
  Status,
  formatDuration,
  formatTime,
  formatValue,
  useLoad
} from './common';
import type { INav } from './panel';
import { Schemas, apiGet } from './request';
import { RunSlice } from './slice';

export const POLL_MS = 3000;
const PAGE = 25;
const STATUSES = ['running', 'finished', 'failed', 'interrupted', 'crashed'];
const MAX_METRIC_COLUMNS = 5;

interface IFilters {
  experiment: string;
  status: string;
  name: string;
  where: string;
}

const NO_FILTERS: IFilters = { experiment: '', status: '', name: '', where: '' };

function Experiments(props: {
  value: string;
  onChange: (value: string) => void;
}): JSX.Element {
  const load = useLoad(() => apiGet('/nbmlops/api/experiments', { query: { limit: 500 } }), []);
  return (
    <select
      aria-label="Experiment"
      data-testid="nbmlops-experiment-picker"
      value={props.value}
      onChange={e => props.onChange(e.target.value)}
    >
      <option value="">All experiments</option>
      {(load.data?.items ?? []).map(x => (
        <option key={x.id} value={x.name}>
          {x.name}
        </option>
      ))}
    </select>
  );
}

/** A text field that applies its value on Enter or when it loses focus. */
function Field(props: {
  label: string;
  placeholder: string;
  value: string;
  onApply: (value: string) => void;
  testId: string;
}): JSX.Element {
  const [draft, setDraft] = React.useState(props.value);
  React.useEffect(() => setDraft(props.value), [props.value]);
  return (
    <input
      type="text"
      aria-label={props.label}
      placeholder={props.placeholder}
      data-testid={props.testId}
      value={draft}
      onChange={e => setDraft(e.target.value)}
      onBlur={() => props.onApply(draft.trim())}
      onKeyDown={e => {
        if (e.key === 'Enter') {
          props.onApply(draft.trim());
        }
      }}
    />
  );
}

export function RunsSection(props: { nav: INav }): JSX.Element {
  const [filters, setFilters] = React.useState<IFilters>(NO_FILTERS);
  const [sort, setSort] = React.useState<string>('');
  const [offset, setOffset] = React.useState(0);
  const [selected, setSelected] = React.useState<string[]>([]);

  const update = (change: Partial<IFilters>) => {
    setFilters(f => ({ ...f, ...change }));
    setOffset(0);
  };

  const load = useLoad(
    () =>
      apiGet('/nbmlops/api/runs', {
        query: { ...filters, sort, limit: PAGE, offset }
      }),
    [filters, sort, offset],
    POLL_MS
  );
  const page = load.data;
  const metrics = React.useMemo(() => {
    const keys = new Set<string>();
    for (const run of page?.items ?? []) {
      Object.keys(run.metrics).forEach(k => keys.add(k));
    }
    return [...keys].sort().slice(0, MAX_METRIC_COLUMNS);
  }, [page]);

  const sortBy = (metric: string) => {
    const field = `metrics.${metric}`;
    setSort(sort === `-${field}` ? field : sort === field ? '' : `-${field}`);
    setOffset(0);
  };
  const arrow = (metric: string) =>
    sort === `-metrics.${metric}` ? ' ▼' : sort === `metrics.${metric}` ? ' ▲' : '';
  const toggle = (id: string) =>
    setSelected(s => (s.includes(id) ? s.filter(x => x !== id) : [...s, id]));

  return (
    <div className="nbmlops-section">
      <div className="nbmlops-filters">
        <Experiments value={filters.experiment} onChange={v => update({ experiment: v })} />
        <select
          aria-label="Status"
          data-testid="nbmlops-status-filter"
          value={filters.status}
          onChange={e => update({ status: e.target.value })}
        >
          <option value="">Any status</option>
          {STATUSES.map(s => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <Field
          label="Run name"
          placeholder="name"
          testId="nbmlops-name-filter"
          value={filters.name}
          onApply={v => update({ name: v })}
        />
        <Field
          label="Filter expression"
          placeholder="metrics.accuracy > 0.8"
          testId="nbmlops-where-filter"
          value={filters.where}
          onApply={v => update({ where: v })}
        />
      </div>
      <div className="nbmlops-toolbar">
        <button
          className="jp-Button jp-mod-styled jp-mod-accept"
          data-testid="nbmlops-compare-button"
          disabled={selected.length < 2}
          onClick={() => props.nav.compare(selected)}
        >
          Compare {selected.length || ''}
        </button>
        {selected.length > 0 && (
          <button className="jp-Button jp-mod-styled" onClick={() => setSelected([])}>
            Clear
          </button>
        )}
        <span className="nbmlops-muted">{load.loading ? 'refreshing…' : 'live'}</span>
      </div>
      <ErrorMessage error={load.error} />
      {page === null ? (
        load.error ? null : (
          <Status load={load} />
        )
      ) : page.items.length === 0 ? (
        <div className="nbmlops-muted">No runs match.</div>
      ) : (
        <table className="nbmlops-table" data-testid="nbmlops-runs-table">
          <thead>
            <tr>
              <th />
              <th>Run</th>
              <th>Status</th>
              <th>Started</th>
              <th>Duration</th>
              {metrics.map(m => (
                <th
                  key={m}
                  className="nbmlops-clickable"
                  title={`Sort by ${m}`}
                  data-testid="nbmlops-sort-metric"
                  onClick={() => sortBy(m)}
                >
                  {m}
                  {arrow(m)}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {page.items.map(run => (
              <tr
                key={run.run_id}
                data-testid="nbmlops-run-row"
                data-run-id={run.run_id}
                className={selected.includes(run.run_id) ? 'nbmlops-mod-selected' : ''}
              >
                <td>
                  <input
                    type="checkbox"
                    data-testid="nbmlops-run-select"
                    aria-label={`Select run ${run.name ?? run.run_id}`}
                    checked={selected.includes(run.run_id)}
                    onChange={() => toggle(run.run_id)}
                  />
                </td>
                <td>
                  <a
                    className="nbmlops-link"
                    title={`${run.experiment} / ${run.run_id}`}
                    onClick={() => props.nav.showRun(run.run_id)}
                  >
                    {run.name ?? run.run_id.slice(0, 8)}
                  </a>
                  <div className="nbmlops-muted">{run.experiment}</div>
                </td>
                <td>
                  <span className={`nbmlops-status nbmlops-status-${run.status}`}>
                    {run.status}
                  </span>
                </td>
                <td>{formatTime(run.start)}</td>
                <td>{formatDuration(run.duration_s)}</td>
                {metrics.map(m => (
                  <td key={m} className="nbmlops-number">
                    {formatValue(run.metrics[m])}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {page && (
        <Pager total={page.total} exact={page.total_exact} limit={page.limit} offset={page.offset} onChange={setOffset} />
      )}
    </div>
  );
}

function KeyValues(props: { title: string; values: Record<string, unknown> }): JSX.Element {
  const keys = Object.keys(props.values).sort();
  return (
    <div>
      <h4>{props.title}</h4>
      {keys.length === 0 ? (
        <div className="nbmlops-muted">none</div>
      ) : (
        <table className="nbmlops-table nbmlops-kv">
          <tbody>
            {keys.map(k => (
              <tr key={k}>
                <th>{k}</th>
                <td>{formatValue(props.values[k])}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function Datasets(props: { title: string; links: Schemas['DatasetLink'][] }): JSX.Element | null {
  if (props.links.length === 0) {
    return null;
  }
  return (
    <div>
      <h4>{props.title}</h4>
      <ul className="nbmlops-list">
        {props.links.map(d => (
          <li key={`${d.name}-${d.digest}`} title={d.digest}>
            <b>{d.name}</b> {d.kind} {d.shape.join('×')} {d.source ?? ''}
          </li>
        ))}
      </ul>
    </div>
  );
}

export function RunDetails(props: {
  runId: string;
  nav: INav;
  onBack: () => void;
}): JSX.Element {
  const load = useLoad(
    () => apiGet('/nbmlops/api/runs/{run_id}', { path: { run_id: props.runId } }),
    [props.runId],
    POLL_MS
  );
  const run = load.data;
  const notebook = run ? props.nav.notebookInRoot(run.notebook_path) : null;
  const [missingCell, setMissingCell] = React.useState(false);
  React.useEffect(() => setMissingCell(false), [props.runId]);
  const open = async (path: string, cellId: string | null) => {
    setMissingCell(!(await props.nav.openNotebook(path, cellId)));
  };
  return (
    <div className="nbmlops-section" data-testid="nbmlops-run-details">
      <div className="nbmlops-toolbar">
        <button className="jp-Button jp-mod-styled" onClick={props.onBack}>
          ‹ Runs
        </button>
        {notebook && (
          <button
            className="jp-Button jp-mod-styled jp-mod-accept"
            data-testid="nbmlops-open-notebook"
            title={
              run?.cell_id
                ? `${notebook}: the cell that recorded this run`
                : notebook
            }
            onClick={() => void open(notebook, run?.cell_id ?? null)}
          >
            {run?.cell_id ? 'Open cell' : 'Open notebook'}
          </button>
        )}
        <button
          className="jp-Button jp-mod-styled"
          data-testid="nbmlops-run-lineage"
          onClick={() => props.nav.lineage({ kind: 'run', value: props.runId })}
        >
          Lineage
        </button>
      </div>
      {run === null ? (
        <Status load={load} />
      ) : (
        <>
          <ErrorMessage error={load.error} />
          <h3>
            {run.name ?? run.run_id.slice(0, 8)}{' '}
            <span className={`nbmlops-status nbmlops-status-${run.status}`}>{run.status}</span>
          </h3>
          <table className="nbmlops-table nbmlops-kv">
            <tbody>
              <tr>
                <th>Run id</th>
                <td>{run.run_id}</td>
              </tr>
              <tr>
                <th>Experiment</th>
                <td>{run.experiment}</td>
              </tr>
              <tr>
                <th>Started</th>
                <td>
                  {formatTime(run.start)} ({formatDuration(run.duration_s)})
                </td>
              </tr>
              <tr>
                <th>Notebook</th>
                <td>
                  {run.notebook_path ?? ''}
                  {run.execution_count !== null ? ` [${run.execution_count}]` : ''}
                </td>
              </tr>
              {run.parent_run_id && (
                <tr>
                  <th>Parent</th>
                  <td>
                    <a
                      className="nbmlops-link"
                      onClick={() => props.nav.showRun(run.parent_run_id as string)}
                    >
                      {run.parent_run_id.slice(0, 8)}
                    </a>
                  </td>
                </tr>
              )}
              <tr>
                <th>Git</th>
                <td>
                  {run.git_commit ? run.git_commit.slice(0, 10) : ''}
                  {run.git_dirty ? ' (dirty)' : ''}
                </td>
              </tr>
            </tbody>
          </table>
          {missingCell && (
            <div className="nbmlops-muted" data-testid="nbmlops-cell-missing">
              The cell that recorded this run is no longer in the notebook (it was deleted,
              or the run came from another copy of the notebook).
            </div>
          )}
          {run.error && <ErrorMessage error={run.error} />}
          <KeyValues title="Params" values={run.params} />
          <KeyValues title="Metrics" values={run.metrics} />
          <KeyValues title="Tags" values={run.tags} />
          <Datasets title="Inputs" links={run.inputs} />
          <Datasets title="Outputs" links={run.outputs} />
          {run.artifacts.length > 0 && (
            <div>
              <h4>Artifacts</h4>
              <ul className="nbmlops-list">
                {run.artifacts.map(a => (
                  <li key={a.name}>
                    {a.name} <span className="nbmlops-muted">{a.media_type}</span>
                  </li>
                ))}
              </ul>
            </div>
          )}
          {run.code && (
            <div>
              <h4>Code</h4>
              <pre className="nbmlops-code">{run.code}</pre>
            </div>
          )}
          {run.kind === 'cell' && <RunSlice runId={run.run_id} />}
        </>
      )}
    </div>
  );
}
