/**
 * The jobs the panel shows, read once for the sidebar's Jobs section and the Jobs tab alike:
 * every recorded job run (newest first) and every job exported in the project, grouped by job.
 */
import { ILoad, useLoad } from './common';
import { Schemas, apiGet } from './request';

export type JobRun = Schemas['JobRun'];

/** One job: where it lives, its runs (newest first) and its schedule when exported. */
export interface IJob {
  folder: string;
  runs: JobRun[];
  schedule: string | null;
}

export interface IJobs {
  /** job name → the job, in order of its newest run, then exported jobs never run */
  groups: Map<string, IJob>;
  /** job runs recorded in all and how many were read */
  total: number;
  read: number;
}

/** Job runs read at once (the newest). */
const LIMIT = 500;

async function readJobs(): Promise<IJobs> {
  const [runs, exported] = await Promise.all([
    apiGet('/nbmlops/api/job-runs', { query: { limit: LIMIT } }),
    apiGet('/nbmlops/api/jobs', { query: { limit: LIMIT } })
  ]);
  const groups = new Map<string, IJob>();
  for (const r of runs.items) {
    const g = groups.get(r.job) ?? { folder: r.job_dir, runs: [], schedule: null };
    g.runs.push(r);
    groups.set(r.job, g);
  }
  for (const j of exported.items) {
    const g = groups.get(j.job) ?? { folder: j.folder, runs: [], schedule: null };
    g.schedule = j.schedule;
    groups.set(j.job, g);
  }
  return { groups, total: runs.total, read: runs.items.length };
}

/** The jobs, read again every `pollMs` while the view shows. */
export function useJobs(pollMs: number): ILoad<IJobs> {
  return useLoad(readJobs, [], pollMs);
}
