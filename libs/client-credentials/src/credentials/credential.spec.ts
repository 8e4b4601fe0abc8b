import type { IssuedToken, SourceClient, TokenSource } from '../authority/source-client';
import {
  ClientCredentialsError,
  TokenEndpointError,
  TokenRequestRejectedError,
} from '../errors/client-credentials.errors';
import { SourceUnavailableError } from '../errors/source-unavailable';
import { TokenMetrics } from '../observability/token-metrics';
import { NO_PROXY, type ResolvedCredential } from '../options/resolved-options';
import { AssertionReuse, type SentCredential } from './assertion-reuse';
import { Credential } from './credential';

const S = 1000;
const COOL_DOWN = 60 * S;

/** The source clients the next Credential is built with, by index (read by the mocked factory). */
const mockClients: FakeClient[] = [];

jest.mock('./create-source', () => ({
  createSourceClient: (_options: unknown, index: number) => mockClients[index],
}));
// No HTTP: the fake clients never use the network clients a credential opens.
jest.mock('../authority/msal-network', () => ({
  AuthorityNetworkClient: class {
    close(): Promise<void> {
      return Promise.resolve();
    }
  },
}));

/** Every token request of the chain, in order: `<source index>:<tenant>`. */
let requests: string[] = [];

/** A source client whose answer, per tenant, the test decides: a token, or `fail`'s error. */
class FakeClient implements SourceClient {
  readonly source: TokenSource;
  /** The error to fail with for a tenant, or undefined to answer with a token. */
  fail: (tenantId: string) => Error | undefined | Promise<Error | undefined> = () => undefined;
  moveOnAfter?: ReadonlySet<string>;

  constructor(readonly index: number) {
    this.source = {
      type: 'secret',
      id: `secret#${index}`,
      init: async () => [],
      msalCredential: () => ({ clientSecret: 'not-a-secret' }),
      toJSON: () => ({ type: 'secret' }),
    };
  }

  async acquire({ tenantId }: { tenantId: string }): Promise<IssuedToken> {
    requests.push(`${this.index}:${tenantId}`);
    const error = await this.fail(tenantId);
    if (error !== undefined) throw error;
    return {
      token: `${this.source.id}@${tenantId}`,
      tokenType: 'Bearer',
      expiresOn: Date.now() + 3_600_000,
    };
  }
}

const silent = { log() {}, warn() {}, debug() {}, error() {} };

const rejected = () =>
  new TokenRequestRejectedError('credential_rejected', 'AADSTS7000215: invalid secret.', {
    aadsts: 7000215,
  });
const unavailable = (i: number) => new SourceUnavailableError(`secret#${i}`, 'file missing');
const assertionFailed = () =>
  new ClientCredentialsError('assertion_failed', 'The assertion callback threw.');
const outage = () =>
  new TokenEndpointError('endpoint_unavailable', 'HTTP 503.', { status: 503 }, true);

