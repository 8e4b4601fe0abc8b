import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sameSecret } from './directory';

/** How long a challenge's key file is honoured; the real agent's are short-lived too. */
const KEY_LIFETIME_MS = 5 * 60_000;

interface IssuedKey {
  secret: string;
  path: string;
  until: number;
  /** Removes the file when it expires. */
  expiry: NodeJS.Timeout;
}

/**
 * The key files of the Arc challenge. The agent proves the caller runs on the machine with
 * enough rights: it names a file only local administrators (and the `himds` group) can read,
 * and the caller sends its content back. On Linux clients insist on `/var/opt/azcmagent/tokens/`.
 */
export class ArcKeys {
  private readonly issued = new Map<string, IssuedKey>();
  private closed = false;

  constructor(readonly directory: string) {}

  /** Writes a fresh key file (readable by its owner only) and returns its path. */
  async challenge(): Promise<string> {
    await mkdir(this.directory, { recursive: true });
    const id = randomUUID();
    const path = join(this.directory, `${id}.key`);
    const secret = randomBytes(32).toString('hex');
    await writeFile(path, secret, { mode: 0o600 });
    if (this.closed) {
      // close() ran while the file was being written, and could not know it.
      await rm(path, { force: true });
      throw new Error('The Azure Arc agent emulation is closed.');
    }
    // A challenge nobody answers is common (a client that gives up, a probe of the 401): its file
    // goes when it expires, not at close only.
    const expiry = setTimeout(() => void this.discard(id), KEY_LIFETIME_MS);
    expiry.unref();
    this.issued.set(id, { secret, path, until: Date.now() + KEY_LIFETIME_MS, expiry });
    return path;
  }

  /** Whether `secret` is the content of a key file issued and not yet used; uses it up. */
  async redeem(secret: string): Promise<boolean> {
    for (const [id, key] of this.issued) {
      if (key.until < Date.now() || !sameSecret(key.secret, secret)) continue;
      await this.discard(id);
      return true;
    }
    return false;
  }

  /** Removes every key file still on disk; challenges still being written remove their own. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.issued.keys()].map((id) => this.discard(id)));
  }

  private async discard(id: string): Promise<void> {
    const key = this.issued.get(id);
    if (key === undefined) return;
    this.issued.delete(id);
    clearTimeout(key.expiry);
    // Best effort, also from a timer: a file someone else removed or locked is not this
    // authority's failure to report.
    await rm(key.path, { force: true }).catch(() => undefined);
  }
}
