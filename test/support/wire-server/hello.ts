/**
 * hello / isMaster replies (the handshake and monitoring heartbeats).
 * The awaitable (streaming) variant is timed by connection.ts; this module
 * only builds the reply document.
 */
import type { Document } from 'bson';
import type { CommandContext, CommandHandler } from './command-context.js';
import { MAX_BSON_OBJECT_SIZE, MAX_MESSAGE_SIZE_BYTES } from './protocol.js';
import { binaryBytes, isPlainObject } from './values.js';

export const HELLO_NAMES = new Set(['hello', 'isMaster', 'ismaster']);

export function isHelloCommand(name: string): boolean {
  return HELLO_NAMES.has(name);
}

/** Remembers what the client said about itself in its first hello. */
function recordClientMetadata(ctx: CommandContext): void {
  const client: unknown = ctx.body.client;
  if (!isPlainObject(client) || ctx.conn.record.clientMetadata !== undefined) return;
  ctx.conn.record.clientMetadata = client;
  const application: unknown = client.application;
  if (isPlainObject(application) && typeof application.name === 'string') ctx.conn.record.appName = application.name;
}

export const hello: CommandHandler = (ctx) => {
  const { state, body } = ctx;
  recordClientMetadata(ctx);
  const reply: Document = {
    helloOk: true,
    isWritablePrimary: true,
  };
  // legacy isMaster replies carry `ismaster` instead of `isWritablePrimary`
  if (ctx.name !== 'hello') {
    delete reply.isWritablePrimary;
    reply.ismaster = true;
  }
  reply.topologyVersion = state.topologyVersion();
  reply.maxBsonObjectSize = MAX_BSON_OBJECT_SIZE;
  reply.maxMessageSizeBytes = MAX_MESSAGE_SIZE_BYTES;
  reply.maxWriteBatchSize = 100000;
  reply.localTime = new Date();
  reply.logicalSessionTimeoutMinutes = state.options.logicalSessionTimeoutMinutes;
  reply.connectionId = ctx.conn.id;
  reply.minWireVersion = 0;
  reply.maxWireVersion = 21;
  reply.readOnly = false;
  if (state.replicaSet) {
    Object.assign(reply, {
      hosts: [state.advertised],
      setName: state.options.replicaSetName,
      setVersion: 1,
      secondary: false,
      primary: state.advertised,
      me: state.advertised,
      electionId: state.electionId,
      lastWrite: state.lastWrite(),
    });
  }
  if (typeof body.saslSupportedMechs === 'string') {
    const mechs = state.scram.supportedMechanisms(body.saslSupportedMechs);
    if (mechs) reply.saslSupportedMechs = mechs;
  }
  const speculative = speculativeAuthenticate(ctx);
  if (speculative) reply.speculativeAuthenticate = speculative;
  reply.ok = 1;
  return reply;
};

/** Runs the saslStart carried in hello.speculativeAuthenticate; omitted (undefined) when it fails. */
function speculativeAuthenticate(ctx: CommandContext): Document | undefined {
  const spec: unknown = ctx.body.speculativeAuthenticate;
  if (!isPlainObject(spec) || spec.saslStart === undefined) return undefined;
  const payload = binaryBytes(spec.payload);
  if (payload === undefined) return undefined;
  const db = typeof spec.db === 'string' ? spec.db : 'admin';
  try {
    const started = ctx.state.scram.start(db, spec.mechanism, payload);
    ctx.conn.sasl.set(started.conversation.conversationId, started.conversation);
    return { conversationId: started.conversation.conversationId, done: false, payload: started.payload };
  } catch {
    return undefined;
  }
}
