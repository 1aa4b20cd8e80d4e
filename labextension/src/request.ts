/**
 * The one typed request helper for the nbmlops REST API (`/nbmlops/api/...`).
 *
 * Paths, query parameters, bodies and answers are all typed from `api-types.ts`, which is
 * generated from `docs/server-api.openapi.json` (itself generated from the server's payload
 * models): a payload change on the server that the panel does not follow fails `tsc`.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import type { components, paths } from './api-types';

export type Schemas = components['schemas'];

type JsonOf<T> = T extends { content: { 'application/json': infer R } } ? R : never;
type Ok<Op> = Op extends { responses: { 200: infer R } } ? JsonOf<R> : never;
type QueryOf<Op> = Op extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never;
type PathOf<Op> = Op extends { parameters: { path: infer P } } ? P : Record<string, never>;
type BodyOf<Op> = Op extends { requestBody: infer B } ? JsonOf<B> : never;

export type GetPath = { [P in keyof paths]: paths[P] extends { get: object } ? P : never }[keyof paths];
type PostPath = {
  [P in keyof paths]: paths[P] extends { post: object } ? P : never;
}[keyof paths];
type Get<P extends GetPath> = paths[P] extends { get: infer Op } ? Op : never;
/** What a GET of `P` answers. */
export type Answer<P extends GetPath> = Ok<Get<P>>;
type Post<P extends PostPath> = paths[P] extends { post: infer Op } ? Op : never;

/** An answer other than 2xx: the server's `{"error": message}`, or what went wrong on the way. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number
  ) {
    super(message);
  }
}

function url(path: string, pathParams: Record<string, string | number>, query: object): string {
  const filled = path.replace(/\{(\w+)\}/g, (_, key: string) =>
    encodeURIComponent(String(pathParams[key]))
  );
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') {
      search.set(key, String(value));
    }
  }
  const settings = ServerConnection.makeSettings();
  const qs = search.toString();
  return URLExt.join(settings.baseUrl, filled) + (qs ? `?${qs}` : '');
}

async function send<T>(target: string, init: RequestInit): Promise<T> {
  const settings = ServerConnection.makeSettings();
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(target, init, settings);
  } catch (error) {
    throw new ApiError(`the Jupyter server cannot be reached: ${String(error)}`, 0);
  }
  const text = await response.text();
  let data: unknown = undefined;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: fall through to the status check
  }
  if (!response.ok) {
    const message =
      data && typeof data === 'object' && 'error' in data
        ? String((data as Schemas['Error']).error)
        : `${response.status} ${response.statusText}`.trim() +
          (response.status === 404 ? ' (is the nbmlops server extension enabled?)' : '');
    throw new ApiError(message, response.status);
  }
  return data as T;
}

export interface IGetOptions<P extends GetPath> {
  path?: PathOf<Get<P>>;
  query?: QueryOf<Get<P>>;
  /** Keep the answer, for a view opened later to show first (see `heldAnswer`). */
  hold?: boolean;
}

/** How long an answer asked for early waits for the view that will ask for it. */
const EARLY_MS = 2000;
/** Requests sent before their view asked (see `askEarly`), by URL. */
const early = new Map<string, { at: number; answer: Promise<unknown> }>();

function getUrl<P extends GetPath>(path: P, options: IGetOptions<P>): string {
  return url(path, (options.path ?? {}) as Record<string, string | number>, options.query ?? {});
}

/**
 * How old a held answer may be and still be shown first. A view that shows one asks again
 * at once (its refresh is under way as it mounts), so the held rows are on screen only for
 * the time of that one request, with the view saying it is refreshing.
 */
export const HOLD_MS = 60_000;
/** The last answer to each request asked with `hold`, by URL, and when it came. */
const held = new Map<string, { at: number; data: unknown }>();

function sendGet<T>(target: string, hold: boolean | undefined): Promise<T> {
  const sent = performance.now();
  const answer = send<T>(target, { method: 'GET' });
  if (hold) {
    // aged from when it was asked; an older request answering late does not replace it
    const keep = (data: unknown) => {
      const before = held.get(target);
      if (!before || before.at <= sent) {
        held.set(target, { at: sent, data });
      }
    };
    answer.then(keep, () => void held.delete(target)); // an error is not shown as rows
  }
  return answer;
}

/** GET one of the API's routes (the answer to the same request asked early, if any). */
export function apiGet<P extends GetPath>(
  path: P,
  options: IGetOptions<P> = {}
): Promise<Ok<Get<P>>> {
  const target = getUrl(path, options);
  const asked = early.get(target);
  if (asked) {
    early.delete(target);
    if (performance.now() - asked.at < EARLY_MS) {
      return asked.answer as Promise<Ok<Get<P>>>;
    }
  }
  return sendGet(target, options.hold);
}

/**
 * The last answer to this request (asked with `hold`, by any view: the sidebar's runs for
 * the Runs tab, a closed tab's for the next), when it is younger than `HOLD_MS`; else null.
 * A view may draw it at once while its own request, sent as it mounts, brings the current one.
 */
export function heldAnswer<P extends GetPath>(
  path: P,
  options: IGetOptions<P> = {}
): Ok<Get<P>> | null {
  const found = held.get(getUrl(path, options));
  return found && performance.now() - found.at < HOLD_MS ? (found.data as Ok<Get<P>>) : null;
}

/**
 * Send a GET now that a view about to be drawn will send: the moment a tab or the sidebar
 * is opened, rather than after the widget is attached, React has rendered and its effects
 * have run (40-200 ms on a busy machine). The view's own `apiGet` of the same request, if
 * it comes within two seconds, takes this answer instead of asking again.
 */
export function askEarly<P extends GetPath>(path: P, options: IGetOptions<P> = {}): void {
  if (heldAnswer(path, options) !== null) {
    return; // the view is drawn with the held answer and asks again once that is shown
  }
  const target = getUrl(path, options);
  const now = performance.now();
  for (const [key, asked] of early) {
    if (now - asked.at >= EARLY_MS) {
      early.delete(key);
    }
  }
  if (!early.has(target)) {
    const answer = sendGet(target, options.hold);
    answer.catch(() => undefined); // the view's own request reports a failure
    early.set(target, { at: now, answer });
  }
}

/** POST a JSON body to one of the API's routes. */
export function apiPost<P extends PostPath>(
  path: P,
  pathParams: PathOf<Post<P>>,
  body: BodyOf<Post<P>>
): Promise<Ok<Post<P>>> {
  const target = url(path, pathParams as Record<string, string | number>, {});
  return send(target, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json' }
  });
}
