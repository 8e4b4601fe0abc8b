// Messages of the daemon's configuration checks, in one place. Each says what is wrong and how to fix it.

export const required = (what: string): string => `required: set ${what}`;

export const notText = (what: string): string => `must be a string: set ${what}`;

export const notGuid = (what: string): string =>
  `must be a GUID (or, for a tenant, a verified domain): set ${what}`;

export const metaTenant = (value: string): string =>
  `'${value}' is not a tenant: client credentials need a tenant id (a GUID) or verified domain, not common/organizations/consumers`;

export const notHttps = (what: string): string => `must be an https:// URL: set ${what}`;

export const notScope = (): string =>
  `must end in '/.default' (client credentials ask for all of an API's app roles): use e.g. 'api://<app-id>/.default'`;

export const badPort = (): string => 'must be a whole number from 0 to 65535 (0 picks a free port)';

export const notPositive = (what: string): string => `must be a number above 0: set ${what}`;

export const intervalTooLong = (max: number): string =>
  `must be at most ${max} (7 days): an interval counts from the daemon's start, so every restart moves it; for a longer schedule use 'cron', e.g. '0 0 3 1 * *' (03:00 on the 1st of each month)`;

export const intervalTooShort = (min: number): string =>
  `must be at least ${min} (second): each tick runs the worker and calls its API, so a smaller value (a typo such as 0.001?) floods it and the log; for sub-second work this daemon is the wrong tool`;

export const shutdownTooLong = (max: number): string =>
  `must be at most ${max} (an hour): the orchestrator stops waiting long before (Kubernetes kills a pod 30 s after SIGTERM unless terminationGracePeriodSeconds says otherwise); keep it below its grace period`;

export const unknownKey = (key: string, allowed: readonly string[]): string =>
  `unknown key '${key}': expected one of ${allowed.join(', ')}`;

export const unknownWorkerType = (types: readonly string[]): string =>
  `unknown worker type: use one of ${types.join(', ')}`;

export const oneSchedule = (): string =>
  `set exactly one of 'cron' (e.g. '0 */5 * * * *') or 'intervalSeconds' (e.g. 30)`;

export const badCron = (expression: string, why: string): string =>
  `'${expression}' is not a cron expression (${why}): use 5 or 6 fields, e.g. '*/30 * * * * *' (every 30 s)`;

export const unknownCredential = (name: string, names: readonly string[]): string =>
  names.length === 0
    ? `names credential '${name}' but no credentials are configured: add it under 'credentials'`
    : `unknown credential '${name}': use one of ${names.join(', ')}`;

export const noApis = (): string =>
  `required: name the API(s) the workers call under 'downstreamApis', e.g. { orders: { baseUrl: https://orders.contoso.com/api, scopes: api://<app-id>/.default } }`;

export const whichApi = (names: readonly string[]): string =>
  `several APIs are configured: name the one this worker calls with 'api' (one of ${names.join(', ')})`;

export const unknownApi = (name: string, names: readonly string[]): string =>
  `unknown API '${name}': use one of ${names.join(', ')} (the names under 'downstreamApis')`;

export const apiTwice = (): string =>
  `the 'api' section is read as downstreamApis.api, which is configured too: keep one of them`;

export const noAgents = (): string =>
  `an agents worker needs at least one agent: list agent identities (names of the credential's agentBlueprint.agents, or app ids) under 'agents'`;

export const notBlueprint = (name: string): string =>
  `credential '${name}' is not an agent identity blueprint: an agents worker needs one — set 'agentBlueprint' on it (see docs/agents.md)`;

export const noTenants = (): string =>
  `a tenant-sweep needs at least one tenant: list tenant ids under 'tenants'`;

export const noWorkers = (): string =>
  `no worker is enabled: add one under 'workers' (see apps/daemon/config/daemon.example.yaml)`;

export const missingEnv = (name: string): string =>
  `uses \${${name}} but the environment variable ${name} is not set: export it (or write the value)`;

export const selfReference = (): string =>
  `refers to itself (a YAML alias inside its own anchor): write the value out instead of '*alias'`;

export const badFile = (file: string, why: string): string =>
  `Cannot read the daemon configuration '${file}': ${why}. Set DAEMON_CONFIG to a readable YAML or JSON file (see apps/daemon/config/daemon.example.yaml).`;

const QUOTE = `: quote it, e.g. secret: '…' (quote any value that starts with one of ! & * | > % @ \` " ' { [ or holds ' #' or ': ')`;

/** What a YAML mistake of a kind (the yaml package's error code) means, without quoting the text. */
const YAML_PROBLEMS: Readonly<Record<string, string>> = {
  BAD_ALIAS: `a value starts with '*' (an alias) and no '&' anchor of that name is set before it${QUOTE}`,
  TAG_RESOLVE_FAILED: `a value starts with '!' (a YAML tag)${QUOTE}`,
  BAD_SCALAR_START: `a value starts with a character YAML reserves (| > @ \` or %)${QUOTE}`,
  DUPLICATE_KEY: 'a key is written twice in the same mapping: keep one',
  TAB_AS_INDENT: 'a tab indents a line: indent with spaces',
  BAD_INDENT: 'a line is not indented as its mapping or list is: align it',
  MULTIPLE_DOCS: "the file holds more than one document ('---'): keep one",
  RESOURCE_EXHAUSTION: 'the file expands to too much (aliases of aliases): write the values out',
  ALIAS_LIMIT: 'the file expands to too much (aliases of aliases): write the values out',
};

