/**
 * A Redis reply as the shared cache reads it: a bulk string as a string. An app's `redisClient`
 * may map bulk strings to Buffers (node-redis `withTypeMapping({ [RESP_TYPES.BLOB_STRING]:
 * Buffer })`, usual where Redis also holds binary values); every value the cache writes is text
 * (sealed entries, owner ids, failure records), read back as the UTF-8 it was written in. Any
 * other reply is answered as it is. Used wherever a reply the cache reads enters: the store's read,
 * the lock's answer (a failure record is one), the startup probe.
 */
export function textReply(reply: unknown): unknown {
  return Buffer.isBuffer(reply) ? reply.toString('utf8') : reply;
}
