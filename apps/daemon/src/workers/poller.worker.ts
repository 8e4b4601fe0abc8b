import { Worker } from './worker';

/** Polls the API at a fixed interval (a status-check kind of job). */
export class PollerWorker extends Worker {
  async run(signal: AbortSignal): Promise<void> {
    await this.callApi(signal);
  }
}
