import {
  CLIENT_CREDENTIALS_EVENT_PREFIX,
  type ClientCredentialsEvent,
  type ClientCredentialsEventType,
} from '../client-credentials.events';
import type { TokenEvents } from './token-events';

/**
 * The few methods of `@nestjs/event-emitter`'s `EventEmitter2` the bridge calls: the package is an
 * optional peer, and no type of it is named by the package's declarations.
 */
interface AppEventEmitter {
  emit(event: string, ...values: unknown[]): unknown;
  hasListeners(event?: string): boolean;
  /** The `onAny` listeners, which `hasListeners` does not count under `wildcard: true`. */
  listenersAny?(): unknown[];
}

/** `@nestjs/event-emitter`'s `EventEmitterReadinessWatcher`: ready once `@OnEvent` handlers are. */
interface ReadinessWatcher {
  waitUntilReady(): Promise<void>;
}

/** How the service finds the app's emitter: Nest's `ModuleRef`, as a structure. */
export interface ProviderLookup {
  get(token: unknown, options: { strict: false }): unknown;
}

/**
 * Events kept while the app's `@OnEvent` handlers are not registered yet (during `app.init()`):
 * the warm-up's, and its failures. Past it, the oldest are dropped — the warm-up's end comes last.
 */
export const EARLY_EVENTS_KEPT = 100;

/** The provider tokens of `@nestjs/event-emitter`, if the app has the package. */
function packageTokens(): { EventEmitter2?: unknown; EventEmitterReadinessWatcher?: unknown } {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional peer, loaded only if present
    return require('@nestjs/event-emitter') as {
      EventEmitter2?: unknown;
      EventEmitterReadinessWatcher?: unknown;
    };
  } catch {
    return {};
  }
}

/** The provider of `token`, or undefined when the app has none. */
function lookUp(providers: ProviderLookup, token: unknown): unknown {
  if (token === undefined) return undefined;
  try {
    return providers.get(token, { strict: false });
  } catch {
    return undefined;
  }
}

/**
 * Forwards the service's events to the app's `@nestjs/event-emitter` (when the package is
 * installed and `EventEmitterModule.forRoot()` imported) as `client-credentials.<type>`, so that
 * `@OnEvent('client-credentials.refresh')` handlers get them. An event is built and emitted only
 * while the emitter has a listener for its name (`hasListeners`, wildcards included) or an `onAny`
 * listener. Until the package's subscribers loader has registered the `@OnEvent` handlers (its
 * `onApplicationBootstrap`, which may run after the service's: module order decides), events are
 * kept — at most {@link EARLY_EVENTS_KEPT} — and handed on in order once it has.
 * Returns what disconnects it, or undefined when the app has no emitter.
 */
export function bridgeEventEmitter(
  providers: ProviderLookup | undefined,
  events: TokenEvents,
): (() => void) | undefined {
  if (providers === undefined) return undefined;
  const tokens = packageTokens();
  // Undefined when the package is missing or the app does not import EventEmitterModule.
  const emitter = lookUp(providers, tokens.EventEmitter2) as AppEventEmitter | undefined;
  if (typeof emitter?.emit !== 'function' || typeof emitter.hasListeners !== 'function') {
    return undefined;
  }
  const name = (type: ClientCredentialsEventType) => `${CLIENT_CREDENTIALS_EVENT_PREFIX}${type}`;
  const heard = (type: ClientCredentialsEventType) =>
    emitter.hasListeners(name(type)) || (emitter.listenersAny?.().length ?? 0) > 0;
  const deliver = (event: ClientCredentialsEvent) => void emitter.emit(name(event.type), event);

  const watcher = lookUp(providers, tokens.EventEmitterReadinessWatcher) as
    Partial<ReadinessWatcher> | undefined;
  // Without a watcher (an older package), handlers are assumed registered.
  let early: ClientCredentialsEvent[] | undefined =
    typeof watcher?.waitUntilReady === 'function' ? [] : undefined;
  let connected = true;
  if (early !== undefined) {
    const settle = (ready: boolean) => {
      const kept = early ?? [];
      early = undefined;
      if (!ready || !connected) return;
      for (const event of kept) {
        try {
          if (heard(event.type)) deliver(event);
        } catch (e) {
          // A handler that throws (`suppressErrors: false`) is reported as in the token path.
          events.onListenerError(e);
        }
      }
    };
    watcher!.waitUntilReady!().then(
      () => settle(true),
      // The loader failed: the app's init fails with its error; nothing is delivered.
      () => settle(false),
    );
  }
  const stopListening = events.listen({
    // Before the handlers are registered, whether one will listen is not known yet.
    wants: (type) => early !== undefined || heard(type),
    next: (event) => {
      if (early === undefined) return deliver(event);
      early.push(event);
      if (early.length > EARLY_EVENTS_KEPT) early.shift();
    },
  });
  return () => {
    connected = false;
    early = undefined;
    stopListening();
  };
}
