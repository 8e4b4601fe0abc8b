import { inspect } from 'node:util';

/** Length of "a recognisable part" of a secret. */
export const WINDOW = 16;

/** A value without PEM armour or whitespace: what would give it away in any text. */
function body(value: string): string {
  return value.replace(/-----[A-Z0-9 ]+-----|\s/g, '');
}

/**
 * The names of the secrets of which any 16-character window (or the whole value, when shorter)
 * appears in `haystack`, with the first such window. Every window is checked, not a sample: the
 * haystack's windows go into a set once, so this stays linear in both. Windows that also occur
 * in `publicText` (certificates, a CA: their DER shares prefixes and names with keys and tokens)
 * identify nothing and are not counted.
 */
export function findLeaks(
  haystack: string,
  secrets: Record<string, string>,
  publicText: readonly string[] = [],
): string[] {
  const seen = new Set<string>();
  for (let i = 0; i + WINDOW <= haystack.length; i++) seen.add(haystack.slice(i, i + WINDOW));
  for (const text of publicText) {
    const b = body(text);
    for (let i = 0; i + WINDOW <= b.length; i++) seen.delete(b.slice(i, i + WINDOW));
  }
  const leaks: string[] = [];
  for (const [name, value] of Object.entries(secrets)) {
    const b = body(value);
    if (b.length < WINDOW) {
      if (b.length > 0 && haystack.includes(b)) leaks.push(`${name}: whole value`);
      continue;
    }
    for (let i = 0; i + WINDOW <= b.length; i++) {
      if (seen.has(b.slice(i, i + WINDOW))) {
        leaks.push(`${name}: '${b.slice(i, i + WINDOW)}'`);
        break;
      }
    }
  }
  return leaks;
}

/** Everything a user could see of an error: message, stack, inspect (causes included) and JSON. */
export function errorText(e: unknown): string {
  if (!(e instanceof Error)) return `${String(e)} ${inspect(e, { depth: 10 })}`;
  return [e.message, e.stack, inspect(e, { depth: 10 }), JSON.stringify(e)].join('\n');
}

/**
 * Every string reachable from `root` by any walk a debugger or an error reporter could make: own
 * properties, non-enumerable ones included (`Object.getOwnPropertyNames`, read without calling
 * getters), `cause`, and the entries of Maps and Sets; joined by newlines.
 */
export function reachableText(root: unknown): string {
  const seen = new Set<unknown>();
  const found: string[] = [];
  const walk = (value: unknown): void => {
    if (typeof value === 'string') return void found.push(value);
    if (value === null || typeof value !== 'object') return;
    if (seen.has(value)) return;
    seen.add(value);
    if (value instanceof Map) {
      for (const [k, v] of value) {
        walk(k);
        walk(v);
      }
    }
    if (value instanceof Set) for (const v of value) walk(v);
    for (const name of Object.getOwnPropertyNames(value)) {
      const descriptor = Object.getOwnPropertyDescriptor(value, name);
      if (descriptor !== undefined && 'value' in descriptor) walk(descriptor.value);
    }
  };
  walk(root);
  return found.join('\n');
}

/** Captures every console call and every write to stdout/stderr until `restore()`. */
export function captureOutput(): { readonly text: string; restore(): void } {
  const chunks: string[] = [];
  const methods = ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const;
  const spies = methods.map((m) =>
    jest.spyOn(console, m).mockImplementation((...args: unknown[]) => {
      chunks.push(args.map((a) => (typeof a === 'string' ? a : inspect(a))).join(' '));
    }),
  );
  const writes = [process.stdout, process.stderr].map((stream) => {
    const original = stream.write.bind(stream);
    stream.write = (chunk: string | Uint8Array, ...rest: unknown[]) => {
      chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
      return (original as (...a: unknown[]) => boolean)(chunk, ...rest);
    };
    return () => (stream.write = original);
  });
  return {
    get text() {
      return chunks.join('\n');
    },
    restore() {
      spies.forEach((s) => s.mockRestore());
      writes.forEach((undo) => undo());
    },
  };
}
