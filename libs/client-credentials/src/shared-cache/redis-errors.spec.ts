import { ConfigurationError } from '../errors/client-credentials.errors';
import { aclRefusalOf, configurationErrorOf } from './redis-errors';

const fields = { login: 'password', trust: 'ca' };
// node-redis wraps a cluster node's reply in its own message.
const wrapped = (reply: string) => ({
  message: 'Cluster discovery failed',
  cause: new Error(reply),
});

describe('configurationErrorOf', () => {
  it('a command refused by the ACL (NOPERM) quotes the command and points at the ACL, not the password', () => {
    const e = configurationErrorOf(
      wrapped("NOPERM User token-cache has no permissions to run the 'cluster|slots' command"),
      fields,
    );

    expect(e).toBeInstanceOf(ConfigurationError);
    expect(e!.message).toContain('cache.shared.username');
    expect(e!.message).toContain("the command 'cluster|slots'");
    expect(e!.message).toContain('+cluster|slots +ping');
    expect(e!.message).not.toContain('refused the login');
  });

  it('a key outside the ACL points at the key pattern', () => {
    const e = configurationErrorOf(new Error('NOPERM No permissions to access a key'), fields);

    expect(e!.message).toContain('~<cache.keyPrefix>*');
  });

  it('a refused login (WRONGPASS, NOAUTH) still names the login option', () => {
    for (const reply of [
      'WRONGPASS invalid username-password pair',
      'NOAUTH Authentication required.',
    ]) {
      const e = configurationErrorOf(wrapped(reply), { login: 'passwordProvider', trust: 'ca' });

      expect(e!.message).toContain('cache.shared.passwordProvider: Redis refused the login');
    }
  });

  it('an app client is named as such', () => {
    const e = configurationErrorOf(
      new Error("NOPERM User u has no permissions to run the 'eval' command"),
      { login: 'redisClient', trust: 'redisClient' },
    );

    expect(e!.message).toContain('cache.shared.redisClient');
  });

  it('a refusal at run time is told apart from other errors, inside a script too', () => {
    const refused = aclRefusalOf(
      new Error("NOPERM this user has no permissions to run the 'eval' command"),
      fields,
    );
    expect(refused!.message).toContain("the command 'eval'");
    expect(
      aclRefusalOf(
        new Error(
          "ERR The user executing the script can't run this command or subcommand script: …",
        ),
        fields,
      )!.message,
    ).toContain('refused a command (NOPERM)');
    expect(aclRefusalOf(new Error('Socket closed unexpectedly'), fields)).toBeUndefined();
    expect(
      aclRefusalOf(new Error('WRONGPASS invalid username-password pair'), fields),
    ).toBeUndefined();
  });
});
