import { Faults } from './faults';

describe('Faults', () => {
  it('applies a fault `times` times, then drops it', () => {
    const faults = new Faults();
    faults.add({ kind: 'status', status: 503, times: 2 });
    expect(faults.decide('token', 't').answer?.status).toBe(503);
    expect(faults.decide('token', 't').answer?.status).toBe(503);
    expect(faults.decide('token', 't').answer).toBeUndefined();
  });

  it('matches target (default token) and tenant', () => {
    const faults = new Faults();
    faults.add({ kind: 'reset', tenantId: 'A' });
    faults.add({ kind: 'html502', target: 'discovery' });
    expect(faults.decide('token', 'b').answer).toBeUndefined();
    expect(faults.decide('token', 'a').answer?.kind).toBe('reset');
    expect(faults.decide('discovery', 'b').answer?.kind).toBe('html502');
  });

  it('adds latency and clock shifts on top of one answering fault', () => {
    const faults = new Faults();
    faults.add({ kind: 'latency', latencyMs: 100 });
    faults.add({ kind: 'clock-shift', clockShiftSeconds: 60 });
    faults.add({ kind: 'throttle', retryAfterSeconds: 3, times: 1 });
    faults.add({ kind: 'status', status: 500, times: 1 });
    const first = faults.decide('token', undefined);
    expect(first).toMatchObject({ latencyMs: 100, clockShiftSeconds: 60 });
    expect(first.answer?.kind).toBe('throttle');
    expect(faults.decide('token', undefined).answer?.kind).toBe('status');
  });

  it('refuses an unknown kind and removes by id', () => {
    const faults = new Faults();
    expect(() => faults.add({ kind: 'nope' as never })).toThrow(/unknown fault kind/);
    const id = faults.add({ kind: 'reset' });
    faults.remove(id);
    expect(faults.decide('token', undefined).answer).toBeUndefined();
  });
});
