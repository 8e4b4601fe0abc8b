import { holdOff, revokedSince } from '../acquisition/refused-tokens';

/** The last refusal of one request key's token, and the tokens answered for that key since. */
interface Refusal {
  /** When it was refused (`Date.now()`: the double has no clock of its own; fake timers move it). */
  readonly at: number;
  readonly streak: number;
  /** A refusal within the hold-off that named a revocation: one per hold-off. */
  readonly byRevocation: boolean;
  /** Tokens answered for the key after the refusal — its replacements — and when. */
  readonly since: Map<string, number>;
}

/**
 * The double's model of the real service's replacement hold-off: a token answered after a refusal
 * of its request key (credential, tenant, agent, scopes), refused in its turn within the hold-off,
 * is not replaced (`replaceRefusedToken` answers undefined, `forgetRefusedToken` false), unless
 * the refusal names a revocation after the token was answered (a CAE challenge's `nbf`), once per
 * hold-off. The hold-off doubles per refusal in a row, from 10 s to 10 min.
 */
export class DoubleRefusals {
  private readonly byKey = new Map<string, Refusal>();

  /** Notes `token` as answered for `key` now: a replacement, if a token of the key was refused. */
  answered(key: string, token: string): void {
    this.byKey.get(key)?.since.set(token, Date.now());
  }

  /**
   * Records the refusal of `token` for `key`, as the real service does; false (nothing recorded)
   * while it is a replacement refused within the hold-off, as the real service holds it off.
   */
  refuse(key: string, token: string, revokedBefore?: number): boolean {
    const time = Date.now();
    const last = this.byKey.get(key);
    const answeredAt = last?.since.get(token);
    const replacement = last !== undefined && answeredAt !== undefined;
    const held = replacement && time < last.at + holdOff(last.streak);
    const revokes = revokedSince(answeredAt, revokedBefore);
    if (held && (last.byRevocation || !revokes)) return false;
    this.byKey.set(key, {
      at: time,
      streak: replacement && time < last.at + 2 * holdOff(last.streak) ? last.streak + 1 : 1,
      byRevocation: held,
      since: new Map(),
    });
    return true;
  }

  /** Forgets every refusal. */
  reset(): void {
    this.byKey.clear();
  }
}
