/** Models: registered models, one model's versions, aliases and history, promote/rollback. */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';
import * as React from 'react';

import { ApprovalsView } from './approvals';
import { ErrorMessage, Status, Table, formatTime, formatValue, formatWhen, useLoad } from './common';
import type { INav } from './panel';
import { useChangeMarker } from './views-common';
import { Schemas, apiGet, apiPost } from './request';

const DEFAULT_ALIAS = 'production';

/** The promote dialog's body: the alias to move and an optional reason. */
class PromoteBody extends Widget implements Dialog.IBodyWidget<{ alias: string; reason: string }> {
  private readonly alias: HTMLInputElement;
  private readonly reason: HTMLInputElement;

  constructor(message: string, alias: string, followers: Map<string, string[]> = new Map()) {
    super();
    this.addClass('nbmlops-dialog');
    const text = document.createElement('p');
    text.textContent = message;
    const follow = document.createElement('p');
    follow.dataset.testid = 'nbmlops-promote-followers';
    follow.className = 'nbmlops-warning-text';
    const say = (a: string) => {
      const names = followers.get(a) ?? [];
      follow.textContent = names.length
        ? `Live deployment${names.length === 1 ? '' : 's'} following @${a}: ${names.join(', ')}; ` +
          `${names.length === 1 ? 'it switches' : 'they switch'} to the new version at once.`
        : `No live deployment follows @${a}.`;
    };
    say(alias);
    this.alias = document.createElement('input');
    this.alias.value = alias;
    this.alias.addEventListener('input', () => say(this.alias.value.trim()));
    this.alias.setAttribute('aria-label', 'Alias');
    this.alias.dataset.testid = 'nbmlops-promote-alias';
    this.reason = document.createElement('input');
    this.reason.placeholder = 'reason (optional)';
    this.reason.setAttribute('aria-label', 'Reason');
    const label = document.createElement('label');
    label.append('Alias ', this.alias);
    this.node.append(text, label, follow, this.reason);
  }

  getValue(): { alias: string; reason: string } {
    return { alias: this.alias.value.trim(), reason: this.reason.value.trim() };
  }
}

async function ask(
  title: string,
  message: string,
  alias: string,
  accept: string,
  followers?: Map<string, string[]>
): Promise<{ alias: string; reason: string } | null> {
  const result = await showDialog({
    title,
    body: new PromoteBody(message, alias, followers),
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: accept })]
  });
  if (!result.button.accept || !result.value || !result.value.alias) {
    return null;
  }
  return result.value;
}

/** A model, the deployments (to see which serve its versions) and who follows its aliases. */
function useModel(name: string) {
  const load = useLoad(() => apiGet('/nbmlops/api/models/{name}', { path: { name } }), [name]);
  const deployments = useLoad(
    () => apiGet('/nbmlops/api/deployments', { query: { limit: 500 } }),
    [name]
  );
  const running = deployments.data?.items ?? [];
  return { load, deployments, running, followers: followersOf(name, running) };
}

/** An action's outcome above a view: its error, or the notice it left. */
function useOutcome() {
  const [error, setError] = React.useState<string | null>(null);
  const [notice, setNotice] = React.useState<string | null>(null);
  const succeeded = (text: string) => {
    setError(null);
    setNotice(text);
  };
  const failed = (e: unknown) => {
    setNotice(null);
    setError(e instanceof Error ? e.message : String(e));
  };
  const shown = (
    <>
      <ErrorMessage error={error} />
      {notice && (
        <div className="nbmlops-notice" data-testid="nbmlops-notice">
          {notice}
        </div>
      )}
    </>
  );
  return { succeeded, failed, shown };
}

/** What a promote or rollback did, in a line; `approvals` says where its request shows. */
function moveNotice(move: Schemas['AliasMove'], approvals: string): string {
  const at = `${move.model}@${move.alias}`;
  return move.request !== null
    ? `${at} is protected: request #${move.request} opened to move it to version ${move.version}; it moves once someone else approves it (Approvals, ${approvals}).`
    : move.changed
      ? `${at} now points at version ${move.version}.`
      : `${at} already pointed at version ${move.version}.`;
}

