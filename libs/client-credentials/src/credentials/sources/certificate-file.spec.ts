import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  FailedVersion,
  fileVersion,
  outsideValidity,
  WRITE_GRACE_MS,
  type FileVersion,
} from './certificate-file';

/** A version written `ago` ms before now (wall clock). */
const written = (id: string, ago: number): FileVersion => ({ id, modifiedAt: Date.now() - ago });
const T = 1_000_000;

describe('FailedVersion: when a replacement that fails to load is reported', () => {
  it('a file written longer than the grace ago: final at once, never read again until it changes', () => {
    const failed = FailedVersion.of(undefined, written('v1', WRITE_GRACE_MS), 'bad', T);
    expect(failed.problem).toEqual({ reason: 'bad', since: expect.any(Date) as unknown });
    expect(failed.readAgain('v1', T + 365 * 86_400_000)).toBe(false);
    expect(failed.readAgain('v2', T)).toBe(true);
  });

  it('a file written just now may be half-written: read once more after the grace, final on its second failure', () => {
    const first = FailedVersion.of(undefined, written('v1', 0), 'half', T);
    expect(first.problem).toBeUndefined();
    expect(first.readAgain('v1', T + WRITE_GRACE_MS - 1)).toBe(false);
    expect(first.readAgain('v1', T + WRITE_GRACE_MS)).toBe(true);

    // Requests in flight together read it within the grace: the same failure, not a second one.
    expect(FailedVersion.of(first, written('v1', 0), 'half', T + 10)).toBe(first);

    const second = FailedVersion.of(first, written('v1', 0), 'bad', T + WRITE_GRACE_MS);
    expect(second.problem?.reason).toBe('bad');
    expect(second.readAgain('v1', T + 365 * 86_400_000)).toBe(false);
    // Reported since its first failure; a later failure of it is the same report.
    expect(FailedVersion.of(second, written('v1', 0), 'bad', T + 10 * WRITE_GRACE_MS)).toBe(second);
  });

  it('a file that cannot be read (no mtime): final on its second look, after the grace', () => {
    const gone: FileVersion = { id: 'unreadable:ENOENT', unreadable: 'ENOENT' };
    const first = FailedVersion.of(undefined, gone, 'cannot read', T);
    expect(first.problem).toBeUndefined();
    expect(FailedVersion.of(first, gone, 'cannot read', T + WRITE_GRACE_MS).problem?.reason).toBe(
      'cannot read',
    );
  });

  it('a newer bad version keeps the report of the one it replaced through its grace, then has its own', () => {
    const v1 = FailedVersion.of(undefined, written('v1', 60_000), 'bad v1', T);
    const v2 = FailedVersion.of(v1, written('v2', 0), 'bad v2', T + 1);
    expect(v2.problem).toBe(v1.problem);
    const final = FailedVersion.of(v2, written('v2', 0), 'bad v2', T + 1 + WRITE_GRACE_MS);
    expect(final.problem).not.toBe(v1.problem);
    expect(final.problem?.reason).toBe('bad v2');
  });

  it('a file whose mtime is ahead of the clock (a clock set back) counts as just written', () => {
    expect(FailedVersion.of(undefined, written('v1', -60_000), 'x', T).problem).toBeUndefined();
  });
});

describe('A replacement outside its validity', () => {
  const day = 86_400_000;
  const dates = (from: number, to: number) => ({
    notBefore: new Date(from),
    notAfter: new Date(to),
  });

  it('expired or not valid yet says which, with its dates; a valid one passes', () => {
    const now = Date.UTC(2026, 0, 10);
    expect(outsideValidity(dates(now - day, now + day), now)).toBeUndefined();
    expect(outsideValidity(dates(now, now + day), now)).toBeUndefined();
    expect(outsideValidity(dates(now - 2 * day, now), now)).toEqual({
      reason:
        'its certificate expired on 2026-01-10T00:00:00.000Z (valid from 2026-01-08T00:00:00.000Z)',
    });
    const early = outsideValidity(dates(now + day, now + 2 * day), now);
    expect(early?.reason).toBe(
      'its certificate is not valid yet: valid from 2026-01-11T00:00:00.000Z to 2026-01-12T00:00:00.000Z',
    );
    expect(early?.validAt).toEqual(expect.any(Number));
  });

  it('final at once, one report per version; read again at its start, or once the file changes', () => {
    const v1 = written('v1', 0);
    const failed = FailedVersion.unusable(undefined, v1, 'not valid yet', T + 5_000);
    expect(failed.problem?.reason).toBe('not valid yet');
    expect(failed.readAgain('v1', T + 4_999)).toBe(false);
    expect(failed.readAgain('v1', T + 5_000)).toBe(true);
    expect(failed.readAgain('v2', T)).toBe(true);
    // Read again and still not valid (a wall clock set back): the same report, a new start.
    const again = FailedVersion.unusable(failed, v1, 'not valid yet', T + 9_000);
    expect(again.problem).toBe(failed.problem);
    expect(again.readAgain('v1', T + 5_000)).toBe(false);

    const expired = FailedVersion.unusable(failed, written('v2', 0), 'expired');
    expect(expired.problem?.reason).toBe('expired');
    expect(expired.readAgain('v2', T + 365 * 86_400_000)).toBe(false);
  });
});

describe('fileVersion', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'certificate-file-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('tells a missing file, a directory and a rewritten file apart; never throws', async () => {
    const path = join(dir, 'cert.pem');
    expect(await fileVersion(path)).toEqual({ id: 'unreadable:ENOENT', unreadable: 'ENOENT' });
    await mkdir(join(dir, 'sub'));
    expect((await fileVersion(join(dir, 'sub'))).unreadable).toBe('EISDIR');
    await writeFile(path, 'a');
    const a = await fileVersion(path);
    expect(a.unreadable).toBeUndefined();
    expect(a.modifiedAt).toEqual(expect.any(Number));
    await writeFile(path, 'ab');
    expect((await fileVersion(path)).id).not.toBe(a.id);
  });
});
