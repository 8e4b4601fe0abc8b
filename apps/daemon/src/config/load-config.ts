import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { z } from 'zod';
import * as m from './config.messages';
import { readCredentials, readPem } from './credential-options';
import {
  apiNames,
  daemonConfigSchema,
  type DaemonConfig,
  type DaemonConfigDocument,
} from './daemon-config.schema';
import { overrideValue, readYaml } from './yaml-source';

/** Prefix of environment overrides: `DAEMON__health__port=9000` sets `health.port`. */
export const ENV_OVERRIDE_PREFIX = 'DAEMON__';

/** Where the configuration comes from. */
export interface DaemonConfigSource {
  /** A YAML (or JSON) file; relative paths inside it are relative to its folder. */
  file?: string;
  /** The configuration as an object (tests), instead of a file. */
  config?: unknown;
  /** Environment for `${VAR}` references and `DAEMON__` overrides. @default process.env */
  env?: Record<string, string | undefined>;
}

/** A configuration that cannot be used; the message lists every problem with its path and fix. */
export class DaemonConfigError extends Error {
  override readonly name = 'DaemonConfigError';
}

/**
 * Reads, overrides (environment), validates and normalises the daemon's configuration.
 * @throws DaemonConfigError naming each bad field and how to fix it
 */
export function loadDaemonConfig(source: DaemonConfigSource): DaemonConfig {
  const env = source.env ?? process.env;
  const where = source.file ?? 'configuration object';
  let raw: unknown = source.config;
  if (source.file !== undefined) {
    let text: string;
    try {
      text = readFileSync(source.file, 'utf8');
    } catch (e) {
      throw new DaemonConfigError(m.badFile(source.file, (e as Error).message.split('\n')[0]));
    }
    const yaml = readYaml(text);
    if (yaml.problems.length > 0)
      throw new DaemonConfigError(m.badYaml(source.file, yaml.problems));
    raw = yaml.value;
  }
  const problems: string[] = [];
  raw = interpolate(raw ?? {}, env, [], problems);
  applyOverrides(raw, env, problems);
  const result = daemonConfigSchema.safeParse(raw);
  // A field whose ${VAR} is unset is reported once, for the variable.
  const unset = new Set(problems.map((p) => p.slice(0, p.indexOf(': '))));
  const fresh = (list: string[]) => list.filter((p) => !unset.has(p.slice(0, p.indexOf(': '))));
  if (!result.success) problems.push(...fresh(result.error.issues.flatMap(describe)));
  const base = source.file === undefined ? process.cwd() : dirname(resolve(source.file));
  const sections = raw as { credentials?: unknown; downstreamApis?: unknown; api?: unknown };
  // The shorthand `api` becomes the API named `api` once the schema has checked it.
  const legacy = result.success ? result.data.api : undefined;
  let downstreamApis = sections?.downstreamApis;
  if (legacy !== undefined) {
    const ca =
      legacy.caPath === undefined
        ? undefined
        : readPem((legacy.caPath = abs(legacy.caPath, base)), 'api.caPath', problems);
    const api = { baseUrl: legacy.url, scopes: legacy.scope, ...(ca === undefined ? {} : { ca }) };
    downstreamApis = { ...(isObject(downstreamApis) ? downstreamApis : {}), api };
  }
  // Credentials and APIs are the library's to judge, with its own readers: their problems join
  // the list.
  const library = readCredentials(
    { credentials: sections?.credentials, downstreamApis },
    base,
    env,
  );
  problems.push(...fresh(library.problems));
  if (
    problems.length > 0 ||
    !result.success ||
    library.options === undefined ||
    library.apis === undefined
  ) {
    throw new DaemonConfigError(m.invalidConfig(where, problems));
  }
  const config: DaemonConfigDocument = result.data;
  // A worker that names no API calls the only one (the schema refused it when there are several).
  const only = apiNames(config)[0];
  for (const w of Object.values(config.workers)) w.api ??= only;
  return { ...config, clientCredentials: library.options, downstreamApis: library.apis };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** `a.b[0].c` */
export function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`))
    .join('');
}

function describe(issue: z.core.$ZodIssue): string[] {
  const at = (path: readonly PropertyKey[]) => formatPath(path) || '(top level)';
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    // A discriminated union reports the branch's own issues.
    return issue.errors.flat().flatMap((i) => describe({ ...i, path: [...issue.path, ...i.path] }));
  }
  return [`${at(issue.path)}: ${issue.message}`];
}

/**
 * A copy of `value` with `${NAME}` in every string replaced by the environment variable's value.
 * A copy, never an edit in place: a YAML alias is the very object of its anchor, so one object
 * can sit at several paths; edited in place, its strings were expanded again at the next path (a
 * value holding `${…}` included) and an override of one path changed the others. An object
 * inside itself (`x: &a [*a]`) is reported and cut (null), instead of recursing until the stack
 * overflows.
 */
function interpolate(
  value: unknown,
  env: Record<string, string | undefined>,
  path: PropertyKey[],
  problems: string[],
  ancestors = new Set<object>(),
): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_all, name: string) => {
      const v = env[name];
      if (v === undefined) problems.push(`${formatPath(path)}: ${m.missingEnv(name)}`);
      return v ?? '';
    });
  }
  if (value === null || typeof value !== 'object') return value;
  if (ancestors.has(value)) {
    problems.push(`${formatPath(path)}: ${m.selfReference()}`);
    return null;
  }
  ancestors.add(value);
  try {
    const at = (v: unknown, key: PropertyKey) =>
      interpolate(v, env, [...path, key], problems, ancestors);
    if (Array.isArray(value)) return value.map(at);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, at(v, k)]));
  } finally {
    ancestors.delete(value);
  }
}

/**
 * `DAEMON__a__b=value` sets `a.b` (created if missing); the value is text, a boolean or a number
 * ({@link overrideValue}).
 */
function applyOverrides(
  raw: unknown,
  env: Record<string, string | undefined>,
  problems: string[],
): void {
  const names = Object.keys(env)
    .filter((k) => k.startsWith(ENV_OVERRIDE_PREFIX))
    .sort();
  for (const name of names) {
    const keys = name.slice(ENV_OVERRIDE_PREFIX.length).split('__');
    if (keys.some((k) => k === '')) {
      problems.push(m.badEnvOverride(name));
      continue;
    }
    let target = raw as Record<string | number, unknown>;
    for (const [i, k] of keys.entries()) {
      const key = keyIn(target, k);
      if (key === undefined) {
        problems.push(m.ambiguousOverride(name, k));
        break;
      }
      if (i === keys.length - 1) {
        target[key] = overrideValue(env[name] ?? '', String(key));
        break;
      }
      const next = target[key];
      if (next === null || typeof next !== 'object') target[key] = {};
      target = target[key] as Record<string | number, unknown>;
    }
  }
}

/**
 * The key an override's segment stands for in `target`: an index of a list, the key itself, or
 * the one key present whose dashes the segment writes as `_` (`tenant_sweep` for `tenant-sweep`:
 * a shell's variable name cannot hold '-'); undefined when several keys are written so.
 */
function keyIn(target: object, segment: string): string | number | undefined {
  if (Array.isArray(target) && /^\d+$/.test(segment)) return Number(segment);
  if (Object.hasOwn(target, segment)) return segment;
  const dashed = Object.keys(target).filter(
    (k) => k.includes('-') && k.replaceAll('-', '_') === segment,
  );
  return dashed.length > 1 ? undefined : (dashed[0] ?? segment);
}

function abs(p: string, base: string): string {
  return isAbsolute(p) ? p : resolve(base, p);
}
