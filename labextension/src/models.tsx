/** Models: registered models, one model's versions, aliases and history, promote/rollback. */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';
import * as React from 'react';

import { ErrorMessage, Status, Table, formatTime, formatValue, useLoad } from './common';
import type { INav } from './panel';
import { Schemas, apiGet, apiPost } from './request';

const DEFAULT_ALIAS = 'production';

/** The promote dialog's body: the alias to move and an optional reason. */
class PromoteBody extends Widget implements Dialog.IBodyWidget<{ alias: string; reason: string }> {
  private readonly alias: HTMLInputElement;
  private readonly reason: HTMLInputElement;

  constructor(message: string, alias: string) {
    super();
    this.addClass('nbmlops-dialog');
    const text = document.createElement('p');
    text.textContent = message;
    this.alias = document.createElement('input');
    this.alias.value = alias;
    this.alias.setAttribute('aria-label', 'Alias');
    this.alias.dataset.testid = 'nbmlops-promote-alias';
    this.reason = document.createElement('input');
    this.reason.placeholder = 'reason (optional)';
    this.reason.setAttribute('aria-label', 'Reason');
    const label = document.createElement('label');
    label.append('Alias ', this.alias);
    this.node.append(text, label, this.reason);
  }

  getValue(): { alias: string; reason: string } {
    return { alias: this.alias.value.trim(), reason: this.reason.value.trim() };
  }
}

async function ask(
  title: string,
  message: string,
  alias: string,
  accept: string
): Promise<{ alias: string; reason: string } | null> {
  const result = await showDialog({
    title,
    body: new PromoteBody(message, alias),
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: accept })]
  });
  if (!result.button.accept || !result.value || !result.value.alias) {
    return null;
  }
  return result.value;
}

function ModelDetails(props: { name: string; nav: INav; onBack: () => void }): JSX.Element {
  const load = useLoad(
    () => apiGet('/nbmlops/api/models/{name}', { path: { name: props.name } }),
    [props.name]
  );
  const history = useLoad(
    () =>
      apiGet('/nbmlops/api/models/{name}/history', {
        path: { name: props.name },
        query: { limit: 500 }
      }),
    [props.name]
  );
  const [actionError, setActionError] = React.useState<string | null>(null);
  const [notice, setNotice] = React.useState<string | null>(null);

  const done = (move: Schemas['AliasMove']) => {
    setActionError(null);
    setNotice(
      move.request !== null
        ? `${move.model}@${move.alias} is protected: request #${move.request} opened to move it to version ${move.version}; it moves once approved (nbmlops models approve).`
        : move.changed
          ? `${move.model}@${move.alias} now points at version ${move.version}.`
          : `${move.model}@${move.alias} already pointed at version ${move.version}.`
    );
    load.reload();
    history.reload();
  };
  const failed = (error: unknown) => {
    setNotice(null);
    setActionError(error instanceof Error ? error.message : String(error));
  };

  const promote = async (version: Schemas['ModelVersion']) => {
    const aliases = Object.keys(load.data?.model.aliases ?? {});
    const answer = await ask(
      `Promote ${version.model} version ${version.version}?`,
      `Point an alias of ${version.model} at version ${version.version} (audited).`,
      aliases.includes(DEFAULT_ALIAS) || aliases.length === 0 ? DEFAULT_ALIAS : aliases[0],
      'Promote'
    );
    if (answer) {
      apiPost(
        '/nbmlops/api/models/{name}/promote',
        { name: version.model },
        { version: version.version, alias: answer.alias, reason: answer.reason || null }
      ).then(done, failed);
    }
  };
  const rollback = async (alias: string, version: number) => {
    const answer = await ask(
      `Roll back ${props.name}@${alias}?`,
      `${props.name}@${alias} points at version ${version}; point it back at the version it ` +
        'pointed at before its last move (audited).',
      alias,
      'Roll back'
    );
    if (answer) {
      apiPost(
        '/nbmlops/api/models/{name}/rollback',
        { name: props.name },
        { alias: answer.alias, reason: answer.reason || null }
      ).then(done, failed);
    }
  };

  const detail = load.data;
  return (
    <div className="nbmlops-section" data-testid="nbmlops-model-details">
      <div className="nbmlops-toolbar">
        <button className="jp-Button jp-mod-styled" onClick={props.onBack}>
          ‹ Models
        </button>
      </div>
      <ErrorMessage error={actionError} />
      {notice && (
        <div className="nbmlops-notice" data-testid="nbmlops-notice">
          {notice}
        </div>
      )}
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
                  <button
                    className="jp-Button jp-mod-styled nbmlops-small"
                    data-testid="nbmlops-rollback-button"
                    onClick={() => void rollback(alias, version)}
                  >
                    Roll back
                  </button>
                </li>
              ))}
            </ul>
          )}
          <h4>Versions</h4>
          <Table
            rows={detail.versions}
            rowKey={v => String(v.version)}
            testId="nbmlops-version-row"
            columns={[
              { title: 'Version', cell: v => v.version },
              {
                title: 'Aliases',
                cell: v =>
                  v.aliases.map(a => (
                    <span key={a} className="nbmlops-badge">
                      @{a}
                    </span>
                  ))
              },
              {
                title: 'Metrics',
                cell: v =>
                  Object.entries(v.metrics)
                    .map(([k, x]) => `${k}=${formatValue(x)}`)
                    .join(', ')
              },
              {
                title: 'Run',
                cell: v =>
                  v.run_id ? (
                    <a className="nbmlops-link" onClick={() => props.nav.showRun(v.run_id as string)}>
                      {v.run_id.slice(0, 8)}
                    </a>
                  ) : (
                    ''
                  )
              },
              { title: 'Created', cell: v => formatTime(v.created_at) },
              {
                title: '',
                cell: v => (
                  <>
                    <button
                      className="jp-Button jp-mod-styled jp-mod-accept nbmlops-small"
                      data-testid="nbmlops-promote-button"
                      data-version={v.version}
                      onClick={() => void promote(v)}
                    >
                      Promote
                    </button>
                    <button
                      className="jp-Button jp-mod-styled nbmlops-small"
                      onClick={() =>
                        props.nav.lineage({ kind: 'model', value: `${v.model}/${v.version}` })
                      }
                    >
                      Lineage
                    </button>
                  </>
                )
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
            columns={[
              { title: 'When', cell: e => formatTime(e.time) },
              { title: 'Action', cell: e => e.action },
              { title: 'Alias', cell: e => (e.alias ? `@${e.alias}` : '') },
              {
                title: 'Version',
                cell: e =>
                  e.from_version !== null || e.to_version !== null
                    ? `${e.from_version ?? '–'} → ${e.to_version ?? '–'}`
                    : (e.version ?? '')
              },
              { title: 'By', cell: e => e.user ?? '' },
              { title: 'Reason', cell: e => e.reason ?? '' }
            ]}
          />
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
  if (props.model) {
    return <ModelDetails name={props.model} nav={props.nav} onBack={() => props.onSelect(null)} />;
  }
  const page = load.data;
  return (
    <div className="nbmlops-section">
      <Status load={load} empty={page?.items.length === 0} emptyText="No registered models." />
      {page && page.items.length > 0 && (
        <Table
          rows={page.items}
          rowKey={m => m.name}
          testId="nbmlops-model-row"
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
            },
            { title: 'Created', cell: m => formatTime(m.created_at) }
          ]}
        />
      )}
    </div>
  );
}
