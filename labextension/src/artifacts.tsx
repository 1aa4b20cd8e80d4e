/**
 * A run's artifacts: images inline, HTML (model cards, drift reports) in a sandboxed frame,
 * notebooks opened in JupyterLab when the project has them (else downloaded), text and
 * JSON previewed, and every artifact downloadable.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import * as React from 'react';

import { ErrorMessage } from './common';
import type { INav } from './panel';
import { ApiError, Schemas } from './request';

type Artifact = Schemas['RunArtifact'];
type Preview = 'image' | 'html' | 'svg' | 'text' | 'notebook' | 'none';

const TEXT_PREVIEW = 200_000; // characters of a text artifact shown

const TEXT_EXTENSIONS = /\.(txt|json|jsonl|ya?ml|csv|tsv|md|py|log|cfg|toml|ini|xml|sql|r)$/i;

export function previewOf(a: Artifact): Preview {
  const type = a.media_type.split(';')[0].trim().toLowerCase();
  const name = a.name.toLowerCase();
  if (name.endsWith('.ipynb')) {
    return 'notebook';
  }
  if (type === 'text/html' || name.endsWith('.html') || name.endsWith('.htm')) {
    return 'html';
  }
  if (type === 'image/svg+xml' || name.endsWith('.svg')) {
    return 'svg';
  }
  if (type.startsWith('image/')) {
    return 'image';
  }
  if (type.startsWith('text/') || type === 'application/json' || TEXT_EXTENSIONS.test(name)) {
    return 'text';
  }
  return 'none';
}

/** Fetch an artifact's bytes through the server (with the page's token). */
async function fetchArtifact(runId: string, name: string): Promise<Blob> {
  const settings = ServerConnection.makeSettings();
  const target =
    URLExt.join(settings.baseUrl, 'nbmlops/api/runs', encodeURIComponent(runId), 'artifact') +
    `?name=${encodeURIComponent(name)}`;
  const response = await ServerConnection.makeRequest(target, { method: 'GET' }, settings);
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      message = (JSON.parse(await response.text()) as Schemas['Error']).error;
    } catch {
      // not JSON: keep the status line
    }
    throw new ApiError(message, response.status);
  }
  return response.blob();
}

