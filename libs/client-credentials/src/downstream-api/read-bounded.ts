/**
 * The body as text (UTF-8, as `Response.text()` decodes it), or undefined when it is larger than
 * `max` bytes: then it is read no further — cancelling the stream makes undici drop the connection
 * — so at most `max` bytes (plus one chunk) are held, whatever the API sends.
 */
export async function readBounded(res: Response, max: number): Promise<string | undefined> {
  // A declared length over the bound fails before reading anything; only for an unencoded body,
  // whose length is the decoded one (gzip of incompressible data is a little longer than it).
  const encoding = res.headers.get('content-encoding');
  const declared = Number(res.headers.get('content-length') ?? Number.NaN);
  if ((encoding === null || encoding === 'identity') && declared > max) {
    await res.body?.cancel();
    return undefined;
  }
  if (res.body === null) return '';
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks, size));
}
