import { Observable } from 'rxjs';
import type { ClientCredentialsEvent } from '../client-credentials.events';
import { bridgeEventEmitter, type ProviderLookup } from '../observability/event-emitter-bridge';
import { observableOf, TokenEvents } from '../observability/token-events';

/**
 * The double's events, on the real service's machinery: frozen when emitted, forwarded to the
 * app's `@nestjs/event-emitter` (`@OnEvent('client-credentials.<type>')`) while a testing module
 * holds the double, completed when the last such module closes. A double outlives its modules (a
 * test file may build one per test around the same double): the first module opened after the
 * events completed starts them afresh, as a new app's service would.
 */
export class DoubleEvents {
  #events = new TokenEvents();
  #closed = false;
  /** The bridges of the testing modules holding the double now. */
  readonly #opened = new Set<object>();

  /** Hot, as the real service's: a subscriber sees what is emitted while it subscribes. */
  readonly observable: Observable<ClientCredentialsEvent> = new Observable((subscriber) =>
    observableOf(this.#events).subscribe(subscriber),
  );

  /** Hands `event`, frozen, to the subscribers and the app's `@OnEvent` handlers. */
  emit(event: ClientCredentialsEvent): void {
    this.#events.emit(event);
  }

  /**
   * A testing module holding the double starts (`providers`: its module ref, where the app's
   * event emitter is found); returns what its shutdown calls.
   */
  open(providers: ProviderLookup | undefined): () => void {
    if (this.#closed) {
      this.#events = new TokenEvents();
      this.#closed = false;
    }
    const events = this.#events;
    const unbridge = bridgeEventEmitter(providers, events);
    const handle = {};
    this.#opened.add(handle);
    return () => {
      if (!this.#opened.delete(handle)) return;
      unbridge?.();
      if (this.#opened.size === 0 && events === this.#events) {
        this.#closed = true;
        events.close();
      }
    };
  }
}
