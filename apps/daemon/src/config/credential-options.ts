import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import {
  clientCredentialsOptionsFromConfig,
  ConfigurationError,
  type ClientCredentialsModuleOptions,
  type SharedCacheOptions,
} from '@app/client-credentials';
import {
  downstreamApisFromConfig,
  type DownstreamApiOptions,
} from '@app/client-credentials/downstream-api';
import * as m from './config.messages';
import type { DaemonConfig } from './daemon-config.schema';

/** Source fields that name a file, resolved against the configuration file's folder. */
const FILE_FIELDS = ['certificatePath', 'tokenFilePath', 'pinFile'] as const;

/**
 * The library's options for the daemon's `credentials` and `downstreamApis` sections, read by the
 * library's own configuration readers ({@link clientCredentialsOptionsFromConfig},
 * `downstreamApisFromConfig`) from one document: the daemon adds only what a file-based
 * configuration needs — paths relative to the file, `caPath` read into `ca` — and the shared cache
 * from the environment. Problems come back as `credentials.<name>.<field>: …` and
 * `downstreamApis.<name>.<field>: …` lines.
 * @returns the options, or the problems found
 */
export function readCredentials(
  sections: { credentials: unknown; downstreamApis?: unknown },
  base: string,
  env: Record<string, string | undefined>,
): {
  options?: ClientCredentialsModuleOptions;
  apis?: Record<string, DownstreamApiOptions>;
  problems: string[];
} {
  const problems: string[] = [];
  const document: Record<string, unknown> = {
    credentials: withFiles(sections.credentials, base, problems),
  };
  if (sections.downstreamApis !== undefined) {
    document.downstreamApis = withCaFiles(
      sections.downstreamApis,
      base,
      'downstreamApis',
      problems,
    );
  }
  const shared = sharedCacheFromEnv(env, problems);
  if (shared !== undefined) document.cache = { shared };
  // The library's reader checks both sections, and reports their problems together; the APIs are
  // then read from the same document.
  const library: string[] = [];
  const options = collect(() => clientCredentialsOptionsFromConfig(document, env), library);
  const apis =
    options === undefined
      ? undefined
      : collect(() => downstreamApisFromConfig(document).apis, library);
  problems.push(...library.map(byCacheVariable));
  return problems.length > 0 ? { problems } : { options, apis, problems };
}

/** What `read` returns, or undefined with its configuration problems added to `problems`. */
function collect<T>(read: () => T, problems: string[]): T | undefined {
  try {
    return read();
  } catch (e) {
    if (!(e instanceof ConfigurationError)) throw e;
    problems.push(...e.problems);
    return undefined;
  }
}

/** A copy of a section of named entries with each `caPath` replaced by the PEM it names (`ca`). */
function withCaFiles(section: unknown, base: string, at: string, problems: string[]): unknown {
  if (!isRecord(section)) return section;
  const out: Record<string, unknown> = {};
  for (const [name, entry] of Object.entries(section)) {
    if (!isRecord(entry) || entry.caPath === undefined) {
      out[name] = entry;
      continue;
    }
    const { caPath, ...rest } = entry;
    out[name] = rest;
    const path = `${at}.${name}.caPath`;
    if (typeof caPath !== 'string' || caPath === '') {
      problems.push(`${path}: must be the path of a PEM file of extra CAs to trust`);
    } else {
      const pem = readPem(isAbsolute(caPath) ? caPath : resolve(base, caPath), path, problems);
      if (pem !== undefined) rest.ca = pem;
    }
  }
  return out;
}

/**
 * A problem of the shared cache, which the daemon builds from `TOKEN_CACHE_*` variables (its file
 * has no `cache` section), named by the variable: `TOKEN_CACHE_KEYS, key 1: …`.
 */
function byCacheVariable(problem: string): string {
  const at = /^cache\.shared(?:\.(\w+)(?:\[(\d+)\])?)?[.\w]*: /.exec(problem);
  if (at === null) return problem;
  const rest = problem.slice(at[0].length);
  if (at[1] === 'redisUrl') return `TOKEN_CACHE_REDIS_URL: ${rest}`;
  if (at[1] === 'encryptionKeys')
    return `TOKEN_CACHE_KEYS${at[2] === undefined ? '' : `, key ${Number(at[2]) + 1}`}: ${rest}`;
  return `TOKEN_CACHE_REDIS_URL, TOKEN_CACHE_KEYS: ${rest}`;
}

/**
 * The library's options of a loaded configuration. The environment (`_env`) was read when the
 * configuration was loaded; the parameter stays for callers of the former signature.
 */
export function toClientCredentialsOptions(
  config: DaemonConfig,
  _env?: Record<string, string | undefined>,
): ClientCredentialsModuleOptions {
  return config.clientCredentials;
}

