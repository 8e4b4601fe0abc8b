import { randomUUID } from 'node:crypto';
import type { FaultSpec, FaultTarget } from './types';

interface ActiveFault {
  id: string;
  spec: FaultSpec;
  remaining: number;
}

/** What the faults decided for one request. */
export interface FaultDecision {
  /** Extra delay before answering. */
  latencyMs: number;
  /** Offset applied to the authority's clock for this request, in seconds. */
  clockShiftSeconds: number;
  /** A fault that replaces the answer (status, throttle, reset, html502, non-json, foreign-metadata). */
  answer?: FaultSpec;
}

const KINDS: ReadonlyArray<FaultSpec['kind']> = [
  'latency',
  'status',
  'throttle',
  'reset',
  'html502',
  'non-json',
  'foreign-metadata',
  'clock-shift',
];

/** Active faults, matched per request by target and tenant, each used up after `times` matches. */
export class Faults {
  private active: ActiveFault[] = [];

  add(spec: FaultSpec): string {
    if (!KINDS.includes(spec.kind)) {
      throw new Error(`dev-authority: unknown fault kind '${String(spec.kind)}'`);
    }
    const id = randomUUID();
    this.active.push({ id, spec: { ...spec }, remaining: spec.times ?? Infinity });
    return id;
  }

  remove(id: string): void {
    this.active = this.active.filter((f) => f.id !== id);
  }

  clear(): void {
    this.active = [];
  }

  /**
   * Consumes the faults matching a request. Latency and clock shifts add up; the first answering
   * fault (in insertion order) wins, and only that one is consumed among the answering kinds.
   */
  decide(target: FaultTarget, tenantId: string | undefined): FaultDecision {
    const decision: FaultDecision = { latencyMs: 0, clockShiftSeconds: 0 };
    for (const fault of this.active) {
      const spec = fault.spec;
      if ((spec.target ?? 'token') !== target || fault.remaining <= 0) continue;
      if (spec.tenantId !== undefined && spec.tenantId.toLowerCase() !== tenantId?.toLowerCase()) {
        continue;
      }
      if (spec.kind === 'latency') decision.latencyMs += spec.latencyMs ?? 0;
      else if (spec.kind === 'clock-shift')
        decision.clockShiftSeconds += spec.clockShiftSeconds ?? 0;
      else if (decision.answer === undefined) decision.answer = spec;
      else continue;
      fault.remaining -= 1;
    }
    this.active = this.active.filter((f) => f.remaining > 0);
    return decision;
  }
}
