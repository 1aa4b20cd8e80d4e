/**
 * Main-area tabs: what needs room (the Runs table, a run, a comparison, a lineage graph)
 * opens beside the notebooks as a tab of its own, restored with the layout.
 *
 * A view is a *kind* (a name) rendered from JSON *args*; `openTab(kind, args)` opens it, or
 * brings forward the tab already showing the same kind and args. Other views register
 * their kind with `registerTab` and open it through `nav.open(kind, args)`.
 */
import { ILayoutRestorer, JupyterFrontEnd } from '@jupyterlab/application';
import { MainAreaWidget, WidgetTracker } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';
import * as React from 'react';
import { flushSync } from 'react-dom';

import { VisibleContext } from './common';
import type { INav } from './panel';

/** A tab's arguments: plain JSON, so the layout can store them. */
export type TabArgs = { [key: string]: string | number | boolean | null };

export interface ITabKind {
  /** The tab's title (short) and caption (its tooltip). */
  title(args: TabArgs): { label: string; caption?: string };
  render(args: TabArgs, nav: INav): JSX.Element;
  /** Ask for what the view reads first, as its tab (about `width` pixels wide) is being
   * made (see `askEarly`). */
  early?(args: TabArgs, width: number): void;
}

const KINDS = new Map<string, ITabKind>();

/** Make a kind of view openable as a main-area tab. */
export function registerTab(kind: string, spec: ITabKind): void {
  KINDS.set(kind, spec);
}

export const OPEN_COMMAND = 'nbmlops:open';

/**
 * A view's content, polling only while visible. It is drawn once, synchronously, as its tab
 * is added (a view with its data at hand, such as the Runs tab with a held page, has its
 * rows in the page before the tab is laid out); showing it again draws nothing anew (its
 * loads ask at once when they missed a poll while hidden).
 */
export class TabContent extends ReactWidget {
  constructor(
    readonly kind: string,
    readonly args: TabArgs,
    private readonly nav: INav
  ) {
    super();
    this.addClass('nbmlops-tab-content');
    this.node.dataset.kind = kind;
  }

  protected onAfterAttach(msg: Message): void {
    flushSync(() => super.onAfterAttach(msg));
  }

  private readonly visible = () => this.isVisible && !document.hidden;
  private element: JSX.Element | null = null;

  protected render(): JSX.Element {
    // the same element each time: an update (ReactWidget's on attach) renders nothing anew
    this.element ??= this.draw();
    return this.element;
  }

  private draw(): JSX.Element {
    const spec = KINDS.get(this.kind);
    return (
      <VisibleContext.Provider value={this.visible}>
        <div className="nbmlops-app nbmlops-wide">
          <div className="nbmlops-body">
            {spec ? (
              spec.render(this.args, this.nav)
            ) : (
              <div className="nbmlops-muted">This kind of view ({this.kind}) is gone.</div>
            )}
          </div>
        </div>
      </VisibleContext.Provider>
    );
  }
}

function tabId(kind: string, args: TabArgs): string {
  const key = JSON.stringify(Object.keys(args).sort().map(k => [k, args[k]]));
  let hash = 0;
  for (let i = 0; i < key.length; i++) {
    hash = (hash * 31 + key.charCodeAt(i)) | 0;
  }
  return `nbmlops-${kind}-${(hash >>> 0).toString(36)}`;
}

export interface ITabs {
  open(kind: string, args: TabArgs): MainAreaWidget<TabContent>;
  tracker: WidgetTracker<MainAreaWidget<TabContent>>;
}

/** The width of JupyterLab's main area (where a tab opens), before the tab is laid out. */
function mainAreaWidth(): number {
  return document.getElementById('jp-main-dock-panel')?.clientWidth || window.innerWidth;
}

/** The tab opener, its command and its tracker (restored with the layout). */
export function setUpTabs(
  app: JupyterFrontEnd,
  restorer: ILayoutRestorer | null,
  nav: () => INav
): ITabs {
  const tracker = new WidgetTracker<MainAreaWidget<TabContent>>({ namespace: 'nbmlops' });

  const open = (kind: string, args: TabArgs): MainAreaWidget<TabContent> => {
    const id = tabId(kind, args);
    const found = tracker.find(w => w.id === id);
    if (found) {
      app.shell.activateById(id);
      return found;
    }
    KINDS.get(kind)?.early?.(args, mainAreaWidth());
    const content = new TabContent(kind, args, nav());
    const widget = new MainAreaWidget({ content });
    widget.id = id;
    widget.addClass('nbmlops-tab-widget');
    const title = KINDS.get(kind)?.title(args) ?? { label: kind };
    widget.title.label = title.label;
    widget.title.caption = title.caption ?? title.label;
    widget.title.closable = true;
    app.shell.add(widget, 'main');
    void tracker.add(widget);
    app.shell.activateById(id);
    return widget;
  };

  app.commands.addCommand(OPEN_COMMAND, {
    label: args => `MLOps: ${String(args.kind ?? 'view')}`,
    execute: args => open(String(args.kind), (args.args ?? {}) as TabArgs)
  });
  if (restorer) {
    void restorer.restore(tracker, {
      command: OPEN_COMMAND,
      args: w => ({ kind: w.content.kind, args: w.content.args }),
      name: w => w.id
    });
  }
  return { open, tracker };
}

/** Whether a widget (and every ancestor) is on screen now. */
export function shown(widget: Widget): boolean {
  return widget.isVisible && !document.hidden;
}
