import { Worker } from './worker';

/** Pulls the API's data on a cron schedule (a nightly-sync kind of job). */
export class SyncWorker extends Worker {
  async run(signal: AbortSignal): Promise<void> {
    const body = (await this.callApi(signal)) as { data?: unknown[] };
    const count = Array.isArray(body?.data) ? body.data.length : 0;
    this.deps.logger.debug?.(`${this.name}: synced ${count} items`);
  }
}
