import { AuthorityNetworkClient } from '../../authority/msal-network';
import { InvalidRequestError } from '../../errors/client-credentials.errors';
import { TokenMetrics } from '../../observability/token-metrics';
import type { ResolvedBlueprint } from '../../options/resolved-options';
import type { Blueprint } from './blueprint';
import type { Principal } from '../principal';
import { AgentDirectory } from './agent-directory';

const A = '6c1e8a61-1b2c-4d3e-8f90-0a1b2c3d4e5f';
const B = '0f2b7c44-5d6e-4f70-8a9b-1c2d3e4f5a6b';
const silent = { log() {}, warn() {}, debug() {}, error() {} };

const blueprint = {
  name: 'fleet',
  key: 'fleet',
  stats: {},
  options: { name: 'fleet', authorityHost: 'https://login.example', clientId: 'bp', tenantId: 't' },
  storeKeys: (tenantId: string, scopeKey: string) => [
    `p|${tenantId}|bp|fleet/secret#0|${scopeKey}`,
  ],
  sourceId: () => 'secret#0',
} as unknown as Blueprint;

const network = new AuthorityNetworkClient(1000);
afterAll(() => network.close());

function directory(settings: Partial<ResolvedBlueprint> = {}, maxAgents?: number) {
  return new AgentDirectory(
    blueprint,
    {
      agents: new Map([['billing', A]]),
      onlyNamedAgents: false,
      tokenExchangeScope: 'api://AzureADTokenExchange/.default',
      ...settings,
    },
    {
      keyPrefix: 'p|',
      network,
      metrics: new TokenMetrics(),
      logger: silent,
      maxAgents,
    },
  );
}

describe('AgentDirectory', () => {
  it('finds one agent by its name, its app id and its app id in any case', () => {
    const agents = directory();
    const byName = agents.resolve('billing');
    expect(agents.resolve(A)).toBe(byName);
    expect(agents.resolve(A.toUpperCase())).toBe(byName);
    // The hot path finds every spelling once seen, without resolving.
    expect(agents.find('billing')).toBe(byName);
    expect(agents.find(A.toUpperCase())).toBe(byName);
    expect(agents.resolve(B)).not.toBe(byName);
  });

  it('keeps every leg of every agent apart: keys, store keys, stored subjects', () => {
    const agents = directory();
    const a = agents.resolve(A);
    const b = agents.resolve(B);
    const keys = [a, b, a.exchange, b.exchange].map((p) => p.key);
    expect(new Set(keys).size).toBe(4);
    const stored = [a, b, a.exchange, b.exchange].map((p) => p.storeKeys('t', 's')[0]);
    expect(new Set(stored).size).toBe(4);
    expect(stored.every((k, i) => k.includes(i % 2 === 0 ? A : B))).toBe(true);
    expect([a.subject, a.exchange.subject]).toEqual([`agent=${A}`, `fmi_path=${A}`]);
    const user = agents.resolveUser(a, 'Someone@Contoso.example');
    expect(user.subject).toBe(`agent=${A};user=someone@contoso.example`);
    expect(agents.resolveUser(a, 'someone@contoso.example')).toBe(user);
    expect(a.user('Someone@Contoso.example')).toBe(user);
  });

  it('refuses what is neither a name nor an app id, and unnamed ids when only named agents are taken', () => {
    const agents = directory({ onlyNamedAgents: true });
    for (const bad of ['billng', '', 42, undefined, B, 'x'.repeat(10_000)]) {
      const error = (() => {
        try {
          agents.resolve(bad);
        } catch (e) {
          return e as InvalidRequestError;
        }
      })();
      expect(error).toBeInstanceOf(InvalidRequestError);
      expect(error?.code).toBe('agent_unknown');
      expect(error!.message.length).toBeLessThan(500);
    }
    expect(agents.resolve(A)).toBe(agents.resolve('billing'));
    expect(() => agents.resolveUser(agents.resolve(A), 'not a user')).toThrow(
      expect.objectContaining({ code: 'agent_user_invalid' }),
    );
  });

  it('keeps at most maxAgents agents: a stream of new ids pushes out idle ones, never a hot one', () => {
    const agents = directory({}, 3);
    const hot = agents.resolve('billing');
    const ids = Array.from(
      { length: 20 },
      (_, i) => `00000000-0000-0000-0000-${String(i).padStart(12, '0')}`,
    );
    for (const id of ids) {
      agents.resolve(id);
      // A cache hit of the hot agent's token between new agents: found by name and by app id.
      expect(agents.find('billing')).toBe(hot);
      expect(agents.find(A)).toBe(hot);
      expect(agents.size).toBeLessThanOrEqual(3);
    }
    expect(agents.resolve(A)).toBe(hot);
    // The idle ones went, oldest first.
    expect(agents.find(ids[0])).toBeUndefined();
    expect(agents.find(ids[17])).toBeUndefined();
    expect(agents.find(ids[19])).toBeDefined();
  });

  it("forgets an agent whole (its name and its app id), and drops its legs' tokens with it", () => {
    const agents = directory({}, 1);
    const dropped: Principal[] = [];
    agents.tokens = {
      token: () => Promise.reject(new Error('not asked')),
      refuse: () => undefined,
      drop: (principal) => dropped.push(principal),
    };
    const billing = agents.resolve('billing');
    const user = agents.resolveUser(billing, 'someone@contoso.example');
    agents.resolveUser(billing, 'Someone@Contoso.example');

    agents.resolve(B); // billing, idle since it was made, goes
    // Each leg once: the token exchange token's, the agent's own, its user's.
    expect(new Set(dropped)).toEqual(new Set([billing, billing.exchange, user]));
    expect(dropped).toHaveLength(3);
    expect(agents.find('billing')).toBeUndefined();
    expect(agents.find(A)).toBeUndefined();
    const again = agents.resolve(A);
    expect(again).not.toBe(billing);
    // One agent again under both its names, never two.
    expect(agents.resolve('billing')).toBe(again);
  });

  it("never forgets an agent for a caller's spellings of its id: it keeps its tokens", () => {
    const agents = directory({ onlyNamedAgents: true }, 3);
    const billing = agents.resolve('billing');
    // Sixty spellings of A (each hex letter's case flipped in another pattern).
    const letters = [...A].map((c, i) => (/[a-f]/.test(c) ? i : -1)).filter((i) => i >= 0);
    for (let n = 1; n <= 60; n++) {
      const spelt = [...A]
        .map((c, i) =>
          letters.indexOf(i) >= 0 && (n >> letters.indexOf(i)) & 1 ? c.toUpperCase() : c,
        )
        .join('');
      expect(agents.resolve(spelt)).toBe(billing);
    }
    expect(agents.find('billing')).toBe(billing);
    expect(agents.find(A)).toBe(billing);
    expect(agents.resolve(A)).toBe(billing);
  });

  it('quotes what a caller gave in its messages: no line of its own reaches a log', () => {
    const agents = directory();
    expect(() => agents.resolve('x\n[Nest] LOG admin logged in')).toThrow(
      expect.objectContaining({ message: expect.stringContaining('"x\\n[Nest] LOG admin') }),
    );
    expect(() => agents.resolveUser(agents.resolve(A), 'a\nb')).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('\n') }),
    );
  });
});
