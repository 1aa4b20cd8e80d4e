/** What the panel's sections share: loading with polling, error messages, formatting. */
import * as React from 'react';

/**
 * Whether the view a component is in is on screen (the sidebar not collapsed, the tab not
 * behind another): polling stops while it is not.
 */
export const VisibleContext = React.createContext<() => boolean>(() => !document.hidden);

export interface ILoad<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  /** Whether `data` is an answer held from before (see `initial`), not yet asked again. */
  held: boolean;
  reload: () => void;
}

/** Call `then` once the next frame has been painted (the frame's callback runs before the
 * paint, a timer set there after it); the function returned cancels it. */
export function afterPaint(then: () => void): () => void {
  let timer = 0;
  const frame = requestAnimationFrame(() => {
    timer = window.setTimeout(then, 0);
  });
  return () => {
    cancelAnimationFrame(frame);
    window.clearTimeout(timer);
  };
}

/**
 * Call `fetch` when `deps` change (and every `pollMs` milliseconds when given), keeping the
 * last good answer on screen while a refresh is under way. Answers to superseded requests
 * are dropped, so a slow old page never overwrites a newer one. Polling asks only while
 * the view is visible (VisibleContext), and asks at once when it shows again.
 *
 * `initial` gives what to draw before the first answer: an answer held from a moment ago
 * (see request.ts: heldAnswer), so that the view is drawn with its rows at once; `fetch`
 * is called all the same, once that first drawing is on screen, and its answer replaces
 * the held one.
 */
export function useLoad<T>(
  fetch: () => Promise<T>,
  deps: React.DependencyList,
  pollMs?: number,
  initial?: () => T | null
): ILoad<T> {
  const [data, setData] = React.useState<T | null>(() => (initial ? initial() : null));
  const [held, setHeld] = React.useState(data !== null);
  const [error, setError] = React.useState<string | null>(null);
  const [loading, setLoading] = React.useState(true);
  const [tick, setTick] = React.useState(0);
  const latest = React.useRef(0);
  const reload = React.useCallback(() => setTick(t => t + 1), []);
  const visible = React.useContext(VisibleContext);

  React.useEffect(() => {
    const call = ++latest.current;
    setLoading(true);
    const ask = () =>
      fetch().then(
        value => {
          if (call === latest.current) {
            setData(value);
            setHeld(false);
            setError(null);
            setLoading(false);
          }
        },
        (reason: unknown) => {
          if (call === latest.current) {
            setError(reason instanceof Error ? reason.message : String(reason));
            setHeld(false);
            setLoading(false);
          }
        }
      );
    if (call > 1 || !held) {
      void ask();
      return;
    }
    // drawn with a held answer: the refresh is asked for once that is on screen (sending a
    // request costs the page a few milliseconds it would otherwise spend before the paint)
    return afterPaint(() => void ask());
  }, [...deps, tick]);

  React.useEffect(() => {
    if (!pollMs) {
      return;
    }
    let missed = false;
    const timer = window.setInterval(() => {
      if (visible()) {
        reload();
        missed = false;
      } else {
        missed = true;
      }
    }, pollMs);
    // shown again after a hidden spell: ask now rather than at the next tick
    const check = window.setInterval(() => {
      if (missed && visible()) {
        missed = false;
        reload();
      }
    }, 250);
    return () => {
      window.clearInterval(timer);
      window.clearInterval(check);
    };
  }, [pollMs, reload, visible]);

  return { data, error, loading, held, reload };
}

export function ErrorMessage(props: { error: string | null }): JSX.Element | null {
  if (!props.error) {
    return null;
  }
  return (
    <div className="nbmlops-error" role="alert" data-testid="nbmlops-error">
      {props.error}
    </div>
  );
}

/** What a section shows before its first answer, or when it has nothing. */
export function Status<T>(props: {
  load: ILoad<T>;
  empty?: boolean;
  emptyText?: string;
}): JSX.Element | null {
  const { load } = props;
  if (load.error) {
    return <ErrorMessage error={load.error} />;
  }
  if (load.data === null) {
    return <div className="nbmlops-muted">Loading…</div>;
  }
  if (props.empty) {
    return <div className="nbmlops-muted">{props.emptyText ?? 'Nothing recorded yet.'}</div>;
  }
  return null;
}

export function formatValue(value: unknown): string {
  if (value === null || value === undefined) {
    return '';
  }
  if (typeof value === 'number') {
    if (Number.isInteger(value)) {
      return String(value);
    }
    return Math.abs(value) >= 1e4 || Math.abs(value) < 1e-3
      ? value.toPrecision(4)
      : String(Number(value.toFixed(4)));
  }
  if (typeof value === 'object') {
    return JSON.stringify(value);
  }
  return String(value);
}

