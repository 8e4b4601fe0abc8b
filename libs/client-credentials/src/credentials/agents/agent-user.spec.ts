import {
  TokenEndpointError,
  TokenRequestRejectedError,
} from '../../errors/client-credentials.errors';
import { refusesTheRequest } from './agent-refusals';
import { mayRefuseT2 } from './agent-user';

const rejected = (aadsts: number) =>
  Object.assign(new TokenRequestRejectedError('request_rejected', `AADSTS${aadsts}.`, {}), {
    aadsts,
  });

describe("an agent user's leg: when the agent's exchange token (T2) is forgotten", () => {
  it.each([50013, 50027, 500133, 700024, 700213, 7000215])(
    'a refusal that may be about T2 (AADSTS%i) forgets it: one more request beats a bad T2 kept',
    (aadsts) => {
      expect(mayRefuseT2(rejected(aadsts))).toBe(true);
    },
  );

  it.each([50034, 65001, 70011, 50000])(
    'a refusal about the user or the request (AADSTS%i) keeps it',
    (aadsts) => {
      expect(mayRefuseT2(rejected(aadsts))).toBe(false);
    },
  );

  it('an outage, or an error without an AADSTS number, keeps it', () => {
    const outage = Object.assign(
      new TokenEndpointError('endpoint_unavailable', 'HTTP 503.', {}, true),
      { aadsts: 90006 },
    );
    expect(mayRefuseT2(outage)).toBe(false);
    expect(mayRefuseT2(new Error('socket hang up'))).toBe(false);
  });
});

describe("an agent's failure: the caller's request's, or the agent's own", () => {
  it.each([
    ['agent_user', 50034],
    ['agent_user', 65001],
    ['agent_user', 70011],
    ['agent_user', 50000],
    ['agent_user', 500011],
    ['agent', 70011],
    ['agent', 500011],
  ] as const)("%s, AADSTS%i: the request's (a scope, a user)", (leg, aadsts) => {
    expect(refusesTheRequest(leg, rejected(aadsts))).toBe(true);
  });

  it.each([
    ['agent', 700016], // the agent deleted, or not in the tenant
    ['agent', 700213], // its T1 refused as an assertion
    ['agent', 50034], // no user on the agent's own leg: not a user's refusal
    ['exchange', 70011], // leg 1 is the blueprint's for the agent, whatever it says
    ['agent_user', 7000215],
  ] as const)("%s, AADSTS%i: the agent's own", (leg, aadsts) => {
    expect(refusesTheRequest(leg, rejected(aadsts))).toBe(false);
  });

  it("an invalid_scope answer is the request's whatever its number; an outage never is", () => {
    const scope = Object.assign(rejected(700023), { oauthError: 'invalid_scope' });
    expect(refusesTheRequest('agent', scope)).toBe(true);
    const outage = Object.assign(
      new TokenEndpointError('endpoint_unavailable', 'HTTP 503.', {}, true),
      { aadsts: 70011 },
    );
    expect(refusesTheRequest('agent_user', outage)).toBe(false);
  });
});
