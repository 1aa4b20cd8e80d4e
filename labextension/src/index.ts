import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';

import { MlopsPanel } from './panel';

/** The "MLOps" panel in the left sidebar. */
const plugin: JupyterFrontEndPlugin<void> = {
  id: 'nbmlops:panel',
  description: 'Runs, comparisons, models, deployments, jobs, drift and lineage of nbmlops.',
  autoStart: true,
  optional: [ILayoutRestorer],
  activate: (app: JupyterFrontEnd, restorer: ILayoutRestorer | null) => {
    const panel = new MlopsPanel(app);
    app.shell.add(panel, 'left', { rank: 600 });
    if (restorer) {
      restorer.add(panel, panel.id);
    }
  }
};

export default plugin;