/** The live deployments serving one version of a model. */
function servingVersion(
  deployments: Schemas['Deployment'][],
  version: Schemas['ModelVersion']
): Schemas['Deployment'][] {
  return deployments.filter(
    d => d.model === version.model && d.version === version.version && d.status === 'running'
  );
}

/** A version's aliases as badges; `none` (muted) where it has none, if asked. */
function AliasBadges(props: { aliases: string[]; none?: boolean }): JSX.Element {
  if (props.aliases.length === 0 && props.none) {
    return <span className="nbmlops-muted">none</span>;
  }
  return (
    <>
      {props.aliases.map(a => (
        <span key={a} className="nbmlops-badge" title={`@${a}`}>
          @{a}
        </span>
      ))}
    </>
  );
}

function ModelDetails(props: { name: string; nav: INav; onBack: () => void }): JSX.Element {
  const { load, deployments, running, followers } = useModel(props.name);
  const history = useLoad(
    () =>
      apiGet('/nbmlops/api/models/{name}/history', {
        path: { name: props.name },
        query: { limit: 500 }
      }),
    [props.name]
  );
  const outcome = useOutcome();
  const [refresh, setRefresh] = React.useState(0); // bumped: the approvals reload
  const node = React.useRef<HTMLDivElement>(null);
  const reloadAll = () => {
    load.reload();
    history.reload();
    deployments.reload();
    setRefresh(n => n + 1);
  };
  useChangeMarker(node, reloadAll);
  const movable = aliasesThatMoved(history.data?.items ?? []);

  const done = (move: Schemas['AliasMove']) => {
    outcome.succeeded(moveNotice(move, 'below'));
    load.reload();
    history.reload();
    setRefresh(n => n + 1);
  };

  const rollback = async (alias: string, version: number) => {
    const answer = await ask(
      `Roll back ${props.name}@${alias}?`,
      `${props.name}@${alias} points at version ${version}; point it back at version ` +
        `${movable.get(alias)}, where it pointed before its last move (audited).`,
      alias,
      'Roll back',
      followers
    );
    if (answer) {
      apiPost(
        '/nbmlops/api/models/{name}/rollback',
        { name: props.name },
        { alias: answer.alias, reason: answer.reason || null }
      ).then(done, outcome.failed);
    }
  };

  const detail = load.data;
  return (
    <div className="nbmlops-section" data-testid="nbmlops-model-details" ref={node}>
      <div className="nbmlops-toolbar">
        <button className="jp-Button jp-mod-styled" onClick={props.onBack}>
          ‹ Models
        </button>
      </div>
      {outcome.shown}
      {detail === null ? (
        <Status load={load} />
      ) : (
        <>
          <ErrorMessage error={load.error} />
          <h3>{detail.model.name}</h3>
          {detail.model.description && <p>{detail.model.description}</p>}
          <h4>Aliases</h4>
          {Object.keys(detail.model.aliases).length === 0 ? (
            <div className="nbmlops-muted">none</div>
          ) : (
            <ul className="nbmlops-list">
              {Object.entries(detail.model.aliases).map(([alias, version]) => (
                <li key={alias} data-testid="nbmlops-alias" data-alias={alias}>
                  <span className="nbmlops-badge">@{alias}</span> → version {version}{' '}
                  {(followers.get(alias) ?? []).length > 0 && (
                    <span className="nbmlops-muted" data-testid="nbmlops-alias-followers">
                      (served by {(followers.get(alias) ?? []).join(', ')}){' '}
                    </span>
                  )}
                  {movable.has(alias) ? (
                    <button
                      className="jp-Button jp-mod-styled nbmlops-small"
                      data-testid="nbmlops-rollback-button"
                      title={`point @${alias} back at version ${movable.get(alias)}`}
                      onClick={() => void rollback(alias, version)}
                    >
                      Roll back to {movable.get(alias)}
                    </button>
                  ) : (
                    <span className="nbmlops-muted" data-testid="nbmlops-no-rollback">
                      (never moved: nothing to roll back to)
                    </span>
                  )}
                </li>
              ))}
            </ul>
          )}
          <ApprovalsView name={props.name} refresh={refresh} onDecided={reloadAll} />
          <h4>Versions</h4>
          <div className="nbmlops-muted">Open a version for its card, promote and lineage.</div>
          <Table
            rows={detail.versions}
            rowKey={v => String(v.version)}
            testId="nbmlops-version-row"
            className="nbmlops-fit nbmlops-versions"
            onRowClick={v => openVersion(props.nav, v.model, v.version)}
            columns={[
              {
                title: 'Version',
                cell: v => (
                  <a
                    className="nbmlops-link"
                    data-testid="nbmlops-version-open"
                    data-version={v.version}
                    title={`open ${v.model} version ${v.version} in a tab`}
                  >
                    {v.version}
                  </a>
                )
              },
              {
                title: 'Aliases',
                cell: v => <AliasBadges aliases={v.aliases} />
              },
              {
                title: 'Status',
                cell: v => <VersionStatus live={servingVersion(running, v)} version={v} />
              }
            ]}
          />
        </>
      )}
      <h4>History</h4>
      {history.data === null ? (
        <Status load={history} />
      ) : (
        <>
          <ErrorMessage error={history.error} />
          <Table
            rows={[...history.data.items].reverse()}
            rowKey={e => `${e.time}-${e.action}-${e.alias}-${e.version}`}
            testId="nbmlops-history-row"
            className="nbmlops-fit nbmlops-history"
            columns={[
              { title: 'When', cell: e => <span title={formatTime(e.time)}>{formatWhen(e.time)}</span> },
              { title: 'Action', cell: e => e.action },
              {
                title: 'Change',
                cell: e => (
                  <>
                    {e.alias ? `@${e.alias} ` : ''}
                    {e.from_version !== null || e.to_version !== null
                      ? `${e.from_version ?? '–'} → ${e.to_version ?? '–'}`
                      : (e.version ?? '')}
                    {e.reason && <span className="nbmlops-muted"> “{e.reason}”</span>}
                  </>
                )
              },
              { title: 'By', cell: e => e.user ?? '' }
            ]}
          />
        </>
      )}
    </div>
  );
}

