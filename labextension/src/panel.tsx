/** The panel: a row of section tabs over the section shown, and navigation between them. */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { PageConfig } from '@jupyterlab/coreutils';
import { LabIcon, ReactWidget } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { VisibleContext } from './common';
import { CompareSection, askCompareEarly } from './compare';
import { LineageSection, LineageTarget } from './lineage';
import { ModelVersionTab, ModelsSection } from './models';
import { DeploymentsSection, DriftSection, JobsSection } from './operations';
import { DeploymentsView, DriftView, JobsView } from './ops-views';
import { RunDetails, RunsSection, askRunEarly, askRunsEarly } from './runs';
import { TabArgs, registerTab } from './shell';

export const SECTIONS = [
  ['runs', 'Runs'],
  ['models', 'Models'],
  ['deployments', 'Deployments'],
  ['jobs', 'Jobs'],
  ['drift', 'Drift'],
  ['lineage', 'Lineage']
] as const;

export type Section = (typeof SECTIONS)[number][0];

/** How one section sends the user to another. */
export interface INav {
  /** Open a view as a main-area tab (see shell.tsx: registerTab). */
  open(kind: string, args: TabArgs): void;
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

/** What the sidebar is asked to show from elsewhere (a tab's link to a model, a section). */
type SidebarRequest = { section: Section; model?: string | null };
const sidebarListeners = new Set<(request: SidebarRequest) => void>();

/** The one navigator every view shares: tabs for what needs room, the sidebar for the rest. */
export function createNav(
  app: JupyterFrontEnd,
  openTab: (kind: string, args: TabArgs) => unknown
): INav {
  const sidebar = (request: SidebarRequest) => {
    app.shell.activateById(PANEL_ID);
    sidebarListeners.forEach(listener => listener(request));
  };
  return {
    open: (kind, args) => void openTab(kind, args),
    showRun: id => void openTab('run', { run: id }),
    compare: ids => void openTab('compare', { ids: ids.join(',') }),
    showModel: name => sidebar({ section: 'models', model: name }),
    lineage: target => void openTab('lineage', { kind: target.kind, value: target.value }),
    go: section =>
      section === 'runs' ? void openTab('runs', {}) : sidebar({ section }),
    notebookInRoot: path => relativeToRoot(path, PageConfig.getOption('serverRoot')),
    openNotebook: (path, cellId) => openAtCell(app, path, cellId)
  };
}

/** The sidebar's way into a section's main-area tab, where it has room. */
function OpenTab(props: { kind: string; label: string; nav: INav }): JSX.Element {
  return (
    <button
      className="jp-Button jp-mod-styled jp-mod-accept nbmlops-open-tab"
      data-testid={`nbmlops-open-${props.kind}`}
      onClick={() => props.nav.open(props.kind, {})}
    >
      {props.label}
    </button>
  );
}

function App(props: { nav: INav }): JSX.Element {
  const [section, setSection] = React.useState<Section>('runs');
  const [model, setModel] = React.useState<string | null>(null);
  const [lineage, setLineage] = React.useState<LineageTarget | null>(null);
  const { nav } = props;

  React.useEffect(() => {
    const listener = (request: SidebarRequest) => {
      setSection(request.section);
      if (request.model !== undefined) {
        setModel(request.model);
      }
    };
    sidebarListeners.add(listener);
    return () => void sidebarListeners.delete(listener);
  }, []);

  let body: JSX.Element;
  switch (section) {
    case 'runs':
      body = <RunsSection nav={nav} compact />;
      break;
    case 'models':
      body = <ModelsSection model={model} onSelect={setModel} nav={nav} />;
      break;
    case 'deployments':
      body = (
        <>
          <OpenTab kind="deployments" label="Open Deployments" nav={nav} />
          <DeploymentsSection nav={nav} />
        </>
      );
      break;
    case 'jobs':
      body = (
        <>
          <OpenTab kind="jobs" label="Open Jobs" nav={nav} />
          <JobsSection nav={nav} />
        </>
      );
      break;
    case 'drift':
      body = (
        <>
          <OpenTab kind="drift" label="Open Drift and monitors" nav={nav} />
          <DriftSection nav={nav} />
        </>
      );
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
            onClick={() => setSection(key)}
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

/** The views that open as main-area tabs (compare and lineage are panelb's sections). */
export function registerTabs(): void {
  registerTab('runs', {
    title: args => ({
      label: args.experiment ? `Runs: ${String(args.experiment)}` : 'Runs',
      caption: 'nbmlops runs'
    }),
    early: args => askRunsEarly(args.experiment ? String(args.experiment) : ''),
    render: (args, nav) => (
      <RunsSection nav={nav} experiment={args.experiment ? String(args.experiment) : ''} />
    )
  });
  registerTab('run', {
    title: args => ({ label: `Run ${String(args.run).slice(0, 8)}`, caption: `run ${String(args.run)}` }),
    early: (args, width) => askRunEarly(String(args.run), width),
    render: (args, nav) => <RunDetails runId={String(args.run)} nav={nav} />
  });
  registerTab('compare', {
    title: args => ({
      label: `Compare ${String(args.ids).split(',').length} runs`,
      caption: String(args.ids)
    }),
    early: args => askCompareEarly(String(args.ids).split(',').filter(Boolean)),
    render: (args, nav) => (
      <CompareSection runIds={String(args.ids).split(',').filter(Boolean)} nav={nav} />
    )
  });
  registerTab('model-version', {
    title: args => ({
      label: `${String(args.model)} v${String(args.version)}`,
      caption: `model ${String(args.model)} version ${String(args.version)}`
    }),
    render: (args, nav) => (
      <ModelVersionTab model={String(args.model)} version={Number(args.version)} nav={nav} />
    )
  });
  registerTab('deployments', {
    title: args => ({
      label: args.name ? `Deployment ${String(args.name)}` : 'Deployments',
      caption: 'nbmlops deployments'
    }),
    render: (args, nav) => (
      <DeploymentsView nav={nav} name={args.name ? String(args.name) : undefined} />
    )
  });
  registerTab('jobs', {
    title: () => ({ label: 'Jobs', caption: 'nbmlops jobs and their runs' }),
    render: (_args, nav) => <JobsView nav={nav} />
  });
  registerTab('drift', {
    title: args => ({
      label: args.run ? `Drift check ${String(args.run).slice(0, 8)}` : 'Drift and monitors',
      caption: 'nbmlops drift checks and monitors'
    }),
    render: (args, nav) => <DriftView nav={nav} run={args.run ? String(args.run) : undefined} />
  });
  registerTab('lineage', {
    title: args => ({ label: `Lineage ${String(args.value).slice(0, 12)}`, caption: String(args.value) }),
    render: (args, nav) => <LineageTab args={args} nav={nav} />
  });
}

function LineageTab(props: { args: TabArgs; nav: INav }): JSX.Element {
  const [target, setTarget] = React.useState<LineageTarget | null>({
    kind: props.args.kind as LineageTarget['kind'],
    value: String(props.args.value)
  });
  return <LineageSection target={target} onTarget={setTarget} nav={props.nav} />;
}

const mlopsIcon = new LabIcon({
  name: 'nbmlops:mlops',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
    '<g class="jp-icon3" fill="#616161"><circle cx="5" cy="6" r="2.5"/><circle cx="19" cy="6" r="2.5"/>' +
    '<circle cx="12" cy="18" r="2.5"/><path d="M6.5 7.5l4.5 8.5 1.6-.9-4.5-8.5zM17.5 7.5l-4.5 8.5-1.6-.9 4.5-8.5z"/>' +
    '<rect x="7" y="5" width="10" height="2"/></g></svg>'
});

export const PANEL_ID = 'nbmlops-panel';

/**
 * The sidebar: a compact navigator; it polls only while it is expanded. It is drawn once
 * (as JupyterLab attaches it, collapsed or not); expanding it draws nothing anew, so its
 * rows are on screen as soon as JupyterLab has laid the sidebar out, and its loads ask at
 * once for what they missed while it was collapsed.
 */
export class MlopsPanel extends ReactWidget {
  constructor(private readonly nav: INav) {
    super();
    this.id = PANEL_ID;
    this.title.caption = 'MLOps';
    this.title.icon = mlopsIcon;
    this.addClass('nbmlops-panel');
  }

  private readonly visible = () => this.isVisible && !document.hidden;
  private element: JSX.Element | null = null;

  protected onBeforeShow(msg: Message): void {
    super.onBeforeShow(msg);
    if (!this.element) {
      askRunsEarly(''); // what it shows first: the runs section
    }
  }

  protected render(): JSX.Element {
    this.element ??= (
      <VisibleContext.Provider value={this.visible}>
        <App nav={this.nav} />
      </VisibleContext.Provider>
    );
    return this.element;
  }
}
