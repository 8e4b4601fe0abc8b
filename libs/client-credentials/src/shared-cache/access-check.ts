import { ConfigurationError } from '../errors/client-credentials.errors';
import { CommandDeadline } from './command-deadline';
import { READ, READ_CAP } from './encrypted-store';
import type { RedisConnection } from './redis-connection';
import { configurationErrorOf, type ConnectionFields } from './redis-errors';
import { textReply } from './redis-replies';
import type { ErrorReporter } from './shared-cache-stats';

// Before the read script: each command in ARGV[2..] the library will send (itself, or inside its
// scripts) is checked against the user's ACL with `redis.acl_check_cmd` (Redis 7+; an older Redis
// has none, and only EVAL and GET are checked, by running the read), on the probe key. A refused
// one answers NOPERM naming it, as Redis does for a command sent outside a script. Then the read
// itself, on the probe key, which is never written: EVAL is checked by running it. Last, an
// integer and a string, answered as the client answers the cache's own scripts (see repliesRead).
const CHECK = `if redis.acl_check_cmd then
  for i = 2, #ARGV do
    local c = ARGV[i]
    local args = {c}
    if c ~= 'ping' then args[2] = KEYS[1] end
    if c == 'set' then args[3] = '0' elseif c == 'pexpire' then args[3] = '1' end
    if not redis.acl_check_cmd(unpack(args)) then
      return redis.error_reply("NOPERM this user has no permissions to run the '" .. c .. "' command")
    end
  end
end
`;
/** The string the probe answers (beside the integer 1). */
export const PROBE_REPLY = 'client-credentials-probe';
const PROBE = `${CHECK}local function read()
${READ}
end
read()
return {1, '${PROBE_REPLY}'}`;

/** What the shared cache is set up to do, which decides the commands it needs. */
export interface AccessNeeds {
  /** `crossProcessLock` is on: the lock's scripts also call PEXPIRE (and PTTL, which is optional). */
  readonly lock: boolean;
  /** A Redis Cluster: PING probes a node before the slot map is re-read. */
  readonly cluster: boolean;
}

/**
 * The commands the shared cache sends, besides EVAL: the store's (GET in the read script, SET,
 * DEL), the lock's, and a cluster's PING (CLUSTER SLOTS is checked by connecting).
 */
export function commandsNeeded(needs: AccessNeeds): string[] {
  return [
    'get',
    'set',
    'del',
    ...(needs.lock ? ['pexpire'] : []),
    ...(needs.cluster ? ['ping'] : []),
  ];
}

/**
 * Checks, once connected, that the user's ACL allows every command the shared cache will send —
 * the read script run once on a probe key of the cache's own prefix (one key: it works on a
 * cluster, on the node holding that key) — so that an ACL short of one fails startup with a
 * {@link ConfigurationError} naming it, instead of a cache that silently never shares (a user
 * without `+eval` could write every token and read none); so does a client whose replies come in
 * types the cache does not read ({@link repliesRead}). Answers that error, or undefined when
 * the check passed or could not be made (Redis slow or gone meanwhile: reported, not fatal — the
 * run-time refusals are counted and logged as such).
 */
export async function checkAccess(
  connection: RedisConnection,
  probeKey: string,
  needs: AccessNeeds,
  fields: ConnectionFields,
  timeoutMs: number,
  reporter: ErrorReporter,
): Promise<ConfigurationError | undefined> {
  const client = connection.client;
  const deadline = new CommandDeadline('checking the ACL', timeoutMs);
  try {
    const reply = await deadline.race(() =>
      client.eval(PROBE, {
        keys: [probeKey],
        arguments: [READ_CAP, ...commandsNeeded(needs)],
      }),
    );
    return repliesRead(reply);
  } catch (e) {
    const fatal = configurationErrorOf(e, fields) ?? noScripting(e);
    if (fatal === undefined) reporter.report('checking the ACL', e);
    return fatal;
  } finally {
    deadline.clear();
  }
}

/**
 * Whether the client answers the cache's scripts as it reads them: integers as numbers, strings
 * as strings (or Buffers, read as text: redis-replies.ts). An app's `redisClient` with another
 * type mapping (node-redis `withTypeMapping`, integers as strings) would make every lock look
 * held and every entry unreadable — a cache that silently never shares: a ConfigurationError.
 */
function repliesRead(reply: unknown): ConfigurationError | undefined {
  const [integer, text] = Array.isArray(reply) ? (reply as unknown[]) : [reply];
  if (integer === 1 && textReply(text) === PROBE_REPLY) return undefined;
  return new ConfigurationError([
    `cache.shared.redisClient: the client maps Redis replies to other types (an integer came back as ${typeName(integer)}, a string as ${typeName(text)}) — the shared cache reads integers as numbers and strings as strings or Buffers: pass a client without that type mapping (\`client.withTypeMapping({})\`)`,
  ]);
}

function typeName(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  return typeof v === 'object' ? (v.constructor?.name ?? 'an object') : `a ${typeof v}`;
}

/**
 * A Redis (or a proxy, a managed service) that does not run Lua scripts at all: every read would
 * fail. Undefined for any other error.
 */
function noScripting(e: unknown): ConfigurationError | undefined {
  const text = e instanceof Error ? e.message : '';
  if (!/unknown command|scripting is disabled|not supported/i.test(text)) return undefined;
  return new ConfigurationError([
    `cache.shared: this Redis does not run EVAL (Lua scripts) — the shared cache reads and locks with one-key scripts; use a Redis (or proxy) that runs them, or remove cache.shared`,
  ]);
}
