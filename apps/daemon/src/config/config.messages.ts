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

export const badEnvOverride = (name: string): string =>
  `${name}: an override needs a path after 'DAEMON__', e.g. DAEMON__health__port=8080`;

export const invalidConfig = (where: string, problems: readonly string[]): string =>
  `Invalid daemon configuration (${where}):\n${problems.map((p) => `  - ${p}`).join('\n')}`;
