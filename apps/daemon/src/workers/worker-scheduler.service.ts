import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  Optional,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Subscription } from 'rxjs';
import { SchedulerRegistry } from '@nestjs/schedule';
import { CronJob } from 'cron';
import { ClientCredentialsError, TokenService } from '@app/client-credentials';
import { DownstreamApis } from '@app/client-credentials/downstream-api';
import { DAEMON_CONFIG, type DaemonConfiguration } from '../config/daemon.config';
import * as m from '../config/config.messages';
import { DaemonConfigError } from '../config/load-config';
import type { WorkerConfig } from '../config/daemon-config.schema';
import { setSafeInterval, setSafeTimeout } from '../timing/safe-timers';
import { PollerWorker } from './poller.worker';
import { SyncWorker } from './sync.worker';
import { AgentsWorker } from './agents.worker';
import { workerCallProblems } from './check-workers';
import { TenantSweepWorker } from './tenant-sweep.worker';
import type { Worker, WorkerDeps } from './worker';

const WORKER_CLASSES = {
  sync: SyncWorker,
  poller: PollerWorker,
  'tenant-sweep': TenantSweepWorker,
  agents: AgentsWorker,
} satisfies Record<
  WorkerConfig['type'],
  new (...args: ConstructorParameters<typeof SyncWorker>) => Worker
>;

/** What a worker did so far, for `/health/live`. */
export interface WorkerStatus {
  credential: string;
  schedule: string;
  running: boolean;
  runs: number;
  failures: number;
  /** Ticks skipped because the previous run was still going. */
  skipped: number;
  lastRunAt?: string;
  lastOutcome?: 'ok' | 'failed';
  lastError?: { code?: string; message: string };
}

/**
 * Creates the configured workers and schedules them through `SchedulerRegistry`: a tick while
 * the worker's previous run is still going is skipped; a failed run is logged with its error
 * code and hint; shutdown waits (up to `shutdownTimeoutSeconds`) for running jobs, then aborts them.
 */