/** The variables of the shared cache; another `TOKEN_CACHE_*` variable is a misspelt one. */
const CACHE_VARIABLES = ['TOKEN_CACHE_REDIS_URL', 'TOKEN_CACHE_KEYS'];

/**
 * The shared (Redis) token cache of replicas, when `TOKEN_CACHE_REDIS_URL` is set:
 * `TOKEN_CACHE_KEYS` = `id:base64key,...` (the first key encrypts; the others still read).
 * The library validates both and names the field of a bad one. Half a pair is a problem, as is
 * an empty URL or a misspelt variable: each would start every replica with a cache of its own —
 * R times the token requests, no single flight across replicas — and nothing said so.
 */
export function sharedCacheFromEnv(
  env: Record<string, string | undefined>,
  problems: string[] = [],
): SharedCacheOptions | undefined {
  for (const name of Object.keys(env).sort()) {
    if (name.startsWith('TOKEN_CACHE_') && !CACHE_VARIABLES.includes(name))
      problems.push(m.unknownCacheVariable(name));
  }
  const redisUrl = env.TOKEN_CACHE_REDIS_URL;
  if (redisUrl === undefined) {
    if (env.TOKEN_CACHE_KEYS !== undefined) problems.push(m.cacheKeysWithoutUrl());
    return undefined;
  }
  if (redisUrl.trim() === '') {
    problems.push(m.cacheUrlEmpty());
    return undefined;
  }
  const encryptionKeys = (env.TOKEN_CACHE_KEYS ?? '')
    .split(',')
    .filter((k) => k.trim() !== '')
    .map((k) => {
      const at = k.indexOf(':');
      return { id: k.slice(0, Math.max(at, 0)).trim(), key: k.slice(at + 1).trim() };
    });
  return { redisUrl, encryptionKeys };
}

/**
 * One line for the start-up log: whether tokens are shared through Redis, and which one
 * (host:port — never the URL, which may hold a password, nor the keys).
 */
export function sharedCacheSummary(options: ClientCredentialsModuleOptions): string {
  const shared = options.cache?.shared;
  if (shared === undefined) return m.sharedCacheOff();
  let where = 'Redis';
  try {
    const url = new URL(shared.redisUrl ?? '');
    where = `Redis at ${url.hostname}:${url.port || '6379'}${url.protocol === 'rediss:' ? ' (TLS)' : ''}`;
  } catch {
    // Checked by the library already; the line only names the server.
  }
  return m.sharedCacheOn(where);
}

/**
 * A copy of the credentials section with relative file paths made absolute and each `caPath`
 * replaced by the PEM it names (`ca`). Anything else is left as written, for the library to judge.
 */
function withFiles(credentials: unknown, base: string, problems: string[]): unknown {
  if (!isRecord(credentials)) return credentials;
  const abs = (p: unknown) =>
    typeof p === 'string' && p !== '' && !isAbsolute(p) ? resolve(base, p) : p;
  const out: Record<string, unknown> = {};
  for (const [name, c] of Object.entries(credentials)) {
    if (!isRecord(c)) {
      out[name] = c;
      continue;
    }
    const { caPath, ...rest } = c;
    const credential: Record<string, unknown> = { ...rest };
    if (Array.isArray(rest.sources)) {
      credential.sources = rest.sources.map((s: unknown, i: number) => {
        if (!isRecord(s)) return s;
        const { caPath: sourceCa, ...source } = s;
        for (const field of FILE_FIELDS) if (field in source) source[field] = abs(source[field]);
        // A key-vault source's extra CAs for its vault, from a file as the credential's are.
        if (sourceCa !== undefined) {
          const path = `credentials.${name}.sources[${i}].caPath`;
          if (typeof sourceCa !== 'string' || sourceCa === '') {
            problems.push(`${path}: must be the path of a PEM file of extra CAs to trust`);
          } else {
            const pem = readPem(abs(sourceCa) as string, path, problems);
            if (pem !== undefined) source.ca = pem;
          }
        }
        return source;
      });
    }
    if (caPath !== undefined) {
      const path = `credentials.${name}.caPath`;
      if (typeof caPath !== 'string' || caPath === '') {
        problems.push(`${path}: must be the path of a PEM file of extra CAs to trust`);
      } else {
        const pem = readPem(abs(caPath) as string, path, problems);
        if (pem !== undefined) credential.ca = pem;
      }
    }
    out[name] = credential;
  }
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Reads a PEM file named in the configuration; a failure is a problem naming the field. */
export function readPem(file: string, path: string, problems: string[]): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    problems.push(
      `${path}: cannot read '${file}' (${(e as NodeJS.ErrnoException).code ?? 'error'}): point it at a readable PEM file`,
    );
    return undefined;
  }
}
