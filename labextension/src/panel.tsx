/** The panel: a row of section tabs over the section shown, and navigation between them. */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { PageConfig } from '@jupyterlab/coreutils';
import { LabIcon, ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { CompareSection } from './compare';
import { LineageSection, LineageTarget } from './lineage';
import { ModelsSection } from './models';
import { DeploymentsSection, DriftSection, JobsSection } from './operations';
import { RunDetails, RunsSection } from './runs';

export const SECTIONS = [
  ['runs', 'Runs'],
  ['compare', 'Compare'],
  ['models', 'Models'],
  ['deployments', 'Deployments'],
  ['jobs', 'Jobs'],
  ['drift', 'Drift'],
  ['lineage', 'Lineage']
] as const;

export type Section = (typeof SECTIONS)[number][0];

/** How one section sends the user to another. */
export interface INav {
  showRun(runId: string): void;
  compare(runIds: string[]): void;
  showModel(name: string): void;
  lineage(target: LineageTarget): void;
  go(section: Section): void;
  /** The notebook's path relative to the server root, or null when it is outside it. */
  notebookInRoot(path: string | null): string | null;
  /**
   * Open a notebook; with a cell id, select that cell and scroll it into view. Resolves
   * false when the notebook no longer has the cell (edited since, or another copy).
   */
  openNotebook(relativePath: string, cellId?: string | null): Promise<boolean>;
}

/** What the panel uses of a notebook widget (NotebookPanel), without depending on it. */
interface INotebookLike {
  context: { ready: Promise<void> };
  content: {
    widgets: ReadonlyArray<{ model: { id: string } }>;
    activeCellIndex: number;
    scrollToCell?(cell: unknown, align?: string): Promise<void>;
  };
}

function isNotebook(widget: unknown): widget is INotebookLike {
  const w = widget as Partial<INotebookLike> | null | undefined;
  return !!w && !!w.context && !!w.content && Array.isArray(w.content.widgets);
}

/** Open `path` and make the cell whose id is `cellId` active and visible. */
export async function openAtCell(
  app: JupyterFrontEnd,
  path: string,
  cellId?: string | null
): Promise<boolean> {
  const widget: unknown = await app.commands.execute('docmanager:open', { path });
  if (!cellId || !isNotebook(widget)) {
    return true;
  }
  await widget.context.ready;
  const notebook = widget.content;
  const index = notebook.widgets.findIndex(cell => cell.model.id === cellId);
  if (index < 0) {
    return false;
  }
  notebook.activeCellIndex = index;
  if (notebook.scrollToCell) {
    await notebook.scrollToCell(notebook.widgets[index], 'center');
  }
  return true;
}

export function relativeToRoot(path: string | null, root: string): string | null {
  if (!path || !root) {
    return null;
  }
  const base = root.replace(/\/+$/, '');
  if (!path.startsWith('/')) {
    return path.split('/').includes('..') ? null : path;
  }
  return path.startsWith(base + '/') ? path.slice(base.length + 1) : null;
}

function App(props: { app: JupyterFrontEnd }): JSX.Element {
  const [section, setSection] = React.useState<Section>('runs');
  const [runId, setRunId] = React.useState<string | null>(null);
  const [compareIds, setCompareIds] = React.useState<string[]>([]);
  const [model, setModel] = React.useState<string | null>(null);
  const [lineage, setLineage] = React.useState<LineageTarget | null>(null);

  const nav: INav = React.useMemo(
    () => ({
      showRun: id => {
        setRunId(id);
        setSection('runs');
      },
      compare: ids => {
        setCompareIds(ids);
        setSection('compare');
      },
      showModel: name => {
        setModel(name);
        setSection('models');
      },
      lineage: target => {
        setLineage(target);
        setSection('lineage');
      },
      go: setSection,
      notebookInRoot: path => relativeToRoot(path, PageConfig.getOption('serverRoot')),
      openNotebook: (path, cellId) => openAtCell(props.app, path, cellId)
    }),
    [props.app]
  );

  let body: JSX.Element;
  switch (section) {
    case 'runs':
      body = runId ? (
        <RunDetails runId={runId} nav={nav} onBack={() => setRunId(null)} />
      ) : (
        <RunsSection nav={nav} />
      );
      break;
    case 'compare':
      body = <CompareSection runIds={compareIds} nav={nav} />;
      break;
    case 'models':
      body = <ModelsSection model={model} onSelect={setModel} nav={nav} />;
      break;
    case 'deployments':
      body = <DeploymentsSection nav={nav} />;
      break;
    case 'jobs':
      body = <JobsSection />;
      break;
    case 'drift':
      body = <DriftSection nav={nav} />;
      break;
    case 'lineage':
      body = <LineageSection target={lineage} onTarget={setLineage} nav={nav} />;
      break;
  }

  return (
    <div className="nbmlops-app">
      <div className="nbmlops-tabs" role="tablist">
        {SECTIONS.map(([key, title]) => (
          <button
            key={key}
            role="tab"
            aria-selected={section === key}
            className={'nbmlops-tab' + (section === key ? ' nbmlops-mod-active' : '')}
            data-testid={`nbmlops-tab-${key}`}
            onClick={() => {
              if (key === 'runs' && section === 'runs') {
                setRunId(null);
              }
              setSection(key);
            }}
          >
            {title}
          </button>
        ))}
      </div>
      <div className="nbmlops-body" data-testid={`nbmlops-section-${section}`}>
        {body}
      </div>
    </div>
  );
}

const mlopsIcon = new LabIcon({
  name: 'nbmlops:mlops',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
    '<g class="jp-icon3" fill="#616161"><circle cx="5" cy="6" r="2.5"/><circle cx="19" cy="6" r="2.5"/>' +
    '<circle cx="12" cy="18" r="2.5"/><path d="M6.5 7.5l4.5 8.5 1.6-.9-4.5-8.5zM17.5 7.5l-4.5 8.5-1.6-.9 4.5-8.5z"/>' +
    '<rect x="7" y="5" width="10" height="2"/></g></svg>'
});

export class MlopsPanel extends ReactWidget {
  constructor(private readonly app: JupyterFrontEnd) {
    super();
    this.id = 'nbmlops-panel';
    this.title.caption = 'MLOps';
    this.title.icon = mlopsIcon;
    this.addClass('nbmlops-panel');
  }

  protected render(): JSX.Element {
    return <App app={this.app} />;
  }
}
