import { TokenClient } from '../../authority/token-client';
import { InvalidRequestError } from '../../errors/client-credentials.errors';
import type { ResolvedBlueprint } from '../../options/resolved-options';
import type { Blueprint } from './blueprint';
import { AgentIdentity } from './agent-identity';
import type { AgentContext, AgentHome, LegTokens } from './agent-legs';
import { AgentSource } from './agent-source';
import { AgentUser, agentUserName } from './agent-user';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Other spellings of agent ids (upper-case letters) remembered for the hot path: at most these. */
const MAX_SPELLINGS = 1_000;

/** An agent the directory keeps: the names it is found by, and whether a call named it lately. */
interface Kept {
  readonly identity: AgentIdentity;
  /** Its lower-case app id, and the configured names calls used. */
  readonly names: string[];
  /** Named since eviction last looked: spared once (second chance). */
  used: boolean;
}

/**
 * The agent identities of an agent identity blueprint (Microsoft Entra Agent ID), created on
 * first use: by the name a call gives (a name of `agentBlueprint.agents`, or the agent's app id as
 * spelt), so that a cache hit finds its agent with one map lookup.
 */
export class AgentDirectory implements AgentHome {
  /** Agents by their lower-case app id and by their configured names. */
  private readonly byName = new Map<string, Kept>();
  /** Every agent kept, once, oldest first: the eviction order. */
  private readonly kept = new Set<Kept>();
  /**
   * Agents by other spellings of their app ids, apart: a caller's spellings (a GUID has up to
   * 2^32 of them) must never evict an agent — a new AgentIdentity would miss every token of the
   * one it replaces, and ask for them again.
   */
  private readonly spellings = new Map<string, AgentIdentity>();
  private readonly maxAgents: number;
  /** The legs' tokens, wired by the token runtime once its acquirer exists. */
  tokens?: LegTokens;

  constructor(
    readonly blueprint: Blueprint,
    readonly settings: ResolvedBlueprint,
    readonly context: AgentContext,
  ) {
    this.maxAgents = context.maxAgents ?? 10_000;
  }

  /** The scope of the blueprint's token exchange tokens (leg 1). */
  get tokenExchangeScope(): string {
    return this.settings.tokenExchangeScope;
  }

  /** The agent a call names, spelt as the call spells it, once known. The hot path. */
  find(agent: string): AgentIdentity | undefined {
    const kept = this.byName.get(agent) ?? this.spelt(agent);
    if (kept === undefined) return undefined;
    // The mark of use is a field set: the hot path pays no map operation for eviction's sake.
    kept.used = true;
    return kept.identity;
  }

  /** The agent an other spelling of its id names, while it is still the agent of its id. */
  private spelt(agent: string): Kept | undefined {
    const spelt = this.spellings.get(agent);
    if (spelt === undefined) return undefined;
    const kept = this.byName.get(spelt.id);
    return kept?.identity === spelt ? kept : undefined;
  }

  /**
   * The agent a call names — a configured name or an agent app id — created on first use.
   * @throws InvalidRequestError `agent_unknown`
   */
  resolve(agent: unknown): AgentIdentity {
    const name = typeof agent === 'string' ? agent : '';
    const named = this.settings.agents.get(name);
    const id = named ?? (GUID.test(name) ? name.toLowerCase() : undefined);
    const listed = named !== undefined || [...this.settings.agents.values()].includes(id ?? '');
    if (id === undefined || (this.settings.onlyNamedAgents && !listed)) {
      throw this.unknown(agent);
    }
    let kept = this.byName.get(id);
    if (kept === undefined) {
      kept = { identity: new AgentIdentity(this, id), names: [id], used: false };
      this.byName.set(id, kept);
      this.kept.add(kept);
      if (this.kept.size > this.maxAgents) this.evictOne(kept);
    } else {
      // Named again (a miss of its token): in use. A new agent is not yet — as a new token in
      // the token cache, it earns its second chance by being named again.
      kept.used = true;
    }
    const identity = kept.identity;
    if (named !== undefined) {
      if (this.byName.get(name) !== kept) {
        this.byName.set(name, kept);
        kept.names.push(name);
      }
    } else if (name !== id) {
      this.spellings.delete(name);
      this.spellings.set(name, identity);
      if (this.spellings.size > MAX_SPELLINGS) {
        this.spellings.delete(this.spellings.keys().next().value as string);
      }
    }
    return identity;
  }

  /**
   * The agent user of `agent` a call names (a UPN or an object id), created on first use.
   * @throws InvalidRequestError `agent_user_invalid`
   */
  resolveUser(agent: AgentIdentity, user: unknown): AgentUser {
    const known = typeof user === 'string' ? agent.user(user) : undefined;
    if (known instanceof AgentUser) return known;
    const name = agentUserName(user, agent);
    const canonical = 'userObjectId' in name ? name.userObjectId : name.username;
    const users = (agent.users ??= new Map<string, AgentUser>());
    const existing = users.get(canonical);
    const agentUser = existing instanceof AgentUser ? existing : new AgentUser(agent, name);
    users.set(canonical, agentUser);
    // A string: agentUserName refused anything else.
    users.set(String(user), agentUser);
    // An agent has one agent user in Entra; a handful of spellings at most are worth keeping.
    if (users.size > 16) users.delete(users.keys().next().value as string);
    return agentUser;
  }

  /** An msal client of the agent identity `id`: its own client id, the blueprint's authority. */
  createClient(id: string): TokenClient {
    const options = { ...this.blueprint.options, clientId: id };
    const { network, logger, requestMs } = this.context;
    return new TokenClient(options, new AgentSource(), network, logger, { requestMs });
  }

  /** The agents kept now, for diagnostics. */
  get size(): number {
    return this.kept.size;
  }

  /**
   * Second-chance (CLOCK) eviction, as the token cache's: from the oldest on, an agent named since
   * eviction last looked is moved to the back and spared once; the first one not named goes, with
   * its names and its legs' tokens in memory — a new AgentIdentity would never find them (the
   * cache indexes tokens by the principal object), so they are dropped rather than left to be
   * refreshed for nobody. A stream of new agent ids thus pushes out idle agents, never hot ones.
   * `keep` (the agent just made) never goes.
   */
  private evictOne(keep: Kept): void {
    for (let looked = 0; ; looked++) {
      const kept = this.kept.values().next().value as Kept;
      this.kept.delete(kept);
      if (kept === keep || (kept.used && looked < this.kept.size)) {
        kept.used = false;
        this.kept.add(kept);
        continue;
      }
      for (const name of kept.names) if (this.byName.get(name) === kept) this.byName.delete(name);
      const { identity } = kept;
      for (const leg of [identity, identity.exchange, ...new Set(identity.users?.values())]) {
        this.tokens?.drop(leg);
      }
      return;
    }
  }

  private unknown(agent: unknown): InvalidRequestError {
    const credential = this.blueprint.name;
    const names = [...this.settings.agents.keys()];
    const listed = names.length === 0 ? 'none' : names.map((n) => `'${n}'`).join(', ');
    // Quoted as JSON: a caller's string must not write lines of its own into a log.
    const what =
      typeof agent === 'string' ? JSON.stringify(agent.slice(0, 100)) : `a ${typeof agent} value`;
    return new InvalidRequestError(
      'agent_unknown',
      this.settings.onlyNamedAgents
        ? `Agent ${what} of credential '${credential}' is not one of its named agents (${listed}), and the blueprint takes named agents only.`
        : `Agent ${what} of credential '${credential}' is neither an agent identity's app id (a GUID) nor one of its named agents (${listed}).`,
      { credential },
    );
  }
}
