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

  it("keeps an agent per certificate and per trust settings of the request's own agent", () => {
    const agentOf = (thumbprint: string, options?: object) => {
      const config = configOf({ httpsAgent: new HttpsAgent(options) });
      agents.apply(config, certificate(thumbprint), 'pop');
      return config.httpsAgent as HttpsAgent;
    };
    const strict = agentOf('a');
    expect(agentOf('a')).toBe(strict);
    expect(agentOf('b')).not.toBe(strict);
    const lax = agentOf('a', { rejectUnauthorized: false });
    expect(lax).not.toBe(strict);
    expect(lax.options.rejectUnauthorized).toBe(false);
    expect(agentOf('a', { ca: 'PEM' })).not.toBe(strict);
    const check = () => undefined;
    expect(agentOf('a', { checkServerIdentity: check })).toBe(
      agentOf('a', { checkServerIdentity: check }),
    );
    expect(agentOf('a', { checkServerIdentity: () => undefined })).not.toBe(
      agentOf('a', { checkServerIdentity: check }),
    );
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
