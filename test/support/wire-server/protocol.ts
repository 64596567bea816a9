/**
 * MongoDB wire protocol framing: splitting a TCP byte stream into messages,
 * decoding OP_MSG / OP_QUERY requests and encoding OP_MSG / OP_REPLY replies.
 *
 * OP_COMPRESSED is deliberately not supported (and never advertised in hello).
 * Spec: https://www.mongodb.com/docs/manual/reference/mongodb-wire-protocol/
 */
import { BSON, type Document } from 'bson';

export const OP_REPLY = 1;
export const OP_QUERY = 2004;
export const OP_MSG = 2013;

export const FLAG_CHECKSUM_PRESENT = 1 << 0;
export const FLAG_MORE_TO_COME = 1 << 1;
export const FLAG_EXHAUST_ALLOWED = 1 << 16;

export const MAX_BSON_OBJECT_SIZE = 16 * 1024 * 1024;
export const MAX_MESSAGE_SIZE_BYTES = 48_000_000;
const HEADER_SIZE = 16;

/** Thrown for anything that is not a well-formed message; the connection is closed. */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

/** A decoded client request. `body` already has kind-1 document sequences merged in. */
export interface WireRequest {
  opCode: typeof OP_MSG | typeof OP_QUERY;
  requestId: number;
  /** OP_MSG flag bits (0 for OP_QUERY) */
  flags: number;
  /** the command document */
  body: Document;
  /** for OP_QUERY: the database of `<db>.$cmd`; for OP_MSG: body.$db */
  db: string;
  moreToCome: boolean;
  exhaustAllowed: boolean;
}

// Same conversions the driver uses: Int64 -> number when it fits (Long otherwise),
// BSON Double/Int32 -> number, Binary stays Binary, BSON regex -> RegExp.
const DESERIALIZE_OPTIONS = {
  promoteLongs: true,
  promoteValues: true,
  promoteBuffers: false,
  bsonRegExp: false,
} as const;

export function deserializeDocument(buffer: Uint8Array): Document {
  return BSON.deserialize(buffer, DESERIALIZE_OPTIONS);
}

/**
 * Accumulates socket chunks and yields complete messages. Handles frames split
 * across chunks and several frames per chunk without quadratic copying.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private total = 0;
  private need = -1;

  /** Returns every complete frame now available. Throws ProtocolError on an impossible length. */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.total += chunk.length;
    const frames: Buffer[] = [];
    for (;;) {
      if (this.need < 0) {
        if (this.total < 4) break;
        const head = this.coalesce(4);
        const length = head.readInt32LE(0);
        if (length < HEADER_SIZE || length > MAX_MESSAGE_SIZE_BYTES) {
          throw new ProtocolError(`invalid message length ${length}`);
        }
        this.need = length;
      }
      if (this.total < this.need) break;
      const all = this.coalesce(this.total);
      frames.push(all.subarray(0, this.need));
      const rest = all.subarray(this.need);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.total = rest.length;
      this.need = -1;
    }
    return frames;
  }

  /** Makes sure the first `atLeast` bytes are in chunks[0]; returns chunks[0]. */
  private coalesce(atLeast: number): Buffer {
    const first = this.chunks[0];
    if (first !== undefined && first.length >= atLeast) return first;
    const merged = Buffer.concat(this.chunks, this.total);
    this.chunks = [merged];
    return merged;
  }
}

function readCString(buf: Buffer, offset: number, end: number): [string, number] {
  const zero = buf.indexOf(0, offset);
  if (zero < 0 || zero >= end) throw new ProtocolError('unterminated cstring');
  return [buf.toString('utf8', offset, zero), zero + 1];
}

function readBsonAt(buf: Buffer, offset: number, end: number): [Document, number] {
  if (offset + 5 > end) throw new ProtocolError('truncated BSON document');
  const size = buf.readInt32LE(offset);
  if (size < 5 || offset + size > end) throw new ProtocolError('invalid BSON document size');
  try {
    return [deserializeDocument(buf.subarray(offset, offset + size)), offset + size];
  } catch (error) {
    throw new ProtocolError(`invalid BSON: ${(error as Error).message}`);
  }
}

/** Decodes one complete frame (as produced by FrameReader). Throws ProtocolError. */
export function decodeRequest(frame: Buffer): WireRequest {
  const length = frame.readInt32LE(0);
  if (length !== frame.length) throw new ProtocolError('frame length mismatch');
  const requestId = frame.readInt32LE(4);
  const opCode = frame.readInt32LE(12);
  if (opCode === OP_MSG) return decodeOpMsg(frame, requestId);
  if (opCode === OP_QUERY) return decodeOpQuery(frame, requestId);
  throw new ProtocolError(`unsupported opCode ${opCode}`);
}

