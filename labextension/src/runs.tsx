/**
 * Runs: filters, a sortable paged table refreshed every few seconds with the experiment's
 * own metrics as columns (a chooser remembers them per experiment), a search's candidates
 * nested under it; and one run's tab: metric charts, params, data, children, artifacts.
 */
import * as React from 'react';

import { ArtifactBrowser } from './artifacts';
import { MetricCharts, askChartsEarly } from './charts';
import {
  ErrorMessage,
  ILoad,
  Pager,
  Status,
  formatDuration,
  formatTime,
  formatValue,
  formatWhen,
  shortName,
  useLoad
} from './common';
import type { INav } from './panel';
import {
  Answer,
  GetPath,
  IGetOptions,
  Schemas,
  apiGet,
  askEarly,
  heldAnswer
} from './request';
import { RunSlice } from './slice';

export const POLL_MS = 3000;
const PAGE = 25;
/** Experiments the filter lists. */
const EXPERIMENTS = 500;
const STATUSES = ['running', 'finished', 'failed', 'interrupted', 'crashed'];
/** Metric columns shown before the user chooses: in a tab, and in the sidebar. */
const DEFAULT_COLUMNS = { wide: 6, compact: 1 };
const COLUMNS_KEY = 'nbmlops:runs-columns:';

type Run = Schemas['RunSummary'];

interface IFilters {
  experiment: string;
  status: string;
  name: string;
  where: string;
}

const NO_FILTERS: IFilters = { experiment: '', status: '', name: '', where: '' };

/** The first page of the runs listing as `RunsSection` asks for it. */
function pageQuery(filters: IFilters, sort: string, offset: number) {
  return { ...filters, sort, limit: PAGE, offset };
}

/**
 * Ask for what the runs listing shows first (its first page, then its experiments and
 * metric columns) as it is being opened: the first page is asked first, so the one
 * thread that reads the store answers it before the other two. The answers are held
 * (request.ts: heldAnswer), as the listing's own are: a listing opened on the same
 * query a moment later (the Runs tab after the sidebar, the tab opened again) is drawn
 * with them at once while it asks for the current page.
 */
export function askRunsEarly(experiment: string): void {
  askEarly('/nbmlops/api/runs', {
    query: pageQuery({ ...NO_FILTERS, experiment }, '', 0),
    hold: true
  });
  askEarly('/nbmlops/api/experiments', { query: { limit: EXPERIMENTS }, hold: true });
  askEarly('/nbmlops/api/metric-keys', { query: { experiment }, hold: true });
}

/**
 * `useLoad` of a GET whose answers are held: drawn at once with the held answer to the same
 * request (younger than a minute: request.ts, heldAnswer), then asked again.
 */
function useHeldGet<P extends GetPath>(
  path: P,
  options: IGetOptions<P>,
  deps: React.DependencyList,
  pollMs?: number
): ILoad<Answer<P>> {
  const ask = { ...options, hold: true };
  return useLoad(() => apiGet(path, ask), deps, pollMs, () => heldAnswer(path, ask));
}

/** Ask for a run, and what its chart reads, as its tab `width` pixels wide is being
 * opened. */
export function askRunEarly(runId: string, width: number): void {
  askEarly('/nbmlops/api/runs/{run_id}', { path: { run_id: runId } });
  askChartsEarly(runId, width);
}

