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
import { applyOverrides, formatPath, withoutReplaced } from './env-overrides';
import { retypeRefused } from './override-types';
import { readYaml } from './yaml-source';

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
  const unsetVariables: string[] = [];
  raw = interpolate(raw ?? {}, env, [], unsetVariables);
  const problems: string[] = [];
  // Overrides act on the copy `interpolate` made (a YAML alias is one object at several paths)
  // and are never expanded themselves; a `${VAR}` whose value an override replaced is not needed.
  const { applied, untyped } = isObject(raw)
    ? applyOverrides(raw, env, problems)
    : { applied: [], untyped: [] };
  problems.unshift(...withoutReplaced(unsetVariables, applied));
  const base = source.file === undefined ? process.cwd() : dirname(resolve(source.file));
  if (isObject(raw)) {
    // A field of a credential or an API is the library's: an override there that reads as a
    // number or a boolean is its text unless the library refuses the text and takes the other.
    const document = raw;
    retypeRefused(document, untyped, () => {
      const { credentials, downstreamApis } = document;
      return readCredentials({ credentials, downstreamApis }, base, env).problems;
    });
  }
  const result = daemonConfigSchema.safeParse(raw);
  // A field whose ${VAR} is unset is reported once, for the variable.
  const unset = new Set(problems.map((p) => p.slice(0, p.indexOf(': '))));
  const fresh = (list: string[]) => list.filter((p) => !unset.has(p.slice(0, p.indexOf(': '))));
  if (!result.success) problems.push(...fresh(result.error.issues.flatMap(describe)));
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

function abs(p: string, base: string): string {
  return isAbsolute(p) ? p : resolve(base, p);
}
