import { EventEmitter2, EventEmitterReadinessWatcher } from '@nestjs/event-emitter';
import type { ClientCredentialsEvent } from '../client-credentials.events';
import { bridgeEventEmitter, EARLY_EVENTS_KEPT } from './event-emitter-bridge';
import { TokenEvents } from './token-events';

const failure: ClientCredentialsEvent = {
  type: 'failure',
  at: new Date(0),
  credential: 'api',
  tenantId: 't',
  scopes: ['api://x/.default'],
  error: { code: 'timeout', message: 'slow', transient: true },
};

describe('the @nestjs/event-emitter bridge', () => {
  it('connects nothing without the app’s emitter', () => {
    const events = new TokenEvents();
    expect(bridgeEventEmitter(undefined, events)).toBeUndefined();
    const none = {
      get: () => {
        throw new Error('Nest could not find EventEmitter2 element');
      },
    };
    expect(bridgeEventEmitter(none, events)).toBeUndefined();
    expect(events.wants('failure')).toBe(false);
  });

  it('wants an event only while the emitter has a listener for its name, wildcards included', () => {
    const emitter = new EventEmitter2({ wildcard: true });
    const events = new TokenEvents();
    const disconnect = bridgeEventEmitter({ get: () => emitter }, events)!;
    expect(events.wants('failure')).toBe(false);

    const heard: unknown[] = [];
    emitter.on('client-credentials.failure', (e: unknown) => heard.push(e));
    expect(events.wants('failure')).toBe(true);
    expect(events.wants('refresh')).toBe(false);
    events.emit(failure);
    expect(heard).toEqual([failure]);

    emitter.on('client-credentials.*', () => undefined);
    expect(events.wants('refresh')).toBe(true);
    disconnect();
    expect(events.wants('failure')).toBe(false);
  });

  it('a listener that throws is reported; the others still get the event', () => {
    const emitter = new EventEmitter2();
    const events = new TokenEvents();
    const reported: unknown[] = [];
    events.onListenerError = (e) => reported.push(e);
    emitter.on('client-credentials.failure', () => {
      throw new Error('handler bug');
    });
    bridgeEventEmitter({ get: () => emitter }, events);
    const heard: unknown[] = [];
    events.listen({ wants: () => true, next: (e) => heard.push(e) });

    expect(() => events.emit(failure)).not.toThrow();
    expect(reported).toEqual([new Error('handler bug')]);
    expect(heard).toEqual([failure]);
  });

  it('counts onAny listeners under wildcard: true (hasListeners does not)', () => {
    const emitter = new EventEmitter2({ wildcard: true });
    const events = new TokenEvents();
    bridgeEventEmitter({ get: () => emitter }, events);
    const heard: unknown[] = [];
    emitter.onAny((name: string | string[], e: unknown) => heard.push([name, e]));
    expect(events.wants('failure')).toBe(true);
    events.emit(failure);
    expect(heard).toEqual([['client-credentials.failure', failure]]);
  });

  describe('before the @OnEvent handlers are registered', () => {
    /** An app's emitter and readiness watcher, as EventEmitterModule provides them. */
    function app() {
      const emitter = new EventEmitter2({ wildcard: true });
      const watcher = new EventEmitterReadinessWatcher();
      const providers = {
        get: (token: unknown) => (token === EventEmitterReadinessWatcher ? watcher : emitter),
      };
      const events = new TokenEvents();
      const reported: unknown[] = [];
      events.onListenerError = (e) => reported.push(e);
      return {
        emitter,
        watcher,
        events,
        reported,
        disconnect: bridgeEventEmitter(providers, events)!,
      };
    }
    const numbered = (n: number): ClientCredentialsEvent => ({ ...failure, tenantId: `t${n}` });
    const flush = () => new Promise((resolve) => setImmediate(resolve));

    it('keeps the events, then hands them on in order to the handlers registered by then', async () => {
      const { emitter, watcher, events } = app();
      expect(events.wants('warm-up')).toBe(true);
      events.emit(numbered(1));
      events.emit(numbered(2));
      const heard: string[] = [];
      emitter.on('client-credentials.failure', (e: ClientCredentialsEvent) =>
        heard.push((e as { tenantId: string }).tenantId),
      );
      expect(heard).toEqual([]);

      watcher.setReady();
      await flush();
      expect(heard).toEqual(['t1', 't2']);
      // Ready: as before, wanted only while a handler listens.
      events.emit(numbered(3));
      expect(heard).toEqual(['t1', 't2', 't3']);
      expect(events.wants('refresh')).toBe(false);
    });

    it(`keeps the last ${EARLY_EVENTS_KEPT}; none after a disconnect; a throwing handler is reported`, async () => {
      const kept = app();
      const heard: string[] = [];
      kept.emitter.on('client-credentials.failure', (e: ClientCredentialsEvent) => {
        heard.push((e as { tenantId: string }).tenantId);
        if (heard.length === 1) throw new Error('handler bug');
      });
      for (let i = 1; i <= EARLY_EVENTS_KEPT + 5; i++) kept.events.emit(numbered(i));
      kept.watcher.setReady();
      await flush();
      expect(heard.length).toBe(EARLY_EVENTS_KEPT);
      expect([heard[0], heard.at(-1)]).toEqual(['t6', `t${EARLY_EVENTS_KEPT + 5}`]);
      expect(kept.reported).toEqual([new Error('handler bug')]);

      const closed = app();
      let count = 0;
      closed.emitter.on('client-credentials.failure', () => count++);
      closed.events.emit(failure);
      closed.disconnect();
      closed.watcher.setReady();
      await flush();
      expect(count).toBe(0);
    });
  });
});
