import { Agent as HttpsAgent } from 'node:https';
import { createSecureContext } from 'node:tls';
import { isDeepStrictEqual } from 'node:util';
import axios from 'axios';
import type { BoundCertificate } from '../../client-credentials.options';
import type { Config } from './call-state';
import { CertificateAgents } from './certificate-agents';

const certificate = (thumbprint: string) =>
  ({
    thumbprint,
    notAfter: new Date(),
    secureContext: () => createSecureContext({}),
    dispatcher: () => ({ thumbprint }),
  }) as unknown as BoundCertificate;

const configOf = (extra: Record<string, unknown>) => extra as unknown as Config;

describe('CertificateAgents', () => {
  const agents = new CertificateAgents(undefined);
  afterAll(() => agents.destroy());

  it.each([
    ['the default adapters', undefined],
    ["axios's http adapter by name", 'http'],
    ["axios's fetch adapter after xhr (not in Node)", ['xhr', 'fetch']],
    ["axios's own http adapter function", axios.getAdapter('http')],
  ])('presents the certificate through %s', (_, adapter) => {
    expect(() => agents.apply(configOf({ adapter }), certificate('a'), 'pop')).not.toThrow();
  });

  it.each([
    ['a custom adapter function', async () => ({})],
    ['xhr alone', 'xhr'],
    ['an adapter it does not know', 'mock'],
  ])('refuses %s before the token is attached', (_, adapter) => {
    expect(() => agents.apply(configOf({ adapter }), certificate('a'), 'pop')).toThrow(
      expect.objectContaining({ code: 'proof_required' }),
    );
  });

  it("keeps an agent per certificate and per request agent, made from all of that agent's options", () => {
    const agentOf = (own: HttpsAgent | undefined, thumbprint = 'a') => {
      const config = configOf({ httpsAgent: own });
      agents.apply(config, certificate(thumbprint), 'pop');
      return config.httpsAgent as HttpsAgent;
    };
    const lookup = (() => undefined) as unknown as HttpsAgent['options']['lookup'];
    const open = new HttpsAgent({ maxSockets: 50, localAddress: '127.0.0.1' });
    const pinned = new HttpsAgent({ lookup, maxSockets: 1, rejectUnauthorized: false });
    const first = agentOf(open);
    expect(agentOf(open)).toBe(first);
    expect(agentOf(open, 'b')).not.toBe(first);
    // Another request agent — DNS pinned, one socket, another trust — never gets the first's.
    const second = agentOf(pinned);
    expect(second).not.toBe(first);
    expect(second.options).toMatchObject({ lookup, rejectUnauthorized: false });
    expect(second.maxSockets).toBe(1);
    expect(first.options.localAddress).toBe('127.0.0.1');
    expect(first.maxSockets).toBe(50);
    expect(agentOf(undefined)).toBe(agentOf(undefined));
    // A config sent again (a re-send after a 401, a redirect) holds the agent set here: the same.
    const config = configOf({ httpsAgent: open });
    agents.apply(config, certificate('a'), 'pop');
    agents.apply(config, certificate('a'), 'pop');
    expect(config.httpsAgent).toBe(first);
    // Bounded per request agent: eight certificates, the oldest made again.
    for (const t of ['c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']) agentOf(open, t);
    expect(agentOf(pinned)).toBe(second);
    expect(agentOf(open)).not.toBe(first);
  });

  it('gives HTTP/2 sessions of two certificates options axios never takes for the same', () => {
    const optionsOf = (thumbprint: string) => {
      const config = configOf({ httpVersion: 2, http2Options: { ca: 'PEM' } });
      agents.apply(config, certificate(thumbprint), 'pop');
      return (config as { http2Options?: Record<string, unknown> }).http2Options;
    };
    expect(optionsOf('a')).toMatchObject({ ca: 'PEM', secureContext: expect.anything() });
    // How axios's session cache compares them: every secure context looks alike to it.
    expect(isDeepStrictEqual(optionsOf('a'), optionsOf('a'))).toBe(true);
    expect(isDeepStrictEqual(optionsOf('a'), optionsOf('b'))).toBe(false);
  });
});
