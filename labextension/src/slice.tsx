/** A run's slice: the journaled cells it stood on in the order they ran, its hidden-state
 * flags (`GET /nbmlops/api/runs/{run_id}/slice`), and a Reproduce action that runs the
 * slice in a fresh kernel on the server (`POST`/`GET /nbmlops/api/runs/{run_id}/reproduce`). */
import * as React from 'react';

import { ErrorMessage, formatDuration, Status, useLoad, VisibleContext } from './common';
import type { INav } from './panel';
import { apiGet, apiPost, Schemas } from './request';

const PROGRESS_MS = 1000;

type Reproduction = Schemas['Reproduction'];

const HEADLINES: Record<Reproduction['state'], string> = {
  idle: '',
  running: 'Reproducing in a fresh kernel…',
  reproduced: 'reproduced',
  differs: 'NOT reproduced',
  failed: 'reproduction failed'
};

/**
 * The Reproduce button and what became of the reproduction: its progress while a fresh
 * kernel runs the slice, then "reproduced", what differs and why, or why it failed, with a
 * link to the reproduction's own run.
 */
function ReproduceAction(props: { runId: string; command: string; nav: INav }): JSX.Element {
  const [state, setState] = React.useState<Reproduction | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [starting, setStarting] = React.useState(false);
  const visible = React.useContext(VisibleContext);
  const path = { run_id: props.runId };

  const ask = React.useCallback(async () => {
    try {
      setState(await apiGet('/nbmlops/api/runs/{run_id}/reproduce', { path }));
      setError(null);
    } catch (reason) {
      setError(reason instanceof Error ? reason.message : String(reason));
    }
  }, [props.runId]);

  React.useEffect(() => {
    setState(null);
    setError(null);
    void ask();
  }, [props.runId]);

  const running = state?.state === 'running';
  React.useEffect(() => {
    if (!running) {
      return;
    }
    const timer = window.setInterval(() => {
      if (visible()) {
        void ask();
      }
    }, PROGRESS_MS);
    return () => window.clearInterval(timer);
  }, [running, ask, visible]);

  const start = async () => {
    setStarting(true);
    try {
      setState(await apiPost('/nbmlops/api/runs/{run_id}/reproduce', path, {}));
      setError(null);
    } catch (reason) {
      setError(reason instanceof Error ? reason.message : String(reason));
    } finally {
      setStarting(false);
    }
  };

  const done = state !== null && state.state !== 'idle' && !running;
  const tone =
    state?.state === 'reproduced' ? 'finished' : state?.state === 'running' ? 'running' : 'failed';
  return (
    <div data-testid="nbmlops-reproduction" data-state={state?.state ?? ''}>
      <div className="nbmlops-toolbar">
        <button
          className="jp-Button jp-mod-styled jp-mod-accept"
          data-testid="nbmlops-reproduce"
          disabled={running || starting || state === null}
          title="Run this run's slice (the exact code it stood on, with its params) in a fresh kernel and compare metrics, data and predictions"
          onClick={() => void start()}
        >
          {running || starting ? 'Reproducing…' : done ? 'Reproduce again' : 'Reproduce'}
        </button>{' '}
        <span className="nbmlops-muted" title="the same from a terminal">
          or <code>{props.command}</code>
        </span>
      </div>
      <ErrorMessage error={error} />
      {state !== null && state.state !== 'idle' && (
        <div className="nbmlops-reproduce-result" data-testid="nbmlops-reproduce-result">
          <span
            className={`nbmlops-status nbmlops-status-${tone}`}
            data-testid="nbmlops-reproduce-state"
          >
            {HEADLINES[state.state]}
          </span>{' '}
          <span className="nbmlops-muted">
            {running
              ? `${formatDuration(state.elapsed_s)} so far`
              : `in ${formatDuration(state.elapsed_s)}` +
                (state.rtol ? `, metrics within rtol ${state.rtol}` : '')}
          </span>
          {state.reproduction_run_id && (
            <>
              {' '}
              <a
                className="nbmlops-link"
                data-testid="nbmlops-reproduction-run"
                onClick={() => props.nav.showRun(state.reproduction_run_id as string)}
              >
                reproduction run {state.reproduction_run_id.slice(0, 8)}
              </a>
            </>
          )}
          {state.state === 'reproduced' && state.packages.length > 0 && (
            <div className="nbmlops-muted">
              though package versions differ: {state.packages.join(', ')}
            </div>
          )}
          {state.differences.length > 0 && (
            <ul data-testid="nbmlops-reproduce-differences">
              {state.differences.map((d, i) => (
                <li key={i}>differs: {d}</li>
              ))}
            </ul>
          )}
          {state.causes.length > 0 && (
            <ul data-testid="nbmlops-reproduce-causes">
              {state.causes.map((c, i) => (
                <li key={i}>likely cause: {c}</li>
              ))}
            </ul>
          )}
          {state.state === 'failed' && state.error && <ErrorMessage error={state.error} />}
          {done && state.frames_loaded.length > 0 && (
            <div className="nbmlops-muted" data-testid="nbmlops-reproduce-frames">
              frames built in memory, loaded from the run&apos;s snapshot:{' '}
              {state.frames_loaded.join(', ')}
            </div>
          )}
          {done && state.notebook && (
            <div className="nbmlops-muted" data-testid="nbmlops-reproduce-notebook">
              notebook: {state.notebook}
            </div>
          )}
        </div>
      )}
    </div>
  );
}

export function RunSlice(props: { runId: string; nav: INav }): JSX.Element {
  const load = useLoad(
    () => apiGet('/nbmlops/api/runs/{run_id}/slice', { path: { run_id: props.runId } }),
    [props.runId]
  );
  const slice = load.data;
  if (slice === null) {
    return <Status load={load} />;
  }
  if (!slice.recorded) {
    return (
      <div className="nbmlops-section" data-testid="nbmlops-run-slice">
        <h4>Slice</h4>
        <p>Recorded without the cell journal: it cannot be reproduced.</p>
      </div>
    );
  }
  return (
    <div className="nbmlops-section" data-testid="nbmlops-run-slice">
      <ErrorMessage error={load.error} />
      <h4>
        Slice{' '}
        <span
          className={`nbmlops-status nbmlops-status-${slice.clean ? 'finished' : 'failed'}`}
          data-testid="nbmlops-slice-state"
        >
          {slice.clean ? 'clean' : `${slice.flags.length} hidden-state flag(s)`}
        </span>
      </h4>
      {slice.flags.length > 0 && (
        <ul data-testid="nbmlops-slice-flags">
          {slice.flags.map((f, i) => (
            <li key={i}>
              <b>{f.kind.replace(/_/g, ' ')}</b>: {f.detail}
            </li>
          ))}
        </ul>
      )}
      <table className="nbmlops-table" data-testid="nbmlops-slice-cells">
        <thead>
          <tr>
            <th>Order</th>
            <th>Executed as</th>
            <th>Code</th>
          </tr>
        </thead>
        <tbody>
          {slice.cells.map(c => (
            <tr key={c.seq}>
              <td>{c.order}</td>
              <td>{c.execution_count === null ? '' : `[${c.execution_count}]`}</td>
              <td>
                <pre className="nbmlops-code">{c.code}</pre>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {slice.reproduce && (
        <ReproduceAction runId={slice.run_id} command={slice.reproduce} nav={props.nav} />
      )}
    </div>
  );
}
