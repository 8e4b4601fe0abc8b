/**
 * `npm run chaos [-- --fixed] [--lifetime S --refresh-in S] [--trace FILE]`: the fault campaign. Three daemon processes
 * sharing one Redis run their workers every second against the local authority (tokens of 30 s,
 * refresh_in 10 s) while each fault of {@link FAULTS} is injected in turn, just before the refresh
 * point of the tokens the daemons hold (`--fixed`: at fixed times instead); prints the figures as
 * Markdown, and for every run that failed while a valid token existed, where that token was and
 * what the failing replica did. `--trace FILE` writes every daemon line, health snapshot, Redis
 * command and authority request too. Ctrl-C stops everything.
 */
import { writeFile } from 'node:fs/promises';
import { FAULTS, runCampaign, toMarkdown } from './campaign';
import { writeTrace } from './trace';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const traceAt = args.indexOf('--trace');
  const traceFile = traceAt >= 0 ? args[traceAt + 1] : undefined;
  const number = (flag: string, fallback: number) => {
    const at = args.indexOf(flag);
    return at >= 0 ? Number(args[at + 1]) : fallback;
  };
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort(new Error('interrupted (SIGINT)')));
  process.once('SIGTERM', () => abort.abort(new Error('interrupted (SIGTERM)')));
  const started = new Date();
  const result = await runCampaign({
    daemons: 3,
    faults: Object.values(FAULTS),
    lifetimeSeconds: number('--lifetime', 30),
    refreshInSeconds: number('--refresh-in', 10),
    timing: args.includes('--fixed') ? 'fixed' : 'refresh',
    gapMs: 8_000,
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
    console.log(`\n${result.explanations.join('\n\n')}`);
  }
  if (traceFile !== undefined) {
    await writeFile(traceFile, writeTrace(result.recording));
    console.error(`trace written to ${traceFile}`);
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
