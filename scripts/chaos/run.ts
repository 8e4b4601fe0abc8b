/**
 * `npm run chaos`: the fault campaign. Three daemon processes sharing one Redis run their workers
 * every second against the local authority (tokens of 20 s, refresh_in 8 s) while each fault of
 * {@link FAULTS} is injected in turn; prints the figures as Markdown. Ctrl-C stops everything.
 */
import { FAULTS, runCampaign, toMarkdown } from './campaign';

async function main(): Promise<void> {
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort(new Error('interrupted (SIGINT)')));
  process.once('SIGTERM', () => abort.abort(new Error('interrupted (SIGTERM)')));
  const started = new Date();
  const result = await runCampaign({
    daemons: 3,
    faults: Object.values(FAULTS),
    lifetimeSeconds: 20,
    refreshInSeconds: 8,
    gapMs: 10_000,
    signal: abort.signal,
    log: (line) =>
      console.error(`[chaos ${((Date.now() - started.getTime()) / 1000).toFixed(0)} s] ${line}`),
  });
  console.log(`Fault campaign of ${started.toISOString()} (npm run chaos)\n`);
  console.log(toMarkdown(result));
  if (result.unexpected.length > 0) {
    console.log(`\nUnexpected daemon output:\n${result.unexpected.join('\n').slice(0, 4000)}`);
  }
  if (result.failedWhileValidRuns.length > 0) {
    console.log(
      `\nRuns failed while a valid token existed:\n${result.failedWhileValidRuns.join('\n')}`,
    );
  }
  const broken = result.failedWhileValid + result.api401;
  if (broken > 0) {
    console.error(
      `\nFAILED: ${result.failedWhileValid} runs failed while a valid token existed, ${result.api401} API calls refused.`,
    );
    process.exitCode = 1;
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exitCode = 1;
});