/** Where each alias of `model` is followed by a live deployment: alias → names. */
export function followersOf(
  model: string,
  deployments: Schemas['Deployment'][]
): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const d of deployments) {
    if (d.model === model && d.alias && d.status === 'running') {
      const names = out.get(d.alias) ?? [];
      if (!names.includes(d.name)) {
        names.push(d.name);
      }
      out.set(d.alias, names);
    }
  }
  return out;
}

/**
 * The aliases a rollback applies to, with the version it would go back to: those whose
 * last move (promote or rollback) came from another version. An alias only ever set once
 * has nowhere to go back to.
 */
export function aliasesThatMoved(events: Schemas['AuditEvent'][]): Map<string, number> {
  const last = new Map<string, Schemas['AuditEvent']>();
  for (const e of events) {
    if (e.alias && (e.action === 'promote' || e.action === 'rollback') && e.to_version !== null) {
      last.set(e.alias, e);
    }
  }
  const out = new Map<string, number>();
  for (const [alias, e] of last) {
    if (e.from_version !== null && e.from_version !== e.to_version) {
      out.set(alias, e.from_version);
    }
  }
  return out;
}

/** A version: its signature, metrics, and model card in a sandboxed frame. */
export function VersionView(props: {
  version: Schemas['ModelVersion'];
  onClose?: () => void;
}): JSX.Element {
  const v = props.version;
  const card = useLoad(
    () =>
      apiGet('/nbmlops/api/models/{name}/versions/{version}/card', {
        path: { name: v.model, version: String(v.version) }
      }),
    [v.model, v.version]
  );
  // the signature as the registry stores it: inputs [[name, dtype]], output, classes
  const signature = (v.signature ?? null) as {
    inputs?: [string, string][];
    output?: string | null;
    classes?: unknown[] | null;
  } | null;
  const rows: [string, string, string][] = [
    ...(signature?.inputs ?? []).map(([n, d]) => ['in', n, d] as [string, string, string]),
    ...(signature?.output
      ? [['out', 'prediction', signature.output] as [string, string, string]]
      : []),
    ...(signature?.classes
      ? [['classes', signature.classes.map(c => String(c)).join(', '), ''] as [string, string, string]]
      : [])
  ];
  const fields = rows.map(([what, name, type]) => (
    <tr key={`${what}-${name}`} data-testid="nbmlops-signature-row">
      <td className="nbmlops-muted">{what}</td>
      <td>{name}</td>
      <td>{type}</td>
    </tr>
  ));
  return (
    <div className="nbmlops-version" data-testid="nbmlops-version-view" data-version={v.version}>
      <div className="nbmlops-toolbar">
        <h4>
          {v.model} version {v.version}
        </h4>
        {props.onClose && (
          <button className="jp-Button jp-mod-styled nbmlops-small" onClick={props.onClose}>
            Close
          </button>
        )}
      </div>
      <div className="nbmlops-muted">
        {v.flavor} · {v.format}
        {v.description ? ` · ${v.description}` : ''}
      </div>
      <h5>Signature</h5>
      {rows.length > 0 ? (
        <table className="nbmlops-table nbmlops-narrow" data-testid="nbmlops-signature">
          <thead>
            <tr>
              <th />
              <th>name</th>
              <th>type</th>
            </tr>
          </thead>
          <tbody>
            {fields}
          </tbody>
        </table>
      ) : (
        <div className="nbmlops-muted">No signature recorded.</div>
      )}
      <h5>Model card</h5>
      {card.data === null ? (
        <Status load={card} />
      ) : card.data.html ? (
        <iframe
          className="nbmlops-card-frame"
          data-testid="nbmlops-model-card"
          title={`model card of ${v.model}/${v.version}`}
          sandbox=""
          srcDoc={cardPage(card.data.html)}
        />
      ) : (
        <div className="nbmlops-muted" data-testid="nbmlops-no-card">
          No model card (register with evaluation data to make one).
        </div>
      )}
    </div>
  );
}