describe('Credential (the chain of sources)', () => {
  let clients: FakeClient[];
  let credential: Credential;

  function build(sources: number): void {
    mockClients.length = 0;
    for (let i = 0; i < sources; i++) mockClients.push(new FakeClient(i));
    clients = [...mockClients];
    const resolved: ResolvedCredential = {
      name: 'api',
      tenantId: 'home',
      clientId: 'client',
      authorityHost: 'https://login.example',
      protocol: 'entra',
      sources: clients.map(() => ({ type: 'secret', secret: 'not-a-secret' })),
      proxy: NO_PROXY,
    };
    credential = new Credential(
      resolved,
      {
        requestMs: 10 * S,
        managedIdentityMs: 5 * S,
        sourceCoolDownMs: COOL_DOWN,
        maxRetryAfterMs: 60 * S,
      },
      'p:',
      new TokenMetrics(),
      silent,
    );
  }

  /** The index of the source that answered, or the code of the failure. */
  async function fetch(tenantId = 'home'): Promise<number | string> {
    requests = [];
    try {
      return (await credential.fetch(tenantId, ['api://x/.default'])).index;
    } catch (e) {
      return (e as ClientCredentialsError).code;
    }
  }

  beforeEach(() => {
    jest.useFakeTimers({ now: 1_700_000_000_000 });
    build(2);
  });

  afterEach(async () => {
    await credential.close();
    jest.useRealTimers();
  });

  it('asks the first source while it works', async () => {
    expect(await fetch()).toBe(0);
    expect(await fetch()).toBe(0);
    expect(requests).toEqual(['0:home']);
  });

  it('moves on after credential_rejected, and skips that source for that tenant only, for retry.sourceCoolDownMs', async () => {
    clients[0].fail = (t) => (t === 'home' ? rejected() : undefined);

    expect(await fetch('home')).toBe(1);
    expect(requests).toEqual(['0:home', '1:home']);
    expect(Object.keys(credential.stats.skippedSources ?? {})).toEqual(['secret#0']);

    expect(await fetch('home')).toBe(1);
    expect(requests).toEqual(['1:home']);
    // Another tenant's word was not given: it still asks the first source.
    expect(await fetch('other')).toBe(0);
    expect(requests).toEqual(['0:other']);

    jest.advanceTimersByTime(COOL_DOWN - 1);
    expect(await fetch('home')).toBe(1);
    expect(requests).toEqual(['1:home']);
    jest.advanceTimersByTime(1);
    expect(await fetch('home')).toBe(1);
    expect(requests).toEqual(['0:home', '1:home']);
  });

  it('asks a source again at once with a fresh assertion when a reused one was refused; once', async () => {
    // The source reuses assertions as a signer source does; the authority takes those signed
    // from `accepted` on (msal asks for the assertion inside the request, as acquire does here).
    const reuse = new AssertionReuse(300_000);
    let signed = 0;
    let accepted = 1;
    Object.assign(clients[0].source, {
      rejected: (sent: SentCredential) => {
        reuse.clear();
        return sent.reused;
      },
    });
    clients[0].fail = async () => {
      const assertion = await reuse.get('audience', async () => String(++signed));
      return Number(assertion) >= accepted ? undefined : rejected();
    };
    expect(await fetch('home')).toBe(0);
    // A rotation: the reused assertion is refused, a fresh one accepted, nothing skipped.
    accepted = 2;
    expect(await fetch('home')).toBe(0);
    expect(requests).toEqual(['0:home', '0:home']);
    expect(credential.stats.skippedSources).toBeUndefined();
    // Refused fresh too: asked again once only, then the chain moves on.
    accepted = 99;
    expect(await fetch('home')).toBe(1);
    expect(requests).toEqual(['0:home', '0:home', '1:home']);
    // A fresh assertion refused is not asked again.
    expect(await fetch('other')).toBe(1);
    expect(requests).toEqual(['0:other', '1:other']);
    expect(signed).toBe(4);
  });

  it('keeps another tenant’s rejection to that tenant (whatever its case)', async () => {
    clients[0].fail = (t) => (t.toLowerCase() === 'customer' ? rejected() : undefined);

    expect(await fetch('Customer')).toBe(1);
    expect(await fetch('CUSTOMER')).toBe(1);
    expect(requests).toEqual(['1:CUSTOMER']);
    expect(await fetch('home')).toBe(0);
    // Not the credential's own skips: that tenant's.
    expect(credential.stats.skippedSources).toEqual({});
    expect(Object.keys(credential.stats.tenants?.customer?.skippedSources ?? {})).toEqual([
      'secret#0',
    ]);
  });

  it('skips an unavailable source for every tenant', async () => {
    clients[0].fail = () => unavailable(0);

    expect(await fetch('home')).toBe(1);
    expect(requests).toEqual(['0:home', '1:home']);
    expect(await fetch('other')).toBe(1);
    expect(requests).toEqual(['1:other']);
  });

  it('moves on after assertion_failed, and skips that source for every tenant', async () => {
    clients[0].fail = () => assertionFailed();

    expect(await fetch('home')).toBe(1);
    expect(await fetch('other')).toBe(1);
    expect(requests).toEqual(['1:other']);
  });

  it('does not change source in an outage, nor for a refusal of the request itself', async () => {
    clients[0].fail = () => outage();

    expect(await fetch()).toBe('endpoint_unavailable');
    expect(requests).toEqual(['0:home']);
    // Nothing skipped: the next call asks the same source.
    expect(await fetch()).toBe('endpoint_unavailable');
    expect(requests).toEqual(['0:home']);
    expect(credential.stats.skippedSources ?? {}).toEqual({});

    clients[0].fail = () =>
      new TokenRequestRejectedError('request_rejected', 'AADSTS500011: no such resource.');
    expect(await fetch()).toBe('request_rejected');
    expect(requests).toEqual(['0:home']);
  });

  it('moves on after the codes a source client names (moveOnAfter)', async () => {
    clients[0].moveOnAfter = new Set(['endpoint_unavailable']);
    clients[0].fail = () => outage();

    expect(await fetch()).toBe(1);
    expect(await fetch('other')).toBe(1);
    expect(requests).toEqual(['1:other']);
  });

  it('throws the last source’s failure when every source fails', async () => {
    clients[0].fail = () => unavailable(0);
    clients[1].fail = () => rejected();

    expect(await fetch()).toBe('credential_rejected');
    expect(requests).toEqual(['0:home', '1:home']);
  });

  it('tries every source, in order, when every one is cooling down', async () => {
    clients[0].fail = () => unavailable(0);
    clients[1].fail = () => unavailable(1);
    expect(await fetch()).toBe('source_unavailable');

    // Both skipped: trying them all beats failing without a try.
    expect(await fetch()).toBe('source_unavailable');
    expect(requests).toEqual(['0:home', '1:home']);

    clients[1].fail = () => undefined;
    expect(await fetch()).toBe(1);
    expect(requests).toEqual(['0:home', '1:home']);
    // The second works again; the first is still passed over.
    expect(await fetch()).toBe(1);
    expect(requests).toEqual(['1:home']);
  });

  it('doubles the skip per failure in a row, up to 32 times the cool-down', async () => {
    clients[0].fail = () => unavailable(0);
    const skips: number[] = [];
    for (let i = 0; i < 8; i++) {
      expect(await fetch()).toBe(1);
      expect(requests).toEqual(['0:home', '1:home']);
      const until = credential.stats.skippedSources!['secret#0'].until.getTime();
      skips.push((until - Date.now()) / COOL_DOWN);
      // Passed over until then, tried again from then on.
      jest.advanceTimersByTime(until - Date.now() - 1);
      expect(await fetch()).toBe(1);
      expect(requests).toEqual(['1:home']);
      jest.advanceTimersByTime(1);
    }
    expect(skips).toEqual([1, 2, 4, 8, 16, 32, 32, 32]);
  });

  it('stops skipping a source that works again; its next skip starts over', async () => {
    clients[0].fail = () => unavailable(0);
    await fetch();
    jest.advanceTimersByTime(COOL_DOWN);
    await fetch(); // skipped again, for twice as long
    jest.advanceTimersByTime(2 * COOL_DOWN);

    clients[0].fail = () => undefined;
    expect(await fetch()).toBe(0);
    expect(credential.stats.skippedSources).toEqual({});

    clients[0].fail = () => unavailable(0);
    expect(await fetch()).toBe(1);
    const until = credential.stats.skippedSources!['secret#0'].until.getTime();
    expect(until - Date.now()).toBe(COOL_DOWN);
  });

  it('never skips the only source: each call asks it', async () => {
    build(1);
    clients[0].fail = () => rejected();

    expect(await fetch()).toBe('credential_rejected');
    expect(await fetch()).toBe('credential_rejected');
    expect(requests).toEqual(['0:home']);
    expect(credential.stats.skippedSources ?? {}).toEqual({});
  });

  it("joins a source's problems to its path: `field: …` after a dot, others after a colon", async () => {
    (clients[0].source as { init: () => Promise<string[]> }).init = () =>
      Promise.resolve([
        'signer: did not answer getCertificate within 500 ms',
        'tokenRequest.audience: must be a string',
        'the PKCS#11 module failed to list slots (CKR_DEVICE_ERROR)',
      ]);
    expect(await credential.init()).toEqual([
      'sources[0].signer: did not answer getCertificate within 500 ms',
      'sources[0].tokenRequest.audience: must be a string',
      'sources[0]: the PKCS#11 module failed to list slots (CKR_DEVICE_ERROR)',
    ]);
  });
});
