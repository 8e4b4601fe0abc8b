import {
  TokenEndpointError,
  TokenRequestRejectedError,
} from '../../errors/client-credentials.errors';
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
