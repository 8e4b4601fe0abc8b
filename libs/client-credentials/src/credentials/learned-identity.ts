import { principalOfToken } from './token-tenant';

/**
 * Who a managed identity is that its configuration does not name: a system-assigned identity (the
 * host's own; a user-assigned one is named by its `clientId`, `resourceId` or `objectId`, which
 * are part of its store keys). The same configuration on two hosts (production and staging slots, two regions, blue/green apps)
 * then means two identities, possibly of two tenants, that nothing in their store keys tells apart:
 * one Redis would serve each host the other's tokens. So the identity is learned from the `oid`
 * and `tid` of this process's own first token, and until then the credential's tokens are neither
 * read from nor locked or written in a store; from then on its store keys and stored tokens name
 * it ({@link subject}), and a stored token of another identity is a miss even under a colliding
 * key. Replicas of one host share tokens from their first one on; a token that names no `oid` (not
 * a JWT) keeps them in this process. A user-assigned identity needs none of this: its
 * configuration names it.
 */
export class LearnedIdentity {
  #subject?: string;

  /**
   * `oid=<object id>;tid=<tenant>` of the identity's latest own token; undefined before the first,
   * or when it named no `oid`.
   */
  get subject(): string | undefined {
    return this.#subject;
  }

  /**
   * Learns the identity from a token this process obtained from its own identity endpoint (never
   * from one read from a store). Every own token counts: a host whose identity was replaced (the
   * system-assigned identity turned off and on) names its new one from its next token on.
   */
  learnFrom(token: string): void {
    const { oid, tid } = principalOfToken(token);
    if (oid === undefined) {
      this.#subject = undefined;
      return;
    }
    this.#subject = tid === undefined ? `oid=${oid}` : `oid=${oid};tid=${tid}`;
  }
}

/** Whether a managed identity made of `sources` is known only from its tokens (see above). */
export function isLearnedIdentity(
  sources: readonly { type: string; clientId?: string; resourceId?: string; objectId?: string }[],
): boolean {
  return (
    sources.length > 0 &&
    sources.every(
      (s) => s.type === 'managed-identity' && !s.clientId && !s.resourceId && !s.objectId,
    )
  );
}
