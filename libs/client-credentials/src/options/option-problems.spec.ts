import { ConfigurationError } from '../errors/client-credentials.errors';
import type { ClientCredentialsModuleOptions } from '../client-credentials.options';
import { checkDownstreamApis } from './downstream-apis.schema';
import { NULL_VALUE } from './option-problems';
import { resolveOptions } from './resolve-options';

const credential = {
  tenantId: '11111111-2222-3333-4444-555555555555',
  clientId: 'client',
  sources: [{ type: 'secret', secret: 'p@ss' }],
};

function problemsOf(options: unknown): readonly string[] {
  try {
    resolveOptions(options as ClientCredentialsModuleOptions);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigurationError);
    return (e as ConfigurationError).problems;
  }
  throw new Error('expected a ConfigurationError');
}

describe('start-up messages that say the fix', () => {
  it('options that are not an object: what a useFactory that returns nothing gives', () => {
    expect(problemsOf(undefined)).toEqual([
      'the options are undefined: does your useFactory return them? (forRootAsync({ useFactory: () => ({ credentials: { … } }) }) — with a config service, check the key it reads)',
    ]);
    expect(problemsOf(null)[0]).toMatch(/^the options are null: does your useFactory return them/);
    expect(problemsOf('credentials')).toEqual([
      'the options must be an object, e.g. { credentials: { … } } — got a string',
    ]);
  });

  it('isGlobal in the options is misplaced (an option of forRoot/forRootAsync), not misspelt', () => {
    expect(problemsOf({ isGlobal: true, credentials: { a: credential } })).toEqual([
      "'isGlobal' is an option of forRoot()/forRootAsync() itself, not of the module options — pass it beside useFactory (forRootAsync({ isGlobal: true, useFactory })), not in what the factory returns",
    ]);
    expect(problemsOf({ isGlobal: true, credential: { a: credential } })).toContain(
      "'isGlobal' is an option of forRoot()/forRootAsync() itself, not of the module options — pass it beside useFactory (forRootAsync({ isGlobal: true, useFactory })), not in what the factory returns; unknown option 'credential' (did you mean 'credentials'?) — check the spelling",
    );
  });

  it('a null option (YAML ~) is refused with the fix, at its own path, also inside a union', () => {
    const base = { credentials: { a: credential } };
    expect(problemsOf({ ...base, defaultCredential: null })).toEqual([
      `defaultCredential: ${NULL_VALUE}`,
    ]);
    expect(problemsOf({ ...base, cache: { keyPrefix: null, maxEntries: null } })).toEqual([
      `cache.maxEntries: ${NULL_VALUE}`,
      `cache.keyPrefix: ${NULL_VALUE}`,
    ]);
    expect(
      problemsOf({ credentials: { a: { ...credential, agentBlueprint: { agents: null } } } }),
    ).toEqual([`credentials.a.agentBlueprint.agents: ${NULL_VALUE}`]);
    expect(problemsOf({ credentials: { a: { ...credential, proxy: null } } })).toEqual([
      `credentials.a.proxy: ${NULL_VALUE}`,
    ]);
    // The same rule in the downstream APIs' section.
    expect(
      checkDownstreamApis({ orders: { baseUrl: 'https://o.example', scopes: null } }).problems,
    ).toEqual([`downstreamApis.orders.scopes: ${NULL_VALUE}`]);
  });
});