/** The card fragment as a page in the theme's colours (the frame runs no script). */
function cardPage(fragment: string): string {
  const bg = getComputedStyle(document.body).getPropertyValue('--jp-layout-color0').trim();
  const fg = getComputedStyle(document.body).getPropertyValue('--jp-ui-font-color1').trim();
  return (
    '<!doctype html><html><head><meta charset="utf-8"><style>' +
    `body{margin:8px;font-family:sans-serif;background:${bg || '#fff'};color:${fg || '#000'}}` +
    'img{max-width:100%;background:#fff}table{border-collapse:collapse}' +
    'td,th{padding:2px 6px}</style></head><body>' +
    fragment +
    '</body></html>'
  );
}

/** Open a model version in its main-area tab (card, signature, promote, lineage). */
export function openVersion(nav: INav, model: string, version: number): void {
  nav.open('model-version', { model, version });
}

/** A version's status in a word: which live deployments serve it, or the newest. */
function VersionStatus(props: {
  version: Schemas['ModelVersion'];
  live: Schemas['Deployment'][];
}): JSX.Element {
  const { version: v, live } = props;
  return live.length > 0 ? (
    <span
      className="nbmlops-status"
      data-status="running"
      data-testid="nbmlops-version-status"
      title={`served by ${live.map(d => d.name).join(', ')}`}
    >
      live
    </span>
  ) : (
    <span className="nbmlops-muted" data-testid="nbmlops-version-status">
      {v.aliases.length > 0 ? 'aliased' : 'registered'}
    </span>
  );
}

/** The model-version tab: the version's card and signature, its metrics, run and aliases,
 * the live deployments serving it; promote it (the dialog names who follows the alias) or
 * open its lineage. */
