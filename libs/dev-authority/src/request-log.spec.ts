import { RequestLog } from './request-log';
import type { RequestLogEntry } from './types';

const entry = (fields: Partial<RequestLogEntry> = {}): RequestLogEntry => ({
  at: new Date(),
  target: 'token',
  method: 'POST',
  path: '/t/oauth2/v2.0/token',
  tenantId: 't',
  clientId: 'c',
  scope: 'api://dev-api/.default',
  status: 200,
  outcome: 'ok',
  ...fields,
});

describe('RequestLog', () => {
  it('keeps the most recent `size` entries, oldest first', () => {
    const log = new RequestLog(3);
    for (let i = 0; i < 5; i++) log.add(entry({ path: `/${i}` }));
    expect(log.all.map((e) => e.path)).toEqual(['/2', '/3', '/4']);
    log.add(entry({ path: '/5' }));
    expect(log.all.map((e) => e.path)).toEqual(['/3', '/4', '/5']);
  });

  it('counts every token request, those the ring no longer holds included', () => {
    const log = new RequestLog(2);
    log.add(entry({ tenantId: 'a', clientId: 'x', outcome: 'error', status: 401 }));
    log.add(entry({ tenantId: 'a', clientId: 'x', outcome: 'fault', status: 503 }));
    log.add(entry({ tenantId: 'b', clientId: 'x', scope: 'api://other/.default' }));
    log.add(entry({ target: 'imds', tenantId: 'b', clientId: 'mi' }));
    log.add(entry({ target: 'managed-identity', tenantId: 'b', clientId: 'mi' }));
    log.add(entry({ target: 'api', tenantId: 'a', clientId: 'x' }));
    log.add(entry({ target: 'discovery', tenantId: 'a', clientId: undefined }));
    expect(log.all).toHaveLength(2);
    expect(log.countTokenRequests()).toBe(5);
    expect(log.countTokenRequests({ clientId: 'X' })).toBe(3);
    expect(log.countTokenRequests({ tenantId: 'A' })).toBe(2);
    expect(log.countTokenRequests({ tenantId: 'a', outcome: 'fault' })).toBe(1);
    expect(log.countTokenRequests({ clientId: 'x', outcome: 'ok' })).toBe(1);
    expect(log.countTokenRequests({ scope: 'api://other/.default' })).toBe(1);
    expect(log.countTokenRequests({ target: 'imds' })).toBe(1);
    expect(log.countTokenRequests({ clientId: 'mi', target: 'managed-identity' })).toBe(1);
    expect(log.countTokenRequests({ clientId: 'nobody' })).toBe(0);
  });

  it('logs N + k requests: N retained, N + k counted', () => {
    const log = new RequestLog(100);
    for (let i = 0; i < 130; i++) log.add(entry({ clientId: i % 2 === 0 ? 'even' : 'odd' }));
    expect(log.all).toHaveLength(100);
    expect(log.countTokenRequests()).toBe(130);
    expect(log.countTokenRequests({ clientId: 'even' })).toBe(65);
  });

  it('reset empties the log and the counters', () => {
    const log = new RequestLog(2);
    for (let i = 0; i < 3; i++) log.add(entry());
    log.reset();
    expect(log.all).toEqual([]);
    expect(log.countTokenRequests()).toBe(0);
    log.add(entry({ path: '/after' }));
    expect(log.all.map((e) => e.path)).toEqual(['/after']);
    expect(log.countTokenRequests()).toBe(1);
  });

  it('keeps nothing with size 0, and still counts', () => {
    const log = new RequestLog(0);
    log.add(entry());
    expect(log.all).toEqual([]);
    expect(log.countTokenRequests()).toBe(1);
  });

  it('hands out a snapshot that later requests do not change', () => {
    const log = new RequestLog(2);
    log.add(entry({ path: '/0' }));
    const before = log.all;
    log.add(entry({ path: '/1' }));
    log.add(entry({ path: '/2' }));
    expect(before.map((e) => e.path)).toEqual(['/0']);
    expect(log.all.map((e) => e.path)).toEqual(['/1', '/2']);
  });
});
