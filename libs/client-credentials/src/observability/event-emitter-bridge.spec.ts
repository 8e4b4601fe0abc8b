import { EventEmitter2 } from '@nestjs/event-emitter';
import type { ClientCredentialsEvent } from '../client-credentials.events';
import { bridgeEventEmitter } from './event-emitter-bridge';
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
});
