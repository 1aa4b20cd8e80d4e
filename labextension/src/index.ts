import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';

import { INav, MlopsPanel, createNav, registerTabs } from './panel';
import { ITabs, setUpTabs } from './shell';

/** The "MLOps" panel in the left sidebar. */
const plugin: JupyterFrontEndPlugin<void> = {
  id: 'nbmlops:panel',
  description: 'Runs, comparisons, models, deployments, jobs, drift and lineage of nbmlops.',
  autoStart: true,
  optional: [ILayoutRestorer],
  activate: (app: JupyterFrontEnd, restorer: ILayoutRestorer | null) => {
    registerTabs();
    let nav: INav | null = null;
    const tabs: ITabs = setUpTabs(app, restorer, () => nav as INav);
    nav = createNav(app, tabs.open);
    const panel = new MlopsPanel(nav);
    app.shell.add(panel, 'left', { rank: 600 });
    if (restorer) {
      restorer.add(panel, panel.id);
    }
  }
};

export default plugin;
