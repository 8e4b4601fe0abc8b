import * as m from './config.messages';
import { daemonConfigSchema } from './daemon-config.schema';
import { formatPath, schemaKeys, typedOverride, type UntypedOverride } from './override-types';

export { formatPath } from './override-types';

/** Prefix of environment overrides: `DAEMON__health__port=9000` sets `health.port`. */
export const ENV_OVERRIDE_PREFIX = 'DAEMON__';

/**
 * Sections of named entries (the daemon's `credentials`, `workers`, `downstreamApis`; a
 * blueprint's `agents`, a token request's `headers` and `parameters`): a name an override gives
 * that the file does not have is a typo far more often than a new entry — an entry needs several
 * fields, which the file states — so it is refused instead of added next to the one meant.
 */
const NAMED_ENTRIES = new Set([
  'credentials',
  'workers',
  'downstreamApis',
  'agents',
  'headers',
  'parameters',
]);

type Tree = Record<string | number, unknown>;

/**
 * Applies the `DAEMON__a__b=value` overrides of `env` to `raw` (in place): each is resolved
 * against the document first, segment by segment — an existing key (exactly, or with `_` for
 * `-`), a decimal index of an existing list (or the next one, to add an entry), or a new key of a
 * section whose schema then judges it (strict: an unknown key is refused there, naming the keys
 * allowed). Anything else — a name not in a section of named entries, a key that differs from
 * one in the file only in case, a non-index segment under a list, a path through a plain value —
 * is a problem naming the variable and the fix, never its value, and nothing of it is applied.
 * A value is typed by the field it sets ({@link typedOverride}).
 * @returns the paths the overrides set (`credentials.orders.sources[0].secret`), and those set
 * as text where only the library knows whether the field is a number or a boolean
 */
export function applyOverrides(
  raw: Tree,
  env: Record<string, string | undefined>,
  problems: string[],
): { applied: string[]; untyped: UntypedOverride[] } {
  const applied: string[] = [];
  const untyped: UntypedOverride[] = [];
  const names = Object.keys(env)
    .filter((k) => k.startsWith(ENV_OVERRIDE_PREFIX))
    .sort();
  for (const name of names) {
    const segments = name.slice(ENV_OVERRIDE_PREFIX.length).split('__');
    if (segments.some((k) => k === '')) {
      problems.push(m.badEnvOverride(name));
      continue;
    }
    const path = resolvePath(raw, name, segments, problems);
    if (path === undefined) continue;
    let target = raw;
    for (const key of path.slice(0, -1)) {
      const next = target[key];
      if (next === undefined || next === null) target[key] = {};
      target = target[key] as Tree;
    }
    const last = path[path.length - 1];
    const typed = typedOverride(daemonConfigSchema, path, env[name] ?? '');
    target[last] = typed.value;
    if (typed.untyped !== undefined) untyped.push(typed.untyped);
    applied.push(formatPath(path));
  }
  return { applied, untyped };
}

/**
 * The keys an override's segments stand for in `raw`, without changing it; undefined, with the
 * problem added, when one cannot be used.
 */
function resolvePath(
  raw: Tree,
  name: string,
  segments: readonly string[],
  problems: string[],
): (string | number)[] | undefined {
  const path: (string | number)[] = [];
  // undefined once a new key was taken: below it, everything is new.
  let target: unknown = raw;
  for (const segment of segments) {
    const at = formatPath(path) || 'the top level';
    if (Array.isArray(target)) {
      const index = /^\d+$/.test(segment) ? Number(segment) : NaN;
      if (!(index <= target.length)) {
        problems.push(m.overrideNotIndex(name, segment, at, target.length));
        return undefined;
      }
      path.push(index);
      target = target[index];
      continue;
    }
    if (target !== undefined && target !== null && typeof target !== 'object') {
      problems.push(m.overrideThroughValue(name, at));
      return undefined;
    }
    const keys = target == null ? [] : Object.keys(target);
    const key = keyIn(keys, segment);
    if (key === null) {
      problems.push(m.ambiguousOverride(name, segment));
      return undefined;
    }
    if (key === undefined) {
      const problem = newKeyProblem(name, segment, path, keys);
      if (problem !== undefined) {
        problems.push(problem);
        return undefined;
      }
    }
    path.push(key ?? segment);
    target = target == null ? undefined : (target as Tree)[key ?? segment];
  }
  return path;
}

/**
 * Why an override may not add `segment` under `path` (where the document has `keys`), or
 * undefined when it may: the daemon's schema names the key there, or the section is one the
 * library reads and checks itself (strict: it refuses an unknown key with its path).
 */
function newKeyProblem(
  name: string,
  segment: string,
  path: readonly (string | number)[],
  keys: readonly string[],
): string | undefined {
  const at = formatPath(path) || 'the top level';
  if (NAMED_ENTRIES.has(String(path[path.length - 1]))) {
    return m.overrideNoKey(name, segment, at, keys);
  }
  const fold = (k: string) => k.toLowerCase().replaceAll('-', '_');
  const near = keys.filter((k) => fold(k) === fold(segment));
  if (near.length > 0) return m.overrideNoKey(name, segment, at, near);
  const allowed = schemaKeys(daemonConfigSchema, path);
  if (allowed !== undefined && !allowed.includes(segment)) {
    return m.overrideUnknownKey(name, segment, at, allowed);
  }
  return undefined;
}

/**
 * The key of `keys` an override's segment stands for: the key itself, or the one key whose
 * dashes the segment writes as `_` (`tenant_sweep` for `tenant-sweep`: a shell's variable name
 * cannot hold '-'); null when several keys are written so, undefined when none is.
 */
function keyIn(keys: readonly string[], segment: string): string | null | undefined {
  if (keys.includes(segment)) return segment;
  const dashed = keys.filter((k) => k.includes('-') && k.replaceAll('-', '_') === segment);
  return dashed.length > 1 ? null : dashed[0];
}

/**
 * Problems of `${VAR}` references, less those at or under a path an override set: the override
 * replaced the value that named the variable (`tenantId: ${AZURE_TENANT_ID}` with
 * `DAEMON__credentials__orders__tenantId` set), so the variable is not needed.
 */
export function withoutReplaced(problems: readonly string[], applied: readonly string[]): string[] {
  return problems.filter((p) => {
    const path = p.slice(0, p.indexOf(': '));
    return !applied.some((a) => path === a || path.startsWith(`${a}.`) || path.startsWith(`${a}[`));
  });
}
