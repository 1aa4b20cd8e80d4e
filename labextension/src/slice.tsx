/** A run's slice: the journaled cells it stood on in the order they ran, its hidden-state
 * flags, and how to reproduce it (`GET /nbmlops/api/runs/{run_id}/slice`). */
import * as React from 'react';

import { ErrorMessage, Status, useLoad } from './common';
import { apiGet } from './request';

export function RunSlice(props: { runId: string }): JSX.Element {
  const load = useLoad(
    () => apiGet('/nbmlops/api/runs/{run_id}/slice', { path: { run_id: props.runId } }),
    [props.runId]
  );
  const [copied, setCopied] = React.useState(false);
  React.useEffect(() => setCopied(false), [props.runId]);
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
  const copy = async () => {
    await navigator.clipboard.writeText(slice.reproduce ?? '');
    setCopied(true);
  };
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
        <div className="nbmlops-toolbar">
          <code>{slice.reproduce}</code>{' '}
          <button
            className="jp-Button jp-mod-styled"
            data-testid="nbmlops-reproduce"
            title="Copy the command that reproduces this run in a fresh kernel (or run %reproduce in a notebook)"
            onClick={() => void copy()}
          >
            {copied ? 'Copied' : 'Reproduce…'}
          </button>
        </div>
      )}
    </div>
  );
}
