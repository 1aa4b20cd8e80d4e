/**
 * Approvals: a model's protected aliases (how many approvals, which role, which gates) and
 * its approval requests, with Approve and Reject acting as Jupyter's logged-in user.
 */
import * as React from 'react';

import '../style/approvals.css';
import { ErrorMessage, Table, formatTime, formatWhen, useLoad } from './common';
import { Schemas, apiGet, apiPost } from './request';

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function move(r: Schemas['ApprovalRequest']): string {
  return `${r.from_version === null ? 'nothing' : `version ${r.from_version}`} → version ${r.version}`;
}

/** One protected alias, read as a sentence. */
function Protection(props: { p: Schemas['AliasProtection'] }): JSX.Element {
  const p = props.p;
  return (
    <li data-testid="nbmlops-protection" data-alias={p.alias}>
      <span className="nbmlops-badge">@{p.alias}</span> moves after{' '}
      {plural(p.approvals, 'approval')}
      {p.role ? ` by the ${p.role} role` : ''}, never the requester&apos;s own
      {p.require.length > 0 && (
        <>
          {'; gates '}
          {p.require.map(g => (
            <code key={g} className="nbmlops-gate">
              {g}
            </code>
          ))}
        </>
      )}
      <span className="nbmlops-muted">
        {' '}
        (protected {formatWhen(p.created_at)}
        {p.created_by ? ` by ${p.created_by}` : ''})
      </span>
    </li>
  );
}

/** An open request: who asked for what, the votes so far, failing gates, and the buttons. */
function OpenRequest(props: {
  r: Schemas['ApprovalRequest'];
  onDecided: (message: string) => void;
}): JSX.Element {
  const r = props.r;
  const [reason, setReason] = React.useState('');
  const [error, setError] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);
  const decide = (what: 'approve' | 'reject') => {
    setBusy(true);
    setError(null);
    const path =
      what === 'approve'
        ? ('/nbmlops/api/models/{name}/approve' as const)
        : ('/nbmlops/api/models/{name}/reject' as const);
    apiPost(path, { name: r.model }, { alias: r.alias, request: r.id, reason: reason || null }).then(
      done => {
        setBusy(false);
        props.onDecided(
          done.status === 'approved'
            ? `Request #${done.id} approved: ${done.model}@${done.alias} now points at version ${done.version}.`
            : done.status === 'rejected'
              ? `Request #${done.id} rejected: ${done.model}@${done.alias} stays where it was.`
              : `Approval recorded on request #${done.id}: ${done.approvals} of ${done.approvals_needed}; ` +
                `${plural(done.approvals_needed - done.approvals, 'more approval')} needed.`
        );
      },
      (failure: unknown) => {
        setBusy(false);
        setError(failure instanceof Error ? failure.message : String(failure));
      }
    );
  };
  return (
    <li className="nbmlops-request" data-testid="nbmlops-request" data-request={r.id}>
      <div>
        <strong>#{r.id}</strong> {r.action} <span className="nbmlops-badge">@{r.alias}</span>{' '}
        {move(r)}
      </div>
      <div className="nbmlops-muted" data-testid="nbmlops-request-by">
        asked by {r.requested_by ?? 'someone unknown'} {formatWhen(r.requested_at)}
        {r.reason ? ` — “${r.reason}”` : ''}
      </div>
      <div data-testid="nbmlops-request-votes">
        {r.approvals} of {plural(r.approvals_needed, 'approval')}
        {r.votes.length > 0 &&
          `: ${r.votes.map(v => `${v.user ?? '?'} ${v.decision === 'approve' ? 'approved' : 'rejected'}`).join(', ')}`}
      </div>
      {r.failing_gates.map(g => (
        <div key={g} className="nbmlops-warning-text" data-testid="nbmlops-request-gate">
          {g}
        </div>
      ))}
      <div className="nbmlops-toolbar">
        <input
          className="nbmlops-request-reason"
          placeholder="reason (optional)"
          aria-label={`Reason for deciding request ${r.id}`}
          value={reason}
          onChange={e => setReason(e.target.value)}
        />
        <button
          className="jp-Button jp-mod-styled jp-mod-accept nbmlops-small"
          data-testid="nbmlops-approve-button"
          disabled={busy}
          onClick={() => decide('approve')}
        >
          Approve
        </button>
        <button
          className="jp-Button jp-mod-styled jp-mod-warn nbmlops-small"
          data-testid="nbmlops-reject-button"
          disabled={busy}
          onClick={() => decide('reject')}
        >
          Reject
        </button>
      </div>
      <ErrorMessage error={error} />
    </li>
  );
}

/**
 * The approvals of model `name`. `refresh`: bump it to reload (the store changed);
 * `onDecided`: called after an approval or rejection (the alias may have moved).
 */
export function ApprovalsView(props: {
  name: string;
  refresh: number;
  onDecided: () => void;
}): JSX.Element | null {
  const load = useLoad(
    () => apiGet('/nbmlops/api/models/{name}/approvals', { path: { name: props.name } }),
    [props.name, props.refresh]
  );
  const [notice, setNotice] = React.useState<string | null>(null);
  const data = load.data;
  if (data === null) {
    return <ErrorMessage error={load.error} />;
  }
  if (data.protections.length === 0 && data.requests.length === 0) {
    return null;
  }
  const open = data.requests.filter(r => r.status === 'open');
  const decided = data.requests.filter(r => r.status !== 'open');
  return (
    <div className="nbmlops-approvals" data-testid="nbmlops-approvals">
      <h4>Approvals</h4>
      <div className="nbmlops-muted" data-testid="nbmlops-acting-as">
        You act as {data.user ?? 'an unknown user'}.
      </div>
      <ErrorMessage error={load.error} />
      {notice && (
        <div className="nbmlops-notice" data-testid="nbmlops-approval-notice">
          {notice}
        </div>
      )}
      {data.protections.length > 0 && (
        <ul className="nbmlops-list">
          {data.protections.map(p => (
            <Protection key={p.alias} p={p} />
          ))}
        </ul>
      )}
      <h5>Open requests</h5>
      {open.length === 0 ? (
        <div className="nbmlops-muted" data-testid="nbmlops-no-requests">
          None open.
        </div>
      ) : (
        <ul className="nbmlops-list">
          {open.map(r => (
            <OpenRequest
              key={r.id}
              r={r}
              onDecided={message => {
                setNotice(message);
                load.reload();
                props.onDecided();
              }}
            />
          ))}
        </ul>
      )}
      {decided.length > 0 && (
        <>
          <h5>Decided</h5>
          <Table
            rows={decided}
            rowKey={r => String(r.id)}
            testId="nbmlops-decided-row"
            columns={[
              { title: '#', cell: r => r.id },
              { title: 'Alias', cell: r => `@${r.alias}` },
              { title: 'Move', cell: r => move(r) },
              { title: 'Asked by', cell: r => r.requested_by ?? '' },
              { title: 'Status', cell: r => r.status },
              {
                title: 'Votes',
                cell: r => r.votes.map(v => `${v.user ?? '?'}: ${v.decision}`).join(', ')
              },
              { title: 'Closed', cell: r => formatTime(r.closed_at) }
            ]}
          />
        </>
      )}
    </div>
  );
}
