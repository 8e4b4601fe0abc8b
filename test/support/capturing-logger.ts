import type { LoggerService } from '@nestjs/common';

/** A Nest LoggerService that keeps every line, so tests can read what the library logged. */
export class CapturingLogger implements LoggerService {
  readonly lines: { level: string; message: string }[] = [];

  log(message: unknown): void {
    this.push('log', message);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.push('error', [message, ...rest].map(String).join(' '));
  }
  warn(message: unknown): void {
    this.push('warn', message);
  }
  debug(message: unknown): void {
    this.push('debug', message);
  }
  verbose(message: unknown): void {
    this.push('verbose', message);
  }

  /** Everything logged, one line per call. */
  get text(): string {
    return this.lines.map((l) => `${l.level}: ${l.message}`).join('\n');
  }

  private push(level: string, message: unknown): void {
    this.lines.push({
      level,
      message: typeof message === 'string' ? message : JSON.stringify(message),
    });
  }
}
