import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { TokenService } from '@app/client-credentials';
import { AppModule } from '../../apps/daemon/src/app.module';
import { startDevMode, type DevMode } from '../../apps/daemon/src/dev/dev-mode';
import { CapturingLogger } from '../support/capturing-logger';

/** One sample of the Prometheus text exposition format. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the text exposition format (version 0.0.4): `# HELP`/`# TYPE` lines and samples. */
function parseExposition(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ');
      types.set(name, type);
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]] = l[2].replace(/\\(.)/g, (_a, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return { samples, types };
}

/**
 * The daemon of `dev`'s configuration with these of its credentials and one worker that never
 * runs during a test (the calls counted are the test's own), listening on a free port.
 */
async function startDaemon(
  dev: DevMode,
  credentials: (base: Record<string, Record<string, unknown>>) => Record<string, unknown>,
): Promise<{ app: INestApplication; url: string }> {
  const base = parse(await readFile(dev.configFile, 'utf8')) as {
    credentials: Record<string, Record<string, unknown>>;
  };
  const config = {
    ...base,
    health: { host: '127.0.0.1', port: 0 },
    credentials: credentials(base.credentials),
    workers: {
      idle: { type: 'poller', cron: '0 0 0 1 1 *', runAtStart: false, credential: 'demo-secret' },
    },
  };
  const app = await NestFactory.create(AppModule.forRoot({ config, env: {} }), {
    logger: new CapturingLogger(),
    forceCloseConnections: true,
  });
  await app.listen(0, '127.0.0.1');
  return { app, url: (await app.getUrl()).replace('[::1]', '127.0.0.1') };
}

/**
 * The daemon's `/metrics`: scraped over HTTP after calls the test makes itself (the one worker never
 * runs), parsed as the exposition format, and compared with those calls and the authority's log.
 */
describe('daemon /metrics (e2e)', () => {
  let dir: string;
  let dev: DevMode;
  let app: INestApplication;
  let url: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'daemon-metrics-'));
    dev = await startDevMode(dir);
    ({ app, url } = await startDaemon(dev, (credentials) => ({
      'demo-secret': credentials['demo-secret'],
      'demo-certificate': credentials['demo-certificate'],
      broken: { ...credentials['demo-secret'], sources: [{ type: 'secret', secret: 'no' }] },
    })));
  });

  afterAll(async () => {
    await app?.close();
    await dev?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves hits, misses, requests by outcome, durations and expiries that match the calls made', async () => {
    const tokens = app.get(TokenService);
    const scope = dev.manifest.apiScope;
    for (let i = 0; i < 7; i++) await tokens.getAccessToken(scope, { credential: 'demo-secret' });
    await tokens.getAccessToken(scope, { credential: 'demo-certificate' });
    await expect(tokens.getAccessToken(scope, { credential: 'broken' })).rejects.toMatchObject({
      code: 'credential_rejected',
    });

    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    const { samples, types } = parseExposition(text);
    const value = (name: string, labels: Record<string, string>) => {
      const found = samples.filter(
        (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
      );
      return found.length === 0 ? undefined : found.reduce((sum, s) => sum + s.value, 0);
    };
    const secret = { credential: 'demo-secret' };

    expect(types.get('client_credentials_cache_hits_total')).toBe('counter');
    expect(value('client_credentials_cache_hits_total', secret)).toBe(6);
    expect(value('client_credentials_cache_misses_total', secret)).toBe(1);
    expect(value('client_credentials_token_requests_total', { ...secret, outcome: 'ok' })).toBe(1);
    expect(
      value('client_credentials_token_requests_total', {
        credential: 'broken',
        outcome: 'credential_rejected',
      }),
    ).toBe(1);
    // What the authority saw: the metrics count real requests, not calls.
    expect(dev.authority.countTokenRequests({ clientId: dev.manifest.apps.secret.clientId })).toBe(
      2,
    );
    expect(types.get('client_credentials_token_request_duration')).toBe('histogram');
    expect(
      value('client_credentials_token_request_duration_count', { ...secret, outcome: 'ok' }),
    ).toBe(1);
    expect(value('client_credentials_token_expires_in_seconds', secret)).toBeGreaterThan(60);
    expect(
      value('client_credentials_certificate_expires_in_seconds', {
        credential: 'demo-certificate',
      }),
    ).toBeGreaterThan(3600);
  });
});

describe('daemon /metrics beside an OpenTelemetry SDK registered first (e2e)', () => {
  it('answers 404 saying where the metrics go, and leaves that SDK registered at shutdown', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'daemon-metrics-other-'));
    const dev = await startDevMode(dir);
    const { metrics } = await import('@opentelemetry/api');
    const { MeterProvider } = await import('@opentelemetry/sdk-metrics');
    const other = new MeterProvider();
    expect(metrics.setGlobalMeterProvider(other)).toBe(true);
    let app: INestApplication | undefined;
    try {
      let url: string;
      ({ app, url } = await startDaemon(dev, (credentials) => ({
        'demo-secret': credentials['demo-secret'],
      })));
      const res = await fetch(`${url}/metrics`);
      expect(res.status).toBe(404);
      expect(await res.text()).toMatch(/app's own OpenTelemetry SDK/);
      await app.close();
      app = undefined;
      expect(metrics.getMeterProvider()).toBe(other);
    } finally {
      await app?.close();
      await other.shutdown();
      metrics.disable();
      await dev.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
