/** Lineage: datasets → runs → model versions → deployments around one run, version or
 * deployment, drawn as an SVG graph whose nodes lead to their sections. */
import * as React from 'react';

import { Status, useLoad } from './common';
import type { INav } from './panel';
import { Schemas, apiGet } from './request';

export interface LineageTarget {
  kind: 'run' | 'model' | 'deployment';
  value: string;
}

type Node = Schemas['LineageNode'];
type Edge = Schemas['LineageEdge'];

const NODE_W = 130;
const NODE_H = 34;
const COL_GAP = 50;
const ROW_GAP = 14;
const PAD = 10;

export interface IPlaced {
  node: Node;
  x: number;
  y: number;
}

/** Columns by longest path from a source node (the graph is acyclic: data flows one way). */
export function layout(nodes: Node[], edges: Edge[]): IPlaced[] {
  const depth = new Map(nodes.map(n => [n.id, 0]));
  for (let pass = 0; pass < nodes.length; pass++) {
    let changed = false;
    for (const e of edges) {
      const d = (depth.get(e.source) ?? 0) + 1;
      if (depth.has(e.target) && d > (depth.get(e.target) ?? 0)) {
        depth.set(e.target, d);
        changed = true;
      }
    }
    if (!changed) {
      break;
    }
  }
  const rows = new Map<number, number>();
  return nodes.map(node => {
    const column = depth.get(node.id) ?? 0;
    const row = rows.get(column) ?? 0;
    rows.set(column, row + 1);
    return {
      node,
      x: PAD + column * (NODE_W + COL_GAP),
      y: PAD + row * (NODE_H + ROW_GAP)
    };
  });
}

const TYPE_LABEL: Record<Node['type'], string> = {
  dataset: 'dataset',
  run: 'run',
  model_version: 'model',
  deployment: 'deployment'
};

/** A deployment node's restarts under its name (one node per deployment, not per start). */
function restartsOf(node: Node): number {
  const data = node.data as { restarts?: unknown };
  return node.type === 'deployment' && typeof data.restarts === 'number' ? data.restarts : 0;
}

export function LineageGraph(props: {
  lineage: Schemas['Lineage'];
  onNode: (node: Node) => void;
}): JSX.Element {
  const placed = layout(props.lineage.nodes, props.lineage.edges);
  const at = new Map(placed.map(p => [p.node.id, p]));
  const width = Math.max(...placed.map(p => p.x + NODE_W), 0) + PAD;
  const height = Math.max(...placed.map(p => p.y + NODE_H), 0) + PAD;
  return (
    <svg
      className="nbmlops-lineage-graph"
      width={width}
      height={height}
      viewBox={`0 0 ${width} ${height}`}
      role="img"
      aria-label="Lineage graph"
    >
      <defs>
        <marker
          id="nbmlops-arrow"
          viewBox="0 0 10 10"
          refX="10"
          refY="5"
          markerWidth="6"
          markerHeight="6"
          orient="auto-start-reverse"
        >
          <path d="M 0 0 L 10 5 L 0 10 z" className="nbmlops-arrow" />
        </marker>
      </defs>
      {props.lineage.edges.map(e => {
        const a = at.get(e.source);
        const b = at.get(e.target);
        if (!a || !b) {
          return null;
        }
        const x1 = a.x + NODE_W;
        const y1 = a.y + NODE_H / 2;
        const x2 = b.x;
        const y2 = b.y + NODE_H / 2;
        const mid = (x1 + x2) / 2;
        return (
          <path
            key={`${e.source}-${e.target}-${e.relation}`}
            className="nbmlops-edge"
            d={`M ${x1} ${y1} C ${mid} ${y1}, ${mid} ${y2}, ${x2} ${y2}`}
            markerEnd="url(#nbmlops-arrow)"
          >
            <title>{e.relation}</title>
          </path>
        );
      })}
      {placed.map(({ node, x, y }) => (
        <g
          key={node.id}
          className={
            `nbmlops-node nbmlops-node-${node.type}` +
            (node.id === props.lineage.root ? ' nbmlops-mod-root' : '')
          }
          data-testid="nbmlops-lineage-node"
          data-node-id={node.id}
          transform={`translate(${x}, ${y})`}
          onClick={() => props.onNode(node)}
        >
          <title>{`${TYPE_LABEL[node.type]} ${node.label}\n${node.id}`}</title>
          <rect width={NODE_W} height={NODE_H} rx={5} />
          <text x={6} y={13} className="nbmlops-node-type">
            {TYPE_LABEL[node.type]}
            {restartsOf(node) ? ` · ${restartsOf(node)} restart${restartsOf(node) === 1 ? '' : 's'}` : ''}
          </text>
          <text x={6} y={27} className="nbmlops-node-label">
            {node.label.length > 20 ? `${node.label.slice(0, 19)}…` : node.label}
          </text>
        </g>
      ))}
    </svg>
  );
}

