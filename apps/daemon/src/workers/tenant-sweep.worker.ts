import { Worker } from './worker';

/**
 * Walks several tenants with one (multi-tenant) credential: one token per tenant, each from the
 * cache once obtained. A tenant that fails does not stop the sweep; the run fails at the end.
 */
export class TenantSweepWorker extends Worker {
  async run(signal: AbortSignal): Promise<void> {
    const tenants = this.config.type === 'tenant-sweep' ? this.config.tenants : [];
    const failed: unknown[] = [];
    for (const tenantId of tenants) {
      if (signal.aborted) break;
      try {
        await this.callApi(signal, tenantId);
      } catch (e) {
        failed.push(e);
      }
    }
    if (failed.length === 1) throw failed[0];
    if (failed.length > 1) {
      throw new AggregateError(failed, `${failed.length} of ${tenants.length} tenants failed`);
    }
  }
}
