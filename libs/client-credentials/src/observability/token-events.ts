import { Observable } from 'rxjs';
import type {
  ClientCredentialsEvent,
  ClientCredentialsEventType,
  EventError,
} from '../client-credentials.events';
import type { ClientCredentialsError } from '../errors/client-credentials.errors';

/** One subscriber of the events: the service's observable, or the event-emitter bridge. */
export interface EventListener {
  /**
   * Whether it wants events of `type` now (the bridge: whether the app's emitter has a listener
   * for them). An event no listener wants is never built.
   */
  wants(type: ClientCredentialsEventType): boolean;
  next(event: ClientCredentialsEvent): void;
  /** The service shuts down: no more events. */
  complete?(): void;
}

/**
 * The events of one token service, handed to whoever listens. Emitting costs nothing while
 * nobody listens: the token path asks {@link wants} first and builds an event only then — never on
 * the cache-hit path, which emits nothing.
 */
export class TokenEvents {
  private readonly listeners = new Set<EventListener>();
  private closed = false;
  /** Told when a listener throws: the token path goes on whatever a listener does. */
  onListenerError: (error: unknown) => void = () => undefined;

  /** Whether any listener wants events of `type`: one size check while nobody listens. */
  wants(type: ClientCredentialsEventType): boolean {
    if (this.listeners.size === 0) return false;
    for (const listener of this.listeners) if (listener.wants(type)) return true;
    return false;
  }

  /** Hands `event` (frozen) to every listener that wants it; a listener that throws is reported. */
  emit(event: ClientCredentialsEvent): void {
    Object.freeze(event);
    for (const listener of [...this.listeners]) {
      try {
        if (listener.wants(event.type)) listener.next(event);
      } catch (e) {
        this.onListenerError(e);
      }
    }
  }

  /**
   * Adds a listener; returns what removes it. After {@link close} the listener is completed at
   * once and not kept: a subscription after shutdown ends rather than waiting forever.
   */
  listen(listener: EventListener): () => void {
    if (this.closed) {
      this.complete(listener);
      return () => undefined;
    }
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** Completes every listener (the service shuts down) and forgets them. */
  close(): void {
    this.closed = true;
    const listeners = [...this.listeners];
    this.listeners.clear();
    for (const listener of listeners) this.complete(listener);
  }

  private complete(listener: EventListener): void {
    try {
      listener.complete?.();
    } catch (e) {
      this.onListenerError(e);
    }
  }
}

/**
 * The events as the service's hot observable: a subscriber sees those emitted while it subscribes;
 * it completes when the service shuts down.
 */
export function observableOf(events: TokenEvents): Observable<ClientCredentialsEvent> {
  return new Observable<ClientCredentialsEvent>((subscriber) =>
    events.listen({
      wants: () => !subscriber.closed,
      next: (event) => subscriber.next(event),
      complete: () => subscriber.complete(),
    }),
  );
}

/**
 * An error as events carry it: its code, number and message — never the error object itself, whose
 * `cause` may hold what a library answered.
 */
export function eventError(error: unknown): EventError {
  // Every failure of the token path is a ClientCredentialsError; anything else is told as such.
  const e = error as Partial<ClientCredentialsError>;
  return {
    code: typeof e.code === 'string' ? e.code : 'internal_error',
    ...(typeof e.aadsts === 'number' ? { aadsts: e.aadsts } : {}),
    message: typeof e.message === 'string' ? e.message : String(error),
    transient: e.transient === true,
    ...(typeof e.correlationId === 'string' ? { correlationId: e.correlationId } : {}),
  };
}