function decodeOpMsg(frame: Buffer, requestId: number): WireRequest {
  if (frame.length < HEADER_SIZE + 5) throw new ProtocolError('OP_MSG too short');
  const flags = frame.readUInt32LE(16);
  // A trailing CRC-32C is present when checksumPresent is set; we ignore its value.
  const end = flags & FLAG_CHECKSUM_PRESENT ? frame.length - 4 : frame.length;
  let offset = 20;
  let body: Document | undefined;
  const sequences: Array<[string, Document[]]> = [];
  while (offset < end) {
    const kind = frame[offset];
    offset += 1;
    if (kind === 0) {
      if (body !== undefined) throw new ProtocolError('OP_MSG with more than one body section');
      [body, offset] = readBsonAt(frame, offset, end);
    } else if (kind === 1) {
      if (offset + 4 > end) throw new ProtocolError('truncated document sequence');
      const size = frame.readInt32LE(offset);
      const seqEnd = offset + size;
      if (size < 5 || seqEnd > end) throw new ProtocolError('invalid document sequence size');
      let [identifier, pos] = readCString(frame, offset + 4, seqEnd);
      const docs: Document[] = [];
      while (pos < seqEnd) {
        let doc: Document;
        [doc, pos] = readBsonAt(frame, pos, seqEnd);
        docs.push(doc);
      }
      sequences.push([identifier, docs]);
      offset = seqEnd;
    } else {
      throw new ProtocolError(`unknown OP_MSG section kind ${String(kind)}`);
    }
  }
  if (body === undefined) throw new ProtocolError('OP_MSG without body section');
  for (const [identifier, docs] of sequences) {
    const existing: unknown = body[identifier];
    body[identifier] = Array.isArray(existing) ? [...(existing as Document[]), ...docs] : docs;
  }
  const db = typeof body.$db === 'string' ? body.$db : 'admin';
  return {
    opCode: OP_MSG,
    requestId,
    flags,
    body,
    db,
    moreToCome: (flags & FLAG_MORE_TO_COME) !== 0,
    exhaustAllowed: (flags & FLAG_EXHAUST_ALLOWED) !== 0,
  };
}

function decodeOpQuery(frame: Buffer, requestId: number): WireRequest {
  if (frame.length < HEADER_SIZE + 4 + 1 + 8 + 5) throw new ProtocolError('OP_QUERY too short');
  const [fullCollectionName, afterName] = readCString(frame, 20, frame.length);
  let [query] = readBsonAt(frame, afterName + 8, frame.length);
  // Drivers talking to mongos may wrap the command: { $query: {...}, $readPreference }.
  if (query.$query !== undefined && typeof query.$query === 'object' && query.$query !== null) {
    query = query.$query as Document;
  }
  const dot = fullCollectionName.indexOf('.');
  const db = dot >= 0 ? fullCollectionName.slice(0, dot) : fullCollectionName;
  return { opCode: OP_QUERY, requestId, flags: 0, body: query, db, moreToCome: false, exhaustAllowed: false };
}

let nextReplyId = 1;
function replyRequestId(): number {
  nextReplyId = (nextReplyId + 1) & 0x7fffffff;
  return nextReplyId;
}

const SERIALIZE_OPTIONS = { ignoreUndefined: true, checkKeys: false } as const;

/** Encodes an OP_MSG reply. Returns the bytes and the new message's requestId. */
export function encodeOpMsg(responseTo: number, doc: Document, flags = 0): { bytes: Buffer; requestId: number } {
  const bson = BSON.serialize(doc, SERIALIZE_OPTIONS);
  const bytes = Buffer.allocUnsafe(HEADER_SIZE + 4 + 1 + bson.length);
  const requestId = replyRequestId();
  bytes.writeInt32LE(bytes.length, 0);
  bytes.writeInt32LE(requestId, 4);
  bytes.writeInt32LE(responseTo, 8);
  bytes.writeInt32LE(OP_MSG, 12);
  bytes.writeUInt32LE(flags >>> 0, 16);
  bytes.writeUInt8(0, 20);
  bytes.set(bson, 21);
  return { bytes, requestId };
}

/** Encodes an OP_REPLY (answer to a legacy OP_QUERY handshake) with one document. */
export function encodeOpReply(responseTo: number, doc: Document): { bytes: Buffer; requestId: number } {
  const bson = BSON.serialize(doc, SERIALIZE_OPTIONS);
  const bytes = Buffer.alloc(HEADER_SIZE + 20 + bson.length);
  const requestId = replyRequestId();
  bytes.writeInt32LE(bytes.length, 0);
  bytes.writeInt32LE(requestId, 4);
  bytes.writeInt32LE(responseTo, 8);
  bytes.writeInt32LE(OP_REPLY, 12);
  bytes.writeInt32LE(0, 16); // responseFlags
  bytes.writeBigInt64LE(0n, 20); // cursorID
  bytes.writeInt32LE(0, 28); // startingFrom
  bytes.writeInt32LE(1, 32); // numberReturned
  bytes.set(bson, 36);
  return { bytes, requestId };
}