function Experiments(props: {
  value: string;
  onChange: (value: string) => void;
}): JSX.Element {
  const load = useHeldGet('/nbmlops/api/experiments', { query: { limit: EXPERIMENTS } }, []);
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


/** The metric columns chosen for an experiment ('' = all runs), remembered in the browser. */
function useColumns(experiment: string, available: string[] | null, count: number) {
  const storageKey = COLUMNS_KEY + experiment;
  const saved = () => {
    try {
      const text = window.localStorage.getItem(storageKey);
      return text ? (JSON.parse(text) as string[]) : null;
    } catch {
      return null;
    }
  };
  // read as the view is first drawn (not in an effect: one render less before the rows)
  const [chosen, setChosen] = React.useState<string[] | null>(saved);
  const readFor = React.useRef(storageKey);
  React.useEffect(() => {
    if (readFor.current !== storageKey) {
      readFor.current = storageKey;
      setChosen(saved());
    }
  }, [storageKey]);
  const columns = chosen ?? (available ?? []).slice(0, count);
  const choose = (next: string[] | null) => {
    setChosen(next);
    if (next === null) {
      window.localStorage.removeItem(storageKey);
    } else {
      window.localStorage.setItem(storageKey, JSON.stringify(next));
    }
  };
  return { columns, chosen: chosen !== null, choose };
}

function ColumnChooser(props: {
  available: Schemas['MetricKey'][];
  columns: string[];
  chosen: boolean;
  onChoose: (columns: string[] | null) => void;
}): JSX.Element {
  const toggle = (key: string) =>
    props.onChoose(
      props.columns.includes(key)
        ? props.columns.filter(k => k !== key)
        : props.available.map(k => k.key).filter(k => k === key || props.columns.includes(k))
    );
  // the list is made when it is opened (not with every first drawing of the table)
  const [open, setOpen] = React.useState(false);
  return (
    <details
      className="nbmlops-chooser"
      data-testid="nbmlops-column-chooser"
      onToggle={e => setOpen(e.currentTarget.open)}
    >
      <summary className="jp-Button jp-mod-styled">Columns ({props.columns.length})</summary>
      {open && (
        <div className="nbmlops-chooser-list">
          {props.available.length === 0 && <div className="nbmlops-muted">No metrics yet.</div>}
          {props.available.map(k => (
            <label key={k.key} title={`${k.runs} runs have ${k.key}`}>
              <input
                type="checkbox"
                data-testid="nbmlops-column-option"
                data-key={k.key}
                checked={props.columns.includes(k.key)}
                onChange={() => toggle(k.key)}
              />
              {k.key} <span className="nbmlops-muted">{k.runs}</span>
            </label>
          ))}
          {props.chosen && (
            <button className="jp-Button jp-mod-styled" onClick={() => props.onChoose(null)}>
              Reset to the experiment's metrics
            </button>
          )}
        </div>
      )}
    </details>
  );
}

/** One run's row (and, for a search, its candidates under it when expanded). */
function RunRow(props: {
  run: Run;
  columns: string[];
  compact: boolean;
  depth: number;
  sort: string;
  nav: INav;
  selected: string[];
  onToggle: (id: string) => void;
}): JSX.Element {
  const { run, columns } = props;
  const [open, setOpen] = React.useState(false);
  const nested = run.kind === 'tune';
  const full = run.name ?? run.run_id;
  const isSelected = props.selected.includes(run.run_id);
  return (
    <>
      <tr
        data-testid={props.depth ? 'nbmlops-child-row' : 'nbmlops-run-row'}
        data-run-id={run.run_id}
        className={isSelected ? 'nbmlops-mod-selected' : ''}
      >
        <td className="nbmlops-select">
          <input
            type="checkbox"
            data-testid="nbmlops-run-select"
            aria-label={`Select run ${full}`}
            checked={isSelected}
            onChange={() => props.onToggle(run.run_id)}
          />
        </td>
        <td className="nbmlops-name-cell" style={{ paddingLeft: 4 + props.depth * 14 }}>
          {nested ? (
            <button
              className="nbmlops-expander"
              data-testid="nbmlops-expand"
              aria-expanded={open}
              title={open ? 'Hide the candidates' : 'Show the candidates of this search'}
              onClick={() => setOpen(!open)}
            >
              {open ? '▾' : '▸'}
            </button>
          ) : null}
          <a
            className="nbmlops-link nbmlops-run-name"
            title={`${full}\n${run.experiment} / ${run.run_id}`}
            onClick={() => props.nav.showRun(run.run_id)}
          >
            {shortName(run.name ?? run.run_id.slice(0, 8), props.compact ? 22 : 36)}
          </a>
          {props.compact && (
            <div className="nbmlops-muted" title={formatTime(run.start)}>
              {formatWhen(run.start)}
            </div>
          )}
        </td>
        <td>
          <span
            className={`nbmlops-status nbmlops-status-${run.status}`}
            data-testid="nbmlops-status"
            title={run.status}
          >
            {props.compact ? run.status.slice(0, 4) : run.status}
          </span>
        </td>
        {!props.compact && (
          <>
            <td className="nbmlops-nowrap" title={formatTime(run.start)} data-testid="nbmlops-started">
              {formatWhen(run.start)}
            </td>
            <td className="nbmlops-nowrap">{formatDuration(run.duration_s)}</td>
          </>
        )}
        {columns.map(m => (
          <td key={m} className="nbmlops-number" data-metric={m}>
            {formatValue(run.metrics[m])}
          </td>
        ))}
      </tr>
      {open && <Children {...props} parent={run.run_id} depth={props.depth + 1} />}
    </>
  );
}

/** A search's candidates (a run's children), sorted as the table is, or by its first column. */
function Children(props: {
  parent: string;
  columns: string[];
  compact: boolean;
  depth: number;
  sort: string;
  nav: INav;
  selected: string[];
  onToggle: (id: string) => void;
}): JSX.Element {
  const sort = props.sort || (props.columns[0] ? `-metrics.${props.columns[0]}` : '');
  const load = useLoad(
    () => apiGet('/nbmlops/api/runs', { query: { parent: props.parent, sort, limit: 100 } }),
    [props.parent, sort]
  );
  const span = props.columns.length + (props.compact ? 3 : 5);
  if (load.error || load.data === null || load.data.items.length === 0) {
    return (
      <tr>
        <td colSpan={span} className="nbmlops-muted" style={{ paddingLeft: props.depth * 14 }}>
          {load.error ?? (load.data === null ? 'Loading…' : 'No candidates recorded.')}
        </td>
      </tr>
    );
  }
  return (
    <>
      {load.data.items.map(run => (
        <RunRow key={run.run_id} {...props} run={run} />
      ))}
      {load.data.total > load.data.items.length && (
        <tr>
          <td colSpan={span} className="nbmlops-muted">
            {load.data.items.length} of {load.data.total} candidates shown
          </td>
        </tr>
      )}
    </>
  );
}

export function RunsSection(props: {
  nav: INav;
  /** The sidebar's navigator: name, status and one metric; the table opens as a tab. */
  compact?: boolean;
  experiment?: string;
}): JSX.Element {
  const compact = !!props.compact;
  const [filters, setFilters] = React.useState<IFilters>({
    ...NO_FILTERS,
    experiment: props.experiment ?? ''
  });
  const [sort, setSort] = React.useState<string>('');
  const [offset, setOffset] = React.useState(0);
  const [selected, setSelected] = React.useState<string[]>([]);

  const update = (change: Partial<IFilters>) => {
    setFilters(f => ({ ...f, ...change }));
    setOffset(0);
  };

  // the answers are held, and a held one (younger than a minute) drawn first: see askRunsEarly
  const load = useHeldGet(
    '/nbmlops/api/runs',
    { query: pageQuery(filters, sort, offset) },
    [filters, sort, offset],
    POLL_MS
  );
  const keys = useHeldGet(
    '/nbmlops/api/metric-keys',
    { query: { experiment: filters.experiment } },
    [filters.experiment],
    POLL_MS * 10
  );
  const available = keys.data?.keys ?? [];
  const { columns, chosen, choose } = useColumns(
    filters.experiment,
    keys.data ? available.map(k => k.key) : null,
    compact ? DEFAULT_COLUMNS.compact : DEFAULT_COLUMNS.wide
  );
  // a sort by a metric shows that metric, chosen or not
  const sorted = sort.replace(/^-/, '').startsWith('metrics.') ? sort.replace(/^-?metrics\./, '') : null;
  const shownColumns = sorted && !columns.includes(sorted) ? [sorted, ...columns] : columns;
  const page = load.error ? null : load.data;

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
    <div className={'nbmlops-section' + (compact ? ' nbmlops-compact' : '')}>
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
        {compact ? (
          <button
            className="jp-Button jp-mod-styled"
            data-testid="nbmlops-open-runs-tab"
            title="Open the runs table as a tab, with every column"
            onClick={() => props.nav.open('runs', { experiment: filters.experiment })}
          >
            Table ↗
          </button>
        ) : (
          <ColumnChooser available={available} columns={columns} chosen={chosen} onChoose={choose} />
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
        <div className="nbmlops-scroll">
          <table
            className="nbmlops-table nbmlops-runs"
            data-testid="nbmlops-runs-table"
            data-held={load.held ? 'true' : undefined}
          >
            <thead>
              <tr>
                <th className="nbmlops-select" />
                <th>Run</th>
                <th>Status</th>
                {!compact && (
                  <>
                    <th>Started</th>
                    <th>Duration</th>
                  </>
                )}
                {shownColumns.map(m => (
                  <th
                    key={m}
                    className="nbmlops-clickable nbmlops-number"
                    title={`Sort by ${m}`}
                    data-testid="nbmlops-sort-metric"
                    data-key={m}
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
                <RunRow
                  key={run.run_id}
                  run={run}
                  columns={shownColumns}
                  compact={compact}
                  depth={0}
                  sort={sort}
                  nav={props.nav}
                  selected={selected}
                  onToggle={toggle}
                />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {page && (
        <Pager
          total={page.total}
          exact={page.total_exact}
          limit={page.limit}
          offset={page.offset}
          onChange={setOffset}
        />
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

export function RunDetails(props: { runId: string; nav: INav }): JSX.Element {
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
    <div
      className="nbmlops-section nbmlops-run"
      data-testid="nbmlops-run-details"
      data-run-id={props.runId}
    >
      <div className="nbmlops-toolbar">
        {notebook && (
          <button
            className="jp-Button jp-mod-styled jp-mod-accept"
            data-testid="nbmlops-open-notebook"
            title={run?.cell_id ? `${notebook}: the cell that recorded this run` : notebook}
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
          <h3 title={run.name ?? run.run_id}>
            {shortName(run.name ?? run.run_id.slice(0, 8), 60)}{' '}
            <span className={`nbmlops-status nbmlops-status-${run.status}`} data-testid="nbmlops-status">
              {run.status}
            </span>
          </h3>
          <table className="nbmlops-table nbmlops-kv">
            <tbody>
              <tr>
                <th>Run id</th>
                <td>{run.run_id}</td>
              </tr>
              <tr>
                <th>Experiment</th>
                <td>
                  {run.experiment} <span className="nbmlops-muted">({run.kind})</span>
                </td>
              </tr>
              <tr>
                <th>Started</th>
                <td title={formatTime(run.start)}>
                  {formatWhen(run.start)} ({formatDuration(run.duration_s)})
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
                      data-testid="nbmlops-parent-link"
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
          <MetricCharts runId={run.run_id} metrics={run.metrics} />
          <div className="nbmlops-columns">
            <KeyValues title="Params" values={run.params} />
            <KeyValues title="Tags" values={run.tags} />
          </div>
          <Datasets title="Inputs" links={run.inputs} />
          <Datasets title="Outputs" links={run.outputs} />
          <RunChildren runId={run.run_id} nav={props.nav} />
          <ArtifactBrowser run={run} nav={props.nav} />
          {run.code && (
            <div>
              <h4>Code</h4>
              <pre className="nbmlops-code">{run.code}</pre>
            </div>
          )}
          {run.kind === 'cell' && <RunSlice runId={run.run_id} nav={props.nav} />}
        </>
      )}
    </div>
  );
}

/** The runs this run started (a search's candidates), best first by the search's metric. */
function RunChildren(props: { runId: string; nav: INav }): JSX.Element | null {
  const keys = useLoad(
    () => apiGet('/nbmlops/api/runs', { query: { parent: props.runId, limit: 1 } }),
    [props.runId]
  );
  const first = keys.data?.items[0];
  if (!first) {
    return null;
  }
  const columns = Object.keys(first.metrics).sort().slice(0, 4);
  return (
    <div data-testid="nbmlops-run-children">
      <h4>Child runs ({keys.data?.total})</h4>
      <div className="nbmlops-scroll">
        <table className="nbmlops-table nbmlops-runs">
          <thead>
            <tr>
              <th className="nbmlops-select" />
              <th>Run</th>
              <th>Status</th>
              <th>Started</th>
              <th>Duration</th>
              {columns.map(c => (
                <th key={c} className="nbmlops-number">
                  {c}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            <Children
              parent={props.runId}
              columns={columns}
              compact={false}
              depth={0}
              sort=""
              nav={props.nav}
              selected={[]}
              onToggle={() => undefined}
            />
          </tbody>
        </table>
      </div>
    </div>
  );
}