@Injectable()
export class WorkerScheduler implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Workers');
  private readonly workers: Worker[] = [];
  private readonly running = new Map<string, Promise<void>>();
  /** Workers whose current run has had a tick skipped, and a warning logged for it. */
  private readonly warned = new Set<string>();
  private readonly status = new Map<string, WorkerStatus>();
  private readonly abort = new AbortController();
  private stopping = false;
  private waitingForHealth?: Subscription;

  /**
   * `http`: the app's HTTP server (the health endpoints); the workers start once it listens.
   * Without one (a unit spec), at bootstrap.
   */
  constructor(
    @Inject(DAEMON_CONFIG) private readonly config: DaemonConfiguration,
    private readonly registry: SchedulerRegistry,
    apis: DownstreamApis,
    private readonly tokens: TokenService,
    @Optional() private readonly http?: HttpAdapterHost,
  ) {
    for (const [name, w] of Object.entries(config.workers)) {
      // Each worker calls the downstream API its configuration names (the loader filled it in).
      const deps: WorkerDeps = { api: apis.get(w.api ?? ''), logger: this.logger };
      if (w.enabled) this.workers.push(new WORKER_CLASSES[w.type](name, w, deps));
    }
  }

  /** Names of the credentials the enabled workers use. */
  get credentialsInUse(): string[] {
    return [...new Set(this.workers.map((w) => w.config.credential))];
  }

  /**
   * Checks every worker's calls against the loaded credentials (each agent of an `agents` worker
   * included), then schedules the enabled workers once the health server listens: a daemon whose
   * health port is taken stops before any worker runs (`app.listen` bootstraps the app first).
   * @throws DaemonConfigError `workers.<name>.agents[i]: …` before any worker runs
   */
  onApplicationBootstrap(): void {
    const problems = workerCallProblems(this.config, this.tokens);
    if (problems.length > 0) {
      throw new DaemonConfigError(
        m.invalidConfig('workers, checked against the credentials', problems),
      );
    }
    if (this.http === undefined || this.http.listening) return this.schedule();
    this.waitingForHealth = this.http.listen$.subscribe(() => {
      this.waitingForHealth?.unsubscribe();
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.stopping) return;
    for (const w of this.workers) {
      const { cron, intervalSeconds, credential, runAtStart } = w.config;
      let schedule: string;
      if (cron !== undefined) {
        schedule = `cron '${cron}'`;
        const job = CronJob.from({ cronTime: cron, onTick: () => this.tick(w), start: true });
        this.registry.addCronJob(w.name, job);
      } else {
        schedule = `every ${intervalSeconds} s`;
        this.registry.addInterval(
          w.name,
          setSafeInterval(() => this.tick(w), intervalSeconds! * 1000),
        );
      }
      this.status.set(w.name, {
        credential,
        schedule,
        running: false,
        runs: 0,
        failures: 0,
        skipped: 0,
      });
      this.logger.log(
        `${w.name} (${w.config.type}): ${schedule}, API ${w.config.api}, credential ${credential}`,
      );
      if (runAtStart) this.tick(w);
    }
  }

  /** Status of every worker. */
  snapshot(): Record<string, WorkerStatus> {
    return Object.fromEntries([...this.status].map(([k, v]) => [k, { ...v }]));
  }

  /** Starts a run unless the previous one is still going or the daemon is stopping. */
  private tick(w: Worker): void {
    if (this.stopping) return;
    const status = this.status.get(w.name)!;
    if (this.running.has(w.name)) {
      status.skipped++;
      // Once per overrunning run: a short interval would otherwise log a line per tick.
      if (!this.warned.has(w.name)) {
        this.warned.add(w.name);
        this.logger.warn(
          `${w.name}: previous run still going; its ticks are skipped until it ends (counted as 'skipped' in /health/live)`,
        );
      }
      return;
    }
    status.running = true;
    status.lastRunAt = new Date().toISOString();
    const run = w
      .run(this.abort.signal)
      .then(
        () => {
          status.runs++;
          status.lastOutcome = 'ok';
          status.lastError = undefined;
        },
        (e: unknown) => {
          status.runs++;
          status.failures++;
          status.lastOutcome = 'failed';
          status.lastError = this.logFailure(w, e);
        },
      )
      .finally(() => {
        status.running = false;
        this.running.delete(w.name);
        this.warned.delete(w.name);
      });
    this.running.set(w.name, run);
  }

  private logFailure(w: Worker, e: unknown): { code?: string; message: string } {
    if (this.abort.signal.aborted) {
      this.logger.warn(`${w.name}: run aborted by shutdown`);
      return { code: 'aborted', message: 'aborted by shutdown' };
    }
    const errors = e instanceof AggregateError ? e.errors : [e];
    let first: { code?: string; message: string } | undefined;
    for (const err of errors) {
      const entry =
        err instanceof ClientCredentialsError
          ? { code: err.code, message: err.message }
          : { message: err instanceof Error ? err.message : String(err) };
      first ??= entry;
      if (err instanceof ClientCredentialsError) {
        const aadsts = err.aadsts === undefined ? '' : ` AADSTS${err.aadsts}`;
        const ids = err.correlationId === undefined ? '' : ` correlationId=${err.correlationId}`;
        this.logger.error(
          `${w.name}: run failed: ${err.code}${aadsts} (credential ${err.credential ?? w.config.credential}${err.tenantId ? `, tenant ${err.tenantId}` : ''}${err.agent ? `, agent ${err.agent}` : ''})${ids}: ${err.message.replace(` Hint: ${err.hint}`, '')} Hint: ${err.hint}`,
        );
      } else {
        this.logger.error(`${w.name}: run failed: ${entry.message}`);
      }
    }
    return first ?? { message: 'failed' };
  }

  /** Stops the schedules, waits for running jobs (bounded), then aborts what is left. */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.waitingForHealth?.unsubscribe();
    this.logger.log('stopping the schedules');
    for (const w of this.workers) {
      if (this.registry.doesExist('cron', w.name)) this.registry.deleteCronJob(w.name);
      if (this.registry.doesExist('interval', w.name)) this.registry.deleteInterval(w.name);
    }
    if (this.running.size === 0) return;
    const names = [...this.running.keys()].join(', ');
    this.logger.log(`waiting for running jobs: ${names}`);
    const limitMs = this.config.shutdownTimeoutSeconds * 1000;
    if (!(await settledWithin([...this.running.values()], limitMs))) {
      this.logger.warn(`jobs still running after ${limitMs} ms; aborting them`);
      this.abort.abort(new Error('the daemon is shutting down'));
      await settledWithin([...this.running.values()], 1000);
    }
  }
}

/** Whether every promise settled within `ms`. */
async function settledWithin(promises: Promise<unknown>[], ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setSafeTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([Promise.allSettled(promises).then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