/** A YAML mistake by its kind; never the text, which may be a secret. */
export const yamlProblem = (code: string): string =>
  YAML_PROBLEMS[code] ?? `not valid YAML (${code})${QUOTE}`;

export const badYaml = (file: string, problems: readonly string[]): string =>
  `Cannot read the daemon configuration '${file}' as YAML:\n${problems.map((p) => `  - ${p}`).join('\n')}\nFix the file (the values are not repeated here: one may be a secret).`;

export const badEnvOverride = (name: string): string =>
  `${name}: an override needs a path after 'DAEMON__', e.g. DAEMON__health__port=8080`;

export const ambiguousOverride = (name: string, segment: string): string =>
  `${name}: '${segment}' stands for several keys that differ only in '-' and '_': set the override with the key as written, e.g. env 'DAEMON__workers__my-worker__enabled=false' node …`;

export const overrideNoKey = (
  name: string,
  segment: string,
  at: string,
  keys: readonly string[],
): string =>
  `${name}: no key '${segment}' under ${at} (${keys.length === 0 ? 'it has none' : `keys: ${keys.join(', ')}`}); names are case-sensitive: write the key as the file does (a '-' as '_'), or add the entry to the file`;

export const overrideUnknownKey = (
  name: string,
  segment: string,
  at: string,
  keys: readonly string[],
): string =>
  `${name}: '${segment}' is not a key under ${at}: use one of ${keys.join(', ')} (names are case-sensitive)`;

export const overrideNotIndex = (
  name: string,
  segment: string,
  at: string,
  length: number,
): string =>
  `${name}: '${segment}' is not an index of the list ${at}: ${length === 0 ? 'it is empty, use 0 to add an entry' : `use ${length === 1 ? '0' : `a number from 0 to ${length - 1}`} (${length} adds an entry)`}`;

export const overrideThroughValue = (name: string, at: string): string =>
  `${name}: ${at} is a single value in the configuration, not a mapping or a list: override ${at} itself, or change the file`;

export const cacheUrlEmpty = (): string =>
  'TOKEN_CACHE_REDIS_URL: is set but empty (a variable that was empty or unset, e.g. a missing key of an optional secret?): set it to the Redis URL, e.g. redis://redis:6379, with TOKEN_CACHE_KEYS — or unset both to run without the shared cache';

export const cacheKeysWithoutUrl = (): string =>
  'TOKEN_CACHE_KEYS: is set without TOKEN_CACHE_REDIS_URL, so no replica would share its tokens: set TOKEN_CACHE_REDIS_URL to the Redis URL, e.g. redis://redis:6379 — or unset TOKEN_CACHE_KEYS to run without the shared cache';

export const unknownCacheVariable = (name: string): string =>
  `${name}: not a variable the daemon reads (misspelt?): the shared cache is TOKEN_CACHE_REDIS_URL and TOKEN_CACHE_KEYS — rename it, or unset it`;

export const sharedCacheOn = (where: string): string =>
  `shared token cache: on, ${where}: replicas share their tokens`;

export const sharedCacheOff = (): string =>
  'shared token cache: off (TOKEN_CACHE_REDIS_URL is not set): this process requests and caches its tokens for itself';

export const healthPortInUse = (address: string): string =>
  `health.port: ${address} is in use: choose another port (0 picks a free one, printed at start), or stop what listens there`;

export const healthPortDenied = (address: string): string =>
  `health.port: listening on ${address} is not allowed for this user (a port below 1024?): choose a port from 1024 up (0 picks a free one)`;

export const healthHostUnknown = (address: string): string =>
  `health.host: ${address} is not an address of this machine: use 127.0.0.1 (the default), or an address of one of its interfaces`;

export const invalidConfig = (where: string, problems: readonly string[]): string =>
  `Invalid daemon configuration (${where}):\n${problems.map((p) => `  - ${p}`).join('\n')}`;

export const noConfiguration = (): string =>
  'No configuration: run with --config <file> (or DAEMON_CONFIG=<file>), e.g. a copy of apps/daemon/config/daemon.example.yaml (docs/daemon.md); for the demo against a local test authority, ask for dev mode with --dev (or DAEMON_DEV=1), as npm start does';

export const configWithoutFile = (): string =>
  '--config has no file after it (a variable that was empty or unset in the command?): write --config <file> or --config=<file>, or set DAEMON_CONFIG=<file>';

export const configEnvEmpty = (): string =>
  'DAEMON_CONFIG is set but empty (a variable that was empty or unset?): set it to the configuration file, or unset it and pass --config <file>';

export const configTwice = (files: readonly string[]): string =>
  `--config is given more than once (${files.join(', ')}): keep one`;

export const unknownArgument = (arg: string): string =>
  `unknown argument '${arg}': the daemon takes --config <file> (or --config=<file>) or --dev`;

export const badDevEnv = (value: string): string =>
  `DAEMON_DEV='${value}' is neither 1 (dev mode) nor 0: set DAEMON_DEV=1 to ask for dev mode, or unset it`;

export const devAndConfig = (): string =>
  'both dev mode (--dev or DAEMON_DEV) and a configuration (--config or DAEMON_CONFIG) were asked for: keep one (dev mode generates its own configuration for a local test authority)';

export const devInProduction = (): string =>
  'dev mode is refused with NODE_ENV=production: it starts a local test authority with demo apps and workers, not your configuration. Run with --config <file> (or DAEMON_CONFIG=<file>); to try the demo, run it without NODE_ENV=production';
