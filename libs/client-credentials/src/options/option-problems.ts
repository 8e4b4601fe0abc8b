import type { z } from 'zod';
import { closestKey } from './closest-key';

/** `credentials.graph.sources[1].certificatePath` from zod's path array. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
    .join('');
}

/**
 * Options of `forRoot()`/`forRootAsync()` themselves (Nest's module builder takes them beside the
 * options, or beside `useFactory`), never of the options object: one inside a factory's result is
 * misplaced, not misspelt.
 */
const MODULE_EXTRAS = ['isGlobal'];

/**
 * The problem of options that are not an object at all, or undefined when they are one: what a
 * `useFactory` that returns nothing (`config.get('misspelt')`) gives.
 */
export function notAnObject(options: unknown, what = 'options'): string | undefined {
  if (options === undefined || options === null) {
    return `the ${what} are ${String(options)}: does your useFactory return them? (forRootAsync({ useFactory: () => ({ credentials: { … } }) }) — with a config service, check the key it reads)`;
  }
  if (typeof options !== 'object' || Array.isArray(options)) {
    return `the ${what} must be an object, e.g. { credentials: { … } } — got ${Array.isArray(options) ? 'an array' : `a ${typeof options}`}`;
  }
  return undefined;
}

/**
 * One of zod's issues as `path: message`, with the fix: a `null` value (YAML's `~`, or a key left
 * without a value) is never read as a value nor as unset — it says so, whatever the field, also
 * inside a union (`agentBlueprint: { agents: ~ }`); an unknown key says whether it is a misplaced
 * `isGlobal` or, at the top level (`allowed`), which option it is closest to.
 * @param input the options validated, to tell a null value at the issue's path
 * @param prefix the path of `input` in the options (`downstreamApis`)
 */
export function describeIssue(
  issue: z.core.$ZodIssue,
  input: unknown,
  allowed: readonly string[] = [],
  prefix: readonly PropertyKey[] = [],
): string {
  const at = (path: readonly PropertyKey[], message: string) => {
    const where = formatPath([...prefix, ...path]);
    return where ? `${where}: ${message}` : message;
  };
  if (issue.code === 'unrecognized_keys') return at(issue.path, unknownKeys(issue.keys, allowed));
  const nulls = nullPaths(issue, input, []);
  return nulls.length > 0 ? at(nulls[0], NULL_VALUE) : at(issue.path, issue.message);
}

/** Paths of null values an issue is about: its own, or one of a union member's issues. */
function nullPaths(
  issue: z.core.$ZodIssue,
  input: unknown,
  base: readonly PropertyKey[],
): PropertyKey[][] {
  const path = [...base, ...issue.path];
  if (valueAt(input, path) === null) return [path];
  if (issue.code !== 'invalid_union') return [];
  return issue.errors.flatMap((member) => member.flatMap((i) => nullPaths(i, input, path)));
}

/**
 * The one rule for `null` across the options: an option set to null is refused, never taken as
 * its default — `agentBlueprint: ~` or `shared: ~` may mean "on, with defaults" as well as "off",
 * and a guess either way could silently turn a feature off.
 */
export const NULL_VALUE =
  'is null (in YAML: `~`, or the key with no value) — set a value, or leave the key out (an option then takes its default)';

function unknownKeys(keys: readonly string[], allowed: readonly string[]): string {
  const misplaced = keys.filter((k) => allowed.length > 0 && MODULE_EXTRAS.includes(k));
  const misspelt = keys.filter((k) => !misplaced.includes(k));
  const parts = misplaced.map(
    (k) =>
      `'${k}' is an option of forRoot()/forRootAsync() itself, not of the module options — pass it beside useFactory (forRootAsync({ ${k}: true, useFactory })), not in what the factory returns`,
  );
  if (misspelt.length > 0) {
    const named = misspelt.map((k) => {
      const close = closestKey(k, allowed);
      return close === undefined ? `'${k}'` : `'${k}' (did you mean '${close}'?)`;
    });
    parts.push(
      `unknown option${misspelt.length > 1 ? 's' : ''} ${named.join(', ')} — check the spelling`,
    );
  }
  return parts.join('; ');
}

/** The value at `path` of plain objects and arrays (own properties only), or undefined. */
function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let at = input;
  for (const key of path) {
    if (at === null || typeof at !== 'object' || !Object.hasOwn(at, key)) return undefined;
    at = (at as Record<PropertyKey, unknown>)[key];
  }
  return at;
}
