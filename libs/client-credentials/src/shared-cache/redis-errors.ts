import { ConfigurationError } from '../errors/client-credentials.errors';

/** Which option a refused login or an untrusted certificate points at (for startup errors). */
export interface ConnectionFields {
  /** The option holding the login: `password`, `passwordProvider`, `redisUrl` or `redisClient`. */
  readonly login: string;
  /** The option deciding TLS trust: `ca`, or `redisClient` for an app's own client. */
  readonly trust: string;
}

// Replies and errors that no retry fixes: the configuration must change. Messages of node-redis
// wrap the server's reply (`Master Client (host:port): WRONGPASS …`), so they are searched.
const LOGIN_REFUSED = /\b(WRONGPASS|NOAUTH)\b|invalid password|invalid username/;
// The login was accepted, a command was not: `NOPERM User u has no permissions to run the
// 'cluster|slots' command` (node-redis's cluster discovery), `NOPERM No permissions to access a key`.
// Inside a script, Redis 7 refuses a command without naming it: `ERR The user executing the
// script can't run this command or subcommand`.
const COMMAND_REFUSED = /\bNOPERM\b|user executing the script can't run this command/;
const REFUSED_COMMAND = /run the '([a-z|_-]{1,64})' command/i;
const UNTRUSTED_CERT = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * The startup error for a Redis error that no retry fixes — a login Redis refused, a command the
 * user's ACL refused (told apart: the fix is the ACL, not the password), a certificate it
 * presented that is not trusted — naming the option to change; undefined for any other error
 * (Redis down, a timeout: retried).
 */
export function configurationErrorOf(
  e: unknown,
  fields: ConnectionFields,
): ConfigurationError | undefined {
  const text = messages(e);
  if (COMMAND_REFUSED.test(text)) return commandRefused(text, fields);
  if (LOGIN_REFUSED.test(text)) {
    const reply = /\b(WRONGPASS|NOAUTH)\b/.exec(text)?.[1] ?? 'refused';
    return new ConfigurationError([
      `cache.shared.${fields.login}: Redis refused the login (${reply}) — check the user name and password (or what the provider returns) and the user's ACL; they are not shown here`,
    ]);
  }
  if (codes(e).some((c) => UNTRUSTED_CERT.has(c))) {
    return new ConfigurationError([
      `cache.shared.${fields.trust}: the Redis server's TLS certificate is not trusted (${codes(e).find((c) => UNTRUSTED_CERT.has(c))}) — add the CA that issued it (PEM) to \`ca\`, and connect by a name or address the certificate holds`,
    ]);
  }
  return undefined;
}

/**
 * The error for a command the user's ACL refused (NOPERM), naming the command and the ACL fix;
 * undefined for any other error. At run time this is no transient failure: it repeats on every
 * call until the ACL changes.
 */
export function aclRefusalOf(e: unknown, fields: ConnectionFields): ConfigurationError | undefined {
  const text = messages(e);
  return COMMAND_REFUSED.test(text) ? commandRefused(text, fields) : undefined;
}

/**
 * A command the user's ACL refused (NOPERM): the password is right, the ACL is short of a command
 * (a cluster's discovery needs `cluster|slots`) or of the keys (a `~prefix` that is not
 * `cache.keyPrefix`). Quotes the command from the reply — a command name, never a value.
 */
function commandRefused(text: string, fields: ConnectionFields): ConfigurationError {
  const command = REFUSED_COMMAND.exec(text)?.[1]?.toLowerCase();
  const keys = command === undefined && /access a key/i.test(text);
  const what = command !== undefined ? `the command '${command}'` : keys ? 'its keys' : 'a command';
  const fix = keys ? '`~<cache.keyPrefix>*`' : `\`+${command ?? '<command>'}\``;
  const field =
    fields.login === 'redisClient' || fields.login === 'redisUrl' ? fields.login : 'username';
  return new ConfigurationError([
    `cache.shared.${field}: Redis accepted the login, but the user's ACL refused ${what} (NOPERM) — the password is not the problem: allow ${fix} in the user's ACL (a Redis Cluster needs \`+cluster|slots +ping\` besides the cache's commands; see "ACL users" in docs/shared-cache.md)`,
  ]);
}

// Errors are read by shape, not `instanceof Error`: Node's TLS errors come from another realm
// than the code's own under some runners (a jest VM context), and would be missed.
type ErrorLike = { message?: unknown; code?: unknown; cause?: unknown };
const asError = (e: unknown): ErrorLike | undefined =>
  typeof e === 'object' && e !== null ? e : undefined;

/** Every message of an error and its causes, for matching server replies however wrapped. */
function messages(e: unknown, depth = 0): string {
  if (typeof e === 'string') return e;
  const err = asError(e);
  if (depth > 3 || err === undefined) return '';
  return `${typeof err.message === 'string' ? err.message : ''} ${messages(err.cause, depth + 1)}`;
}

/** Every `code` of an error and its causes (Node's TLS verification codes among them). */
function codes(e: unknown, depth = 0): string[] {
  const err = asError(e);
  if (depth > 3 || err === undefined) return [];
  const code = typeof err.code === 'string' ? [err.code] : [];
  return [...code, ...codes(err.cause, depth + 1)];
}
