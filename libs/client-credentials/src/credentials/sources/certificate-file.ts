import { stat } from 'node:fs/promises';
import type { RecordedProblem } from '../../observability/credential-stats';
import { fromWallClock } from '../../timing/clock';

/**
 * How long after its last write a certificate file is taken as written completely. Writers that
 * rename a new file over the old one (kubelet's secret volumes, cert-manager, the Key Vault CSI
 * driver) never show a partial file; one that rewrites in place (`cp`, an editor, a script)
 * finishes a PEM file of a few kilobytes in milliseconds: two seconds is ample, and short enough
 * that a bad file is reported at the next token request after it.
 */
export const WRITE_GRACE_MS = 2_000;

/** A file's version: mtime + size + inode, to notice it replaced. */
export interface FileVersion {
  /** Equal for an unchanged file; `unreadable:<code>` for a file that cannot be read. */
  readonly id: string;
  /** Its mtime (wall clock, epoch ms); undefined when it cannot be read. */
  readonly modifiedAt?: number;
  /** Why it cannot be read (`ENOENT`, `EACCES`, `EISDIR`…). */
  readonly unreadable?: string;
}

/** The version of the file at `path` now; never throws (an unreadable file has one too). */
export async function fileVersion(path: string): Promise<FileVersion> {
  try {
    const s = await stat(path);
    if (!s.isFile()) return { id: 'unreadable:EISDIR', unreadable: 'EISDIR' };
    return { id: `${s.mtimeMs}:${s.size}:${s.ino}`, modifiedAt: s.mtimeMs };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    return { id: `unreadable:${code}`, unreadable: code };
  }
}

/**
 * What a replacement of the certificate file that failed to load is reported as: the file, the
 * cause (`message` of the load, which names no key material) and the certificate still signing.
 */
export function replacementFailure(
  path: string,
  message: string,
  signing: { readonly thumbprintSha256: string; readonly notAfter: Date },
): string {
  const cause = message.replace(/^certificatePath: /, '');
  return (
    `the certificate file '${path}' was replaced by one that cannot be used: ${cause}. The ` +
    `previous certificate (x5t#S256 ${signing.thumbprintSha256}, expires ` +
    `${signing.notAfter.toISOString()}) signs until a usable file replaces it`
  );
}

/**
 * Why a certificate cannot be used now, if it is expired or not valid yet (wall clock: its dates
 * are wall-clock dates), and, for one not valid yet, when it becomes valid (library clock).
 */
export function outsideValidity(
  certificate: { readonly notBefore: Date; readonly notAfter: Date },
  wallTime = Date.now(),
): { readonly reason: string; readonly validAt?: number } | undefined {
  const from = certificate.notBefore.toISOString();
  const to = certificate.notAfter.toISOString();
  if (certificate.notAfter.getTime() <= wallTime) {
    return { reason: `its certificate expired on ${to} (valid from ${from})` };
  }
  if (certificate.notBefore.getTime() > wallTime) {
    return {
      reason: `its certificate is not valid yet: valid from ${from} to ${to}`,
      validAt: fromWallClock(certificate.notBefore.getTime()),
    };
  }
  return undefined;
}

/**
 * A version of the certificate file that could not be loaded while an earlier certificate could:
 * remembered, so that the file is not read and parsed again at every token request, only once it
 * changes (or once more, see below).
 *
 * When is a failure final? A file whose mtime is at least {@link WRITE_GRACE_MS} old was written
 * completely before it was read: its failure is final at once. A newer one may have been read
 * half-written by an in-place writer, with neither its size nor its mtime changing since (a coarse
 * mtime, a rewrite of the same length): it is read once more at the first token request after the
 * grace (the library's monotonic clock), and a second failure is final. So is a file that cannot be
 * read at all (removed, not readable), on its second look. A final failure is reported — once per
 * version ({@link problem}) — while the last good certificate keeps signing; a writer stalled for
 * longer than the grace may be reported, and the report clears as soon as it finishes the file.
 */
export class FailedVersion {
  private constructor(
    /** The version that failed. */
    readonly version: string,
    /** When it first failed (wall clock). */
    private readonly since: Date,
    /** The library clock after which an unsettled failure is read once more; final: Infinity. */
    private readonly retryAt: number,
    /**
     * What to report: this version's failure once final; before, the report of the version it
     * replaced, if any (the file has not been usable since).
     */
    readonly problem?: RecordedProblem,
  ) {}

  /**
   * The failure of `version` to load at `time` (library clock); `previous` is the failure
   * remembered before it, if any. `reason` names the file and what is wrong, never key material.
   */
  static of(
    previous: FailedVersion | undefined,
    version: FileVersion,
    reason: string,
    time: number,
  ): FailedVersion {
    if (previous?.version === version.id) {
      // Final already, or a read of the same version that began within its grace (concurrent
      // token requests): the same failure, reported once.
      if (time < previous.retryAt) return previous;
      const problem = { reason, since: previous.since };
      return new FailedVersion(version.id, previous.since, Infinity, problem);
    }
    const since = new Date();
    const written =
      version.modifiedAt !== undefined && Date.now() - version.modifiedAt >= WRITE_GRACE_MS;
    if (written) return new FailedVersion(version.id, since, Infinity, { reason, since });
    return new FailedVersion(version.id, since, time + WRITE_GRACE_MS, previous?.problem);
  }

  /**
   * A version that loads completely but holds a certificate outside its validity (see
   * {@link outsideValidity}): final at once — reported once, the same report if it is this version
   * again — and read again at `validAt` (library clock) for one not valid yet, else once it changes.
   */
  static unusable(
    previous: FailedVersion | undefined,
    version: FileVersion,
    reason: string,
    validAt = Infinity,
  ): FailedVersion {
    const known = previous?.version === version.id ? previous.problem : undefined;
    const problem = known?.reason === reason ? known : { reason, since: new Date() };
    return new FailedVersion(version.id, problem.since, validAt, problem);
  }

  /** Whether the file, now at `version`, is worth reading at `time` (library clock). */
  readAgain(version: string, time: number): boolean {
    return version !== this.version || time >= this.retryAt;
  }
}