export async function download(runId: string, name: string): Promise<void> {
  const blob = await fetchArtifact(runId, name);
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name.split('/').pop() ?? name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Whether a file exists in the project (the Jupyter server's contents). */
async function inProject(path: string): Promise<boolean> {
  const settings = ServerConnection.makeSettings();
  const target =
    URLExt.join(settings.baseUrl, 'api/contents', URLExt.encodeParts(path)) + '?content=0';
  const response = await ServerConnection.makeRequest(target, { method: 'GET' }, settings);
  return response.ok;
}

export function ArtifactPreview(props: { runId: string; artifact: Artifact }): JSX.Element {
  const { runId, artifact } = props;
  const kind = previewOf(artifact);
  const [content, setContent] = React.useState<{ url?: string; text?: string } | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  React.useEffect(() => {
    let url: string | undefined;
    let live = true;
    setContent(null);
    setError(null);
    fetchArtifact(runId, artifact.name).then(
      async blob => {
        if (!live) {
          return;
        }
        if (kind === 'image' || kind === 'svg') {
          const typed = kind === 'svg' ? new Blob([blob], { type: 'image/svg+xml' }) : blob;
          url = URL.createObjectURL(typed);
          setContent({ url });
        } else {
          setContent({ text: await blob.text() });
        }
      },
      (reason: unknown) => live && setError(reason instanceof Error ? reason.message : String(reason))
    );
    return () => {
      live = false;
      if (url) {
        URL.revokeObjectURL(url);
      }
    };
  }, [runId, artifact.name]);
  if (error) {
    return <ErrorMessage error={error} />;
  }
  if (!content) {
    return <div className="nbmlops-muted">Loading {artifact.name}…</div>;
  }
  if (content.url) {
    return (
      <img
        className="nbmlops-artifact-image"
        data-testid="nbmlops-artifact-image"
        src={content.url}
        alt={artifact.name}
      />
    );
  }
  const text = content.text ?? '';
  if (kind === 'html') {
    // an opaque origin: the report's scripts run, but cannot reach JupyterLab or its token
    return (
      <iframe
        className="nbmlops-artifact-frame"
        data-testid="nbmlops-artifact-frame"
        title={artifact.name}
        sandbox="allow-scripts"
        srcDoc={text}
      />
    );
  }
  let shown = text;
  if (artifact.media_type === 'application/json' || artifact.name.endsWith('.json')) {
    try {
      shown = JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      // not valid JSON: show as it is
    }
  }
  return (
    <pre className="nbmlops-code" data-testid="nbmlops-artifact-text">
      {shown.slice(0, TEXT_PREVIEW)}
      {shown.length > TEXT_PREVIEW ? '\n… (download for the rest)' : ''}
    </pre>
  );
}

function sizeOf(bytes: number): string {
  return bytes < 1024
    ? `${bytes} B`
    : bytes < 1024 ** 2
      ? `${(bytes / 1024).toFixed(1)} KB`
      : `${(bytes / 1024 ** 2).toFixed(1)} MB`;
}

export function ArtifactBrowser(props: { run: Schemas['RunDetail']; nav: INav }): JSX.Element | null {
  const { run } = props;
  const [selected, setSelected] = React.useState<string | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  if (run.artifacts.length === 0) {
    return null;
  }
  const openNotebook = async (a: Artifact) => {
    // the notebook in the project with the artifact's name, beside the run's notebook
    const folder = props.nav.notebookInRoot(run.notebook_path)?.split('/').slice(0, -1) ?? [];
    const candidates = [[...folder, a.name].join('/'), a.name];
    for (const path of candidates) {
      if (await inProject(path)) {
        await props.nav.openNotebook(path);
        return;
      }
    }
    await download(run.run_id, a.name);
  };
  const current = run.artifacts.find(a => a.name === selected) ?? null;
  return (
    <div data-testid="nbmlops-artifacts">
      <h4>Artifacts ({run.artifacts.length})</h4>
      <ErrorMessage error={error} />
      <table className="nbmlops-table">
        <tbody>
          {run.artifacts.map(a => {
            const kind = previewOf(a);
            return (
              <tr
                key={a.name}
                data-testid="nbmlops-artifact-row"
                data-name={a.name}
                className={selected === a.name ? 'nbmlops-mod-selected' : ''}
              >
                <td>
                  {kind === 'none' ? (
                    a.name
                  ) : (
                    <a
                      className="nbmlops-link"
                      title={kind === 'notebook' ? 'Open in JupyterLab' : 'Preview'}
                      onClick={() =>
                        kind === 'notebook'
                          ? void openNotebook(a).catch(e => setError(String(e.message ?? e)))
                          : setSelected(selected === a.name ? null : a.name)
                      }
                    >
                      {a.name}
                    </a>
                  )}
                </td>
                <td className="nbmlops-muted nbmlops-nowrap">{a.media_type}</td>
                <td className="nbmlops-muted nbmlops-nowrap nbmlops-number">{sizeOf(a.size)}</td>
                <td>
                  <button
                    className="jp-Button jp-mod-styled nbmlops-small"
                    data-testid="nbmlops-artifact-download"
                    title={`Download ${a.name}`}
                    onClick={() =>
                      void download(run.run_id, a.name).catch(e => setError(String(e.message ?? e)))
                    }
                  >
                    ⤓
                  </button>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {current && (
        <div className="nbmlops-artifact-preview" data-testid="nbmlops-artifact-preview">
          <ArtifactPreview runId={run.run_id} artifact={current} />
        </div>
      )}
    </div>
  );
}
