import { InvalidRequestError, type TokenService } from '@app/client-credentials';
import type { DaemonConfig } from '../config/daemon-config.schema';

/**
 * What the token service would refuse of the workers' calls, checked once the credentials are
 * loaded and before any worker runs, as `tokens.checkRequest` checks a call: each agent of an
 * `agents` worker against its blueprint credential (a name of `agentBlueprint.agents`, or an app
 * id unless the blueprint takes named agents only), and every worker's credential with its API's
 * scopes and tenant. Without it a misspelt agent failed every run (`agent_unknown`, before any
 * request) while `/health/ready` stayed up. Every worker is checked, a disabled one too, as the
 * loader checks their names.
 * @returns `workers.<name>.agents[i]: …` (or `workers.<name>: …`) lines, each with its fix
 */
export function workerCallProblems(
  config: Pick<DaemonConfig, 'workers' | 'downstreamApis'>,
  tokens: Pick<TokenService, 'checkRequest'>,
): string[] {
  const problems = new Set<string>();
  for (const [name, w] of Object.entries(config.workers)) {
    const api = config.downstreamApis[w.api ?? ''];
    // The loader made sure the API exists; a worker without one has nothing to check here.
    if (api === undefined) continue;
    const agents: (string | undefined)[] = w.type === 'agents' ? w.agents : [undefined];
    agents.forEach((agent, i) => {
      try {
        // As the worker's call is made: its credential and agent, else the API's.
        tokens.checkRequest(api.scopes, {
          credential: w.credential,
          tenantId: api.tenantId,
          agent: agent ?? api.agent,
        });
      } catch (e) {
        if (!(e instanceof InvalidRequestError)) throw e;
        const path =
          agent !== undefined && e.code.startsWith('agent_')
            ? `workers.${name}.agents[${i}]`
            : `workers.${name}`;
        problems.add(`${path}: ${e.message.split(' Hint: ')[0]} Fix: ${e.hint}`);
      }
    });
  }
  return [...problems];
}
