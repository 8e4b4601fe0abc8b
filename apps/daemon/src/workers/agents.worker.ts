import { Worker } from './worker';

/**
 * Runs a fleet of agent identities (Microsoft Entra Agent ID) of one blueprint credential: each
 * agent calls the API as itself — its own token, the agent as `azp`/`oid`, obtained with the
 * blueprint's token exchange token — so the API sees one caller per agent. An agent that fails
 * does not stop the others; the run fails at the end.
 */
export class AgentsWorker extends Worker {
  async run(signal: AbortSignal): Promise<void> {
    const agents = this.config.type === 'agents' ? this.config.agents : [];
    const failed: unknown[] = [];
    for (const agent of agents) {
      if (signal.aborted) break;
      try {
        await this.callApi(signal, undefined, agent);
      } catch (e) {
        failed.push(e);
      }
    }
    if (failed.length === 1) throw failed[0];
    if (failed.length > 1) {
      throw new AggregateError(failed, `${failed.length} of ${agents.length} agents failed`);
    }
  }
}