export function LineageSection(props: {
  target: LineageTarget | null;
  onTarget: (target: LineageTarget) => void;
  nav: INav;
}): JSX.Element {
  const [kind, setKind] = React.useState<LineageTarget['kind']>(props.target?.kind ?? 'run');
  const [draft, setDraft] = React.useState(props.target?.value ?? '');
  const [selected, setSelected] = React.useState<Node | null>(null);
  React.useEffect(() => {
    if (props.target) {
      setKind(props.target.kind);
      setDraft(props.target.value);
    }
    setSelected(null);
  }, [props.target?.kind, props.target?.value]);

  const target = props.target;
  const load = useLoad(
    () =>
      target
        ? apiGet('/nbmlops/api/lineage', { query: { [target.kind]: target.value } })
        : Promise.resolve<Schemas['Lineage'] | null>(null),
    [target?.kind, target?.value]
  );

  const open = (node: Node) => {
    setSelected(node);
    const data = node.data as Record<string, unknown>;
    if (node.type === 'run' && node.id !== load.data?.root) {
      props.nav.showRun(String(data.run_id ?? node.id.slice('run:'.length)));
    } else if (node.type === 'model_version' && node.id !== load.data?.root) {
      props.nav.showModel(String(data.model));
    } else if (node.type === 'deployment') {
      props.nav.open('deployments', { name: String(data.name) });
    }
  };

  return (
    <div className="nbmlops-section" data-testid="nbmlops-lineage">
      <form
        className="nbmlops-filters"
        onSubmit={e => {
          e.preventDefault();
          if (draft.trim()) {
            props.onTarget({ kind, value: draft.trim() });
          }
        }}
      >
        <select
          aria-label="Lineage of"
          value={kind}
          onChange={e => setKind(e.target.value as LineageTarget['kind'])}
        >
          <option value="run">run</option>
          <option value="model">model version</option>
          <option value="deployment">deployment</option>
        </select>
        <input
          type="text"
          aria-label="Lineage target"
          placeholder={kind === 'model' ? 'NAME/VERSION or NAME@ALIAS' : kind === 'run' ? 'run id' : 'name'}
          value={draft}
          onChange={e => setDraft(e.target.value)}
        />
        <button type="submit" className="jp-Button jp-mod-styled">
          Show
        </button>
      </form>
      {!target ? (
        <div className="nbmlops-muted">
          Pick a run, a model version (NAME/VERSION) or a deployment, or press Lineage on one.
        </div>
      ) : load.data === null || load.error ? (
        <Status load={load} />
      ) : (
        <>
          <div className="nbmlops-muted">
            Click a run, model version or deployment to open it; the root is outlined.
          </div>
          <div className="nbmlops-scroll">
            <LineageGraph lineage={load.data} onNode={open} />
          </div>
          {selected && (
            <pre className="nbmlops-code" data-testid="nbmlops-lineage-selected">
              {selected.id}
              {'\n'}
              {JSON.stringify(selected.data, null, 2)}
            </pre>
          )}
        </>
      )}
    </div>
  );
}
