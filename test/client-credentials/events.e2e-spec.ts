import { Injectable, Module, type DynamicModule } from '@nestjs/common';
import { EventEmitter2, EventEmitterModule, OnEvent } from '@nestjs/event-emitter';
import { Test } from '@nestjs/testing';
import type { Subscription } from 'rxjs';
import { startDevAuthority } from '@app/dev-authority';
import {
  ClientCredentialsModule,
  type ClientCredentialsEvent,
  type SourceSkippedEvent,
  type TokenFailureEvent,
  type TokenRefreshEvent,
  type TokenRefusedEvent,
} from '@app/client-credentials';
import { CapturingLogger } from '../support/capturing-logger';
import { useFixtures } from '../support/fixtures';
import { localCredential, startTokenApp, type TokenApp } from '../support/token-app';
import { eventually } from '../support/waiting';

/** Every string reachable from `value`, with its path: what a serialiser or a debugger would see. */
function strings(value: unknown, path = '$', seen = new Set<object>()): [string, string][] {
  if (typeof value === 'string') return [[path, value]];
  if (typeof value !== 'object' || value === null || seen.has(value)) return [];
  seen.add(value);
  const keys = [...Object.getOwnPropertyNames(value), ...Object.getOwnPropertySymbols(value)];
  return keys.flatMap((k) => {
    const child = (value as Record<PropertyKey, unknown>)[k];
    return strings(child, `${path}.${String(k)}`, seen);
  });
}

/** A JWT (tokens and client assertions alike): base64url of `{"`, a dot, more base64url. */
const JWT = /eyJ[\w-]{5,}\.[\w-]{5,}/;

const [authority] = useFixtures(startDevAuthority);

/**
 * The events a Nest app subscribes to, from a real app against the local authority through msal:
 * the outcome of background refreshes, failed acquisitions, skipped sources and refused tokens —
 * through `TokenService.events` and through `@nestjs/event-emitter`. Counted, never timed; and no
 * event carries a token, a secret or an assertion.
 */
