import {
  CLIENT_CREDENTIALS_EVENT_PREFIX,
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
}

/** How the service finds the app's emitter: Nest's `ModuleRef`, as a structure. */
export interface ProviderLookup {
  get(token: unknown, options: { strict: false }): unknown;
}

/** `@nestjs/event-emitter`'s `EventEmitter2` class (its provider token), if the app has the package. */
function emitterToken(): unknown {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional peer, loaded only if present
    return (require('@nestjs/event-emitter') as { EventEmitter2?: unknown }).EventEmitter2;
  } catch {
    return undefined;
  }
}

/**
 * Forwards the service's events to the app's `@nestjs/event-emitter` (when the package is
 * installed and `EventEmitterModule.forRoot()` imported) as `client-credentials.<type>`, so that
 * `@OnEvent('client-credentials.refresh')` handlers get them. An event is built and emitted only
 * while the emitter has a listener for its name (`hasListeners`, wildcards and `onAny` included).
 * Returns what disconnects it, or undefined when the app has no emitter.
 */
export function bridgeEventEmitter(
  providers: ProviderLookup | undefined,
  events: TokenEvents,
): (() => void) | undefined {
  const token = emitterToken();
  if (providers === undefined || token === undefined) return undefined;
  let emitter: AppEventEmitter;
  try {
    emitter = providers.get(token, { strict: false }) as AppEventEmitter;
  } catch {
    // The package is installed, but the app does not import EventEmitterModule.
    return undefined;
  }
  if (typeof emitter?.emit !== 'function' || typeof emitter.hasListeners !== 'function') {
    return undefined;
  }
  const name = (type: ClientCredentialsEventType) => `${CLIENT_CREDENTIALS_EVENT_PREFIX}${type}`;
  return events.listen({
    wants: (type) => emitter.hasListeners(name(type)),
    next: (event) => void emitter.emit(name(event.type), event),
  });
}