/**
 * The browser's date formats, made once: `toLocaleString` and its kin build a formatter
 * on every call (about a millisecond each on a busy machine; a page of runs formats each
 * start time three ways).
 */
const formats = new Map<string, Intl.DateTimeFormat>();
function dateFormat(options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const key = JSON.stringify(options);
  let format = formats.get(key);
  if (!format) {
    format = new Intl.DateTimeFormat(undefined, options);
    formats.set(key, format);
  }
  return format;
}
/** What `Date.toLocaleString()` shows, without options. */
const DATE_TIME: Intl.DateTimeFormatOptions = {
  year: 'numeric',
  month: 'numeric',
  day: 'numeric',
  hour: 'numeric',
  minute: 'numeric',
  second: 'numeric'
};

export function formatTime(iso: string | null | undefined): string {
  if (!iso) {
    return '';
  }
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : dateFormat(DATE_TIME).format(date);
}

/** A time as people read it: "14:02" today, "yesterday 14:02", "2 Dec 14:02", "2 Dec 2025". */
export function formatWhen(iso: string | null | undefined, now: Date = new Date()): string {
  if (!iso) {
    return '';
  }
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) {
    return iso;
  }
  const seconds = (now.getTime() - date.getTime()) / 1000;
  if (seconds >= 0 && seconds < 60) {
    return 'just now';
  }
  if (seconds >= 0 && seconds < 3600) {
    return `${Math.floor(seconds / 60)} min ago`;
  }
  const hm = dateFormat({ hour: '2-digit', minute: '2-digit' }).format(date);
  const day = (d: Date) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((day(now) - day(date)) / 86_400_000);
  if (days === 0) {
    return hm;
  }
  if (days === 1) {
    return `yesterday ${hm}`;
  }
  const dm = dateFormat({ day: 'numeric', month: 'short' }).format(date);
  return date.getFullYear() === now.getFullYear() ? `${dm} ${hm}` : `${dm} ${date.getFullYear()}`;
}

/** A long name cut to `max` characters in the middle ("drift deploy…predictions"). */
export function shortName(name: string, max = 28): string {
  if (name.length <= max) {
    return name;
  }
  const head = Math.ceil((max - 1) * 0.6);
  return name.slice(0, head).trimEnd() + '…' + name.slice(name.length - (max - 1 - head)).trimStart();
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) {
    return '';
  }
  if (seconds < 60) {
    return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  }
  const minutes = Math.floor(seconds / 60);
  return minutes < 60
    ? `${minutes} min ${Math.round(seconds % 60)} s`
    : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export interface IColumn<T> {
  title: string;
  cell: (row: T) => React.ReactNode;
}

/** A read-only table with a header; rows carry `testId` when given. */
export function Table<T>(props: {
  columns: IColumn<T>[];
  rows: T[];
  rowKey: (row: T) => string;
  testId?: string;
  onRowClick?: (row: T) => void;
  /** More classes for the table (``nbmlops-fit``: columns share the width, text wraps). */
  className?: string;
}): JSX.Element {
  return (
    <table className={'nbmlops-table' + (props.className ? ` ${props.className}` : '')}>
      <thead>
        <tr>
          {props.columns.map(c => (
            <th key={c.title}>{c.title}</th>
          ))}
        </tr>
      </thead>
      <tbody>
        {props.rows.map(row => (
          <tr
            key={props.rowKey(row)}
            data-testid={props.testId}
            className={props.onRowClick ? 'nbmlops-clickable' : undefined}
            onClick={props.onRowClick ? () => props.onRowClick?.(row) : undefined}
          >
            {props.columns.map(c => (
              <td key={c.title}>{c.cell(row)}</td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function Pager(props: {
  total: number;
  /** False when the server stopped counting: at least `total` items match. */
  exact: boolean;
  limit: number;
  offset: number;
  onChange: (offset: number) => void;
}): JSX.Element {
  const { total, limit, offset } = props;
  const last = Math.min(offset + limit, total);
  const count = total.toLocaleString('en-US') + (props.exact ? '' : '+');
  return (
    <div className="nbmlops-pager">
      <button
        className="jp-Button jp-mod-styled"
        disabled={offset === 0}
        onClick={() => props.onChange(Math.max(0, offset - limit))}
      >
        ‹ Newer
      </button>
      <span data-testid="nbmlops-pager-text">
        {total === 0 ? '0' : `${offset + 1}–${last}`} of {count}
      </span>
      <button
        className="jp-Button jp-mod-styled"
        disabled={last >= total}
        onClick={() => props.onChange(offset + limit)}
      >
        Older ›
      </button>
    </div>
  );
}