export function ModelVersionTab(props: { model: string; version: number; nav: INav }): JSX.Element {
  const { load, deployments, running, followers } = useModel(props.model);
  const outcome = useOutcome();
  const node = React.useRef<HTMLDivElement>(null);
  useChangeMarker(node, () => {
    load.reload();
    deployments.reload();
  });
  const detail = load.data;
  const v = detail?.versions.find(x => x.version === props.version);
  const promote = async (version: Schemas['ModelVersion']) => {
    const aliases = Object.keys(detail?.model.aliases ?? {});
    const answer = await ask(
      `Promote ${version.model} version ${version.version}?`,
      `Point an alias of ${version.model} at version ${version.version} (audited).`,
      aliases.includes(DEFAULT_ALIAS) || aliases.length === 0 ? DEFAULT_ALIAS : aliases[0],
      'Promote',
      followers
    );
    if (!answer) {
      return;
    }
    apiPost(
      '/nbmlops/api/models/{name}/promote',
      { name: version.model },
      { version: version.version, alias: answer.alias, reason: answer.reason || null }
    ).then(move => {
      outcome.succeeded(moveNotice(move, "in the sidebar's Models"));
      load.reload();
    }, outcome.failed);
  };
  const live = v ? servingVersion(running, v) : [];
  return (
    <div className="nbmlops-section" data-testid="nbmlops-model-version" ref={node}>
      {outcome.shown}
      {detail === null ? (
        <Status load={load} />
      ) : !v ? (
        <div className="nbmlops-muted">
          {props.model} has no version {props.version} (deleted, or another store).
        </div>
      ) : (
        <>
          <div className="nbmlops-toolbar">
            <button
              className="jp-Button jp-mod-styled jp-mod-accept"
              data-testid="nbmlops-promote-button"
              data-version={v.version}
              onClick={() => void promote(v)}
            >
              Promote…
            </button>
            <button
              className="jp-Button jp-mod-styled"
              data-testid="nbmlops-version-lineage"
              onClick={() => props.nav.lineage({ kind: 'model', value: `${v.model}/${v.version}` })}
            >
              Lineage
            </button>
            <a className="nbmlops-link" onClick={() => props.nav.showModel(v.model)}>
              All versions of {v.model}
            </a>
          </div>
          <table className="nbmlops-table nbmlops-narrow" data-testid="nbmlops-version-facts">
            <tbody>
              <tr>
                <th>Aliases</th>
                <td>
                  <AliasBadges aliases={v.aliases} none />
                </td>
              </tr>
              <tr>
                <th>Served by</th>
                <td data-testid="nbmlops-version-served">
                  {/* not "none" before the deployments have answered */}
                  {deployments.data === null
                    ? deployments.error
                      ? `not known: ${deployments.error}`
                      : 'looking…'
                    : live.length === 0
                      ? 'no live deployment'
                      : live.map(d => (
                          <a
                            key={d.name}
                            className="nbmlops-link"
                            onClick={() => props.nav.open('deployments', { name: d.name })}
                          >
                            {d.name}{' '}
                          </a>
                        ))}
                </td>
              </tr>
              <tr>
                <th>Created</th>
                <td data-testid="nbmlops-version-created">
                  {formatTime(v.created_at)}
                  {v.created_by ? ` by ${v.created_by}` : ''}
                </td>
              </tr>
              <tr>
                <th>Run</th>
                <td>
                  {v.run_id ? (
                    <a className="nbmlops-link" onClick={() => props.nav.showRun(v.run_id as string)}>
                      {v.run_id.slice(0, 8)}
                    </a>
                  ) : (
                    <span className="nbmlops-muted">none recorded</span>
                  )}
                </td>
              </tr>
              {Object.entries(v.metrics).map(([k, x]) => (
                <tr key={k} data-testid="nbmlops-version-metric">
                  <th>{k}</th>
                  <td className="nbmlops-number">{formatValue(x)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <VersionView version={v} />
        </>
      )}
    </div>
  );
}

export function ModelsSection(props: {
  model: string | null;
  onSelect: (name: string | null) => void;
  nav: INav;
}): JSX.Element {
  const load = useLoad(() => apiGet('/nbmlops/api/models', { query: { limit: 500 } }), []);
  const node = React.useRef<HTMLDivElement>(null);
  useChangeMarker(node, load.reload);
  if (props.model) {
    return <ModelDetails name={props.model} nav={props.nav} onBack={() => props.onSelect(null)} />;
  }
  const page = load.data;
  return (
    <div className="nbmlops-section" ref={node}>
      <Status load={load} empty={page?.items.length === 0} emptyText="No registered models." />
      {page && page.items.length > 0 && (
        <Table
          rows={page.items}
          rowKey={m => m.name}
          testId="nbmlops-model-row"
          className="nbmlops-fit"
          onRowClick={m => props.onSelect(m.name)}
          columns={[
            { title: 'Model', cell: m => <span className="nbmlops-link">{m.name}</span> },
            { title: 'Versions', cell: m => m.versions },
            {
              title: 'Aliases',
              cell: m =>
                Object.entries(m.aliases).map(([a, v]) => (
                  <span key={a} className="nbmlops-badge">
                    @{a}→{v}
                  </span>
                ))
            }
          ]}
        />
      )}
    </div>
  );
}
