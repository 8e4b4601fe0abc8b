import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

/** The most a federated token file may hold: a projected service account token is 1–2 KB. */
export const MAX_TOKEN_FILE_BYTES = 64 * 1024;
/** The most a certificate file may hold: a PEM key and a chain of a few certificates is ~10 KB. */
export const MAX_CERTIFICATE_FILE_BYTES = 1024 * 1024;

/**
 * Why a file cannot be read: an errno code (`ENOENT`, `EACCES`…), `ENOTREG` for a path that is
 * not a regular file (a FIFO, a device, a directory), `EFBIG` for one larger than its bound.
 */
export class FileReadError extends Error {
  constructor(
    readonly code: string,
    readonly maxBytes: number,
  ) {
    super(
      code === 'ENOTREG'
        ? 'not a regular file'
        : code === 'EFBIG'
          ? `larger than ${maxBytes} bytes`
          : code,
    );
  }
}

/**
 * The UTF-8 text of the regular file at `path`, read whole but never more than `maxBytes`. A read
 * of a FIFO without a writer, a character device or a file that keeps growing holds one of
 * libuv's four threads (shared with all fs, dns.lookup and crypto of the process) until it ends —
 * for a FIFO, never. So the file is opened without blocking (O_NONBLOCK: an open of a FIFO
 * returns at once), its type checked on the open handle (what is checked is what is read), and
 * the read stops one byte past the bound. fs.readFile has no type check nor bound: by hand.
 * @throws FileReadError
 */
export async function readBoundedFile(path: string, maxBytes: number): Promise<string> {
  let handle;
  try {
    // O_NONBLOCK is undefined on Windows, where no FIFO is opened by path.
    handle = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    throw new FileReadError((e as NodeJS.ErrnoException).code ?? 'error', maxBytes);
  }
  try {
    const s = await handle.stat();
    if (!s.isFile()) throw new FileReadError('ENOTREG', maxBytes);
    if (s.size > maxBytes) throw new FileReadError('EFBIG', maxBytes);
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      // Grown since the stat, past the bound.
      if (length > maxBytes) throw new FileReadError('EFBIG', maxBytes);
    }
    return buffer.toString('utf8', 0, length);
  } catch (e) {
    if (e instanceof FileReadError) throw e;
    throw new FileReadError((e as NodeJS.ErrnoException).code ?? 'error', maxBytes);
  } finally {
    await handle.close();
  }
}