describe('TokenService.events', () => {
  let app: TokenApp | undefined;
  let subscription: Subscription | undefined;
  /** Every event any test saw, and every secret and token it handed out, for the walk at the end. */
  const everyEvent: ClientCredentialsEvent[] = [];
  const secrets: string[] = [];

  afterEach(async () => {
    subscription?.unsubscribe();
    authority.faults.clear();
    await app?.close();
    app = undefined;
  });

  /** Starts an app whose events are collected (subscribed before `app.init()` returns any token). */
  async function start(options: Parameters<typeof startTokenApp>[0], imports?: DynamicModule[]) {
    app = await startTokenApp(options, imports);
    const seen: ClientCredentialsEvent[] = [];
    subscription = app.tokens.events.subscribe((e) => {
      seen.push(e);
      everyEvent.push(e);
    });
    return { tokens: app.tokens, seen };
  }

  it('a background refresh that fails, then works: one event per attempt, with its outcome', async () => {
    const tenant = authority.createTenant();
    authority.setAccessTokenLifetime(8, { tenantId: tenant.tenantId, refreshInSeconds: 1 });
    const reg = tenant.createApp();
    const secret = reg.addSecret();
    secrets.push(secret);
    const { tokens, seen } = await start({
      credentials: {
        api: localCredential(authority, tenant.tenantId, reg.clientId, [
          { type: 'secret', secret },
        ]),
      },
      refresh: { jitter: 0, expirySkewSeconds: 1 },
      retry: { maxAttempts: 1, initialDelayMs: 100, maxDelayMs: 200 },
    });
    secrets.push((await tokens.getAccessToken(authority.apiScope)).token);
    await tokens.getAccessToken(authority.apiScope); // in use: refreshed at its refresh point
    authority.faults.add({ tenantId: tenant.tenantId, kind: 'status', status: 503, times: 1 });

    const refreshes = () => seen.filter((e): e is TokenRefreshEvent => e.type === 'refresh');
    await eventually(() => refreshes().length === 2);

    const [failed, refreshed] = refreshes();
    expect(failed).toMatchObject({
      credential: 'api',
      tenantId: tenant.tenantId,
      scopes: [authority.apiScope],
      outcome: 'failed',
      previousFailures: 0,
      error: { code: 'endpoint_unavailable', aadsts: 90006, transient: true },
      willRetry: true,
    });
    expect(failed.retryAt!.getTime()).toBeLessThan(failed.servedUntil!.getTime());
    expect(refreshed).toMatchObject({ outcome: 'refreshed', previousFailures: 1 });
    expect(refreshed.error).toBeUndefined();
    // What the authority saw: the first token, the 503, the refreshed token.
    expect(authority.countTokenRequests({ clientId: reg.clientId })).toBe(3);
    expect(authority.countTokenRequests({ clientId: reg.clientId, outcome: 'ok' })).toBe(2);
    expect(tokens.getStats().refreshes).toBe(1);
    secrets.push((await tokens.getAccessToken(authority.apiScope)).token);
    // A background refresh is no caller's failure.
    expect(seen.filter((e) => e.type === 'failure')).toEqual([]);
  });

  it('a failed acquisition, a skipped source and a refused token, each once', async () => {
    const tenant = authority.createTenant();
    const reg = tenant.createApp();
    const secret = reg.addSecret();
    secrets.push(secret, 'wrong-secret-value');
    const { tokens, seen } = await start({
      credentials: {
        chain: localCredential(authority, tenant.tenantId, reg.clientId, [
          { type: 'secret', secret: 'wrong-secret-value' },
          { type: 'secret', secret },
        ]),
        broken: localCredential(authority, tenant.tenantId, reg.clientId, [
          { type: 'secret', secret: 'wrong-secret-value' },
        ]),
      },
      defaultCredential: 'chain',
      retry: { maxAttempts: 1 },
    });

    const token = await tokens.getAccessToken(authority.apiScope);
    const callers = await Promise.allSettled(
      [1, 2, 3].map(() => tokens.getAccessToken(authority.apiScope, { credential: 'broken' })),
    );
    expect(callers.map((c) => c.status)).toEqual(['rejected', 'rejected', 'rejected']);
    const replacement = await tokens.replaceRefusedToken(authority.apiScope, token.token);

    const skipped = seen.filter((e): e is SourceSkippedEvent => e.type === 'source-skipped');
    expect(skipped).toHaveLength(1);
    expect(skipped[0]).toMatchObject({ credential: 'chain', source: 'secret#0', skips: 1 });
    expect(skipped[0].reason).toContain('AADSTS7000215');
    expect(skipped[0].until.getTime()).toBeGreaterThan(Date.now());

    // Three callers shared one flight: one failure.
    const failures = seen.filter((e): e is TokenFailureEvent => e.type === 'failure');
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({
      credential: 'broken',
      tenantId: tenant.tenantId,
      error: { code: 'credential_rejected', aadsts: 7000215, transient: false },
    });
    expect(failures[0].coolDownUntil).toBeInstanceOf(Date);

    const refused = seen.filter((e): e is TokenRefusedEvent => e.type === 'token-refused');
    expect(refused).toEqual([
      expect.objectContaining({ credential: 'chain', by: 'api', heldOff: false }),
    ]);
    expect(replacement?.token).not.toBe(token.token);
    for (const e of seen) expect(Object.isFrozen(e)).toBe(true);
    secrets.push(token.token, replacement!.token);
  });

  it('reaches @OnEvent handlers through @nestjs/event-emitter, as client-credentials.<type>', async () => {
    const heard: [string, ClientCredentialsEvent][] = [];

    @Injectable()
    class Listener {
      @OnEvent('client-credentials.failure')
      failure(e: ClientCredentialsEvent) {
        heard.push(['failure', e]);
      }
      @OnEvent('client-credentials.*')
      any(e: ClientCredentialsEvent) {
        heard.push(['any', e]);
      }
    }
    @Module({ providers: [Listener] })
    class ListenerModule {}

    const tenant = authority.createTenant();
    const reg = tenant.createApp();
    app = await startTokenApp(
      {
        credentials: {
          broken: localCredential(authority, tenant.tenantId, reg.clientId, [
            { type: 'secret', secret: 'wrong-secret-value' },
          ]),
        },
        retry: { maxAttempts: 1 },
      },
      [EventEmitterModule.forRoot({ wildcard: true }), { module: ListenerModule }],
    );
    await expect(app.tokens.getAccessToken(authority.apiScope)).rejects.toMatchObject({
      code: 'credential_rejected',
    });

    expect(heard.map(([handler, e]) => [handler, e.type])).toEqual([
      ['failure', 'failure'],
      ['any', 'failure'],
    ]);
    expect(heard[0][1]).toBe(heard[1][1]);
    everyEvent.push(heard[0][1]);
  });

  it.each(['before', 'after'])(
    'events of app.init() (the warm-up) reach @OnEvent and onAny handlers, EventEmitterModule imported %s the module',
    async (order) => {
      const heard: string[] = [];

      @Injectable()
      class Listener {
        constructor(emitter: EventEmitter2) {
          emitter.onAny((name: string | string[]) => heard.push(`any ${String(name)}`));
        }
        @OnEvent('client-credentials.warm-up')
        warmUp(e: ClientCredentialsEvent) {
          heard.push(`@OnEvent ${e.type} ${(e as { outcome: string }).outcome}`);
        }
      }
      @Module({ providers: [Listener] })
      class ListenerModule {}

      const tenant = authority.createTenant();
      const reg = tenant.createApp();
      // Global, as EventEmitterModule: Nest then runs their bootstrap hooks in import order.
      const tokens = ClientCredentialsModule.forRoot({
        isGlobal: true,
        logger: new CapturingLogger(),
        credentials: {
          api: localCredential(authority, tenant.tenantId, reg.clientId, [
            { type: 'secret', secret: reg.addSecret() },
          ]),
        },
        warmUp: { tokens: [{ scopes: authority.apiScope }] },
      });
      const emitter = EventEmitterModule.forRoot({ wildcard: true });
      const moduleRef = await Test.createTestingModule({
        imports:
          order === 'before'
            ? [emitter, { module: ListenerModule }, tokens]
            : [tokens, emitter, { module: ListenerModule }],
      }).compile();
      await moduleRef.init();
      try {
        await eventually(() => heard.length === 2);
        expect(heard.sort()).toEqual([
          '@OnEvent warm-up completed',
          'any client-credentials.warm-up',
        ]);
        expect(authority.countTokenRequests({ clientId: reg.clientId })).toBe(1);
      } finally {
        await moduleRef.close();
      }
    },
  );

  it('no event carries a token, a secret or an assertion', () => {
    expect(everyEvent.length).toBeGreaterThan(5);
    const found = everyEvent.flatMap((e) => strings(e));
    expect(found.length).toBeGreaterThan(20);
    for (const [path, text] of found) {
      expect([path, JWT.test(text)]).toEqual([path, false]);
      for (const secret of secrets) expect([path, text.includes(secret)]).toEqual([path, false]);
    }
  });
});
