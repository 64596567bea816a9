/**
 * One client socket: framing, recording, fail points, blackhole mode,
 * awaitable (streaming) hello and exhaust replies.
 *
 * Nothing here may throw out of a socket callback: protocol errors close the
 * socket, everything else is turned into an error reply by executeCommand.
 */
import type { Socket } from 'node:net';
import type { Document } from 'bson';
import type { ConnectionInfo } from './command-context.js';
import { commandMeta, executeCommand, finishReply, type CommandMeta } from './commands.js';
import { CODE_NAMES } from './errors.js';
import { isHelloCommand } from './hello.js';
import { FLAG_MORE_TO_COME, FrameReader, OP_QUERY, decodeRequest, encodeOpMsg, encodeOpReply, type WireRequest } from './protocol.js';
import type { ServerState } from './state.js';
import type { FailPoint, RecordedCommand } from './types.js';
import { toNumber } from './values.js';

/** How long closeAll() waits for the client to close its side before destroying the socket. */
const GRACEFUL_CLOSE_TIMEOUT_MS = 1000;

export class WireConnection {
  readonly info: ConnectionInfo;
  private readonly reader = new FrameReader();
  private closed = false;
  /** set by closeAll(): FIN sent; requests arriving afterwards are recorded but not answered */
  private ending = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly unsubscribers = new Set<() => void>();
  private resolveClosed: () => void = () => undefined;
  /** resolves once the socket has closed and the connection is cleaned up */
  readonly whenClosed = new Promise<void>((resolve) => {
    this.resolveClosed = resolve;
  });

  constructor(
    private readonly socket: Socket,
    private readonly state: ServerState,
    private readonly onClosed: (conn: WireConnection) => void,
  ) {
    const id = state.allocateConnectionId();
    const record = { id, remotePort: socket.remotePort ?? 0, openedAt: Date.now() };
    state.connections.push(record);
    this.info = { id, record, remoteAddress: socket.remoteAddress ?? '127.0.0.1', sasl: new Map(), awsSasl: new Map(), authenticatedUsers: [] };
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {
      // ECONNRESET/EPIPE etc.: 'close' follows and does the cleanup
    });
    socket.on('close', () => this.cleanup());
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** Graceful close: send FIN; destroy if the peer has not closed within a second. */
  end(): void {
    if (this.closed || this.ending) return;
    this.ending = true;
    this.clearPending();
    this.socket.end();
    this.setTimer(() => this.socket.destroy(), GRACEFUL_CLOSE_TIMEOUT_MS);
  }

  /** Abortive close: RST. */
  reset(): void {
    if (this.closed) return;
    this.clearPending();
    try {
      this.socket.resetAndDestroy();
    } catch {
      this.socket.destroy();
    }
  }

  destroy(): void {
    if (this.closed) return;
    this.clearPending();
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    let frames: Buffer[];
    try {
      frames = this.reader.push(chunk);
    } catch {
      this.destroy(); // impossible length prefix: nothing sane can follow
      return;
    }
    for (const frame of frames) {
      if (this.closed) return;
      let request: WireRequest;
      try {
        request = decodeRequest(frame);
      } catch {
        this.destroy();
        return;
      }
      try {
        this.handleRequest(request);
      } catch {
        // executeCommand never throws; this guards recording/encoding bugs
        this.destroy();
        return;
      }
    }
  }

  private handleRequest(request: WireRequest): void {
    const meta = commandMeta(request.body, request.db);
    this.record(meta, request.body);
    // still recorded but never answered: blackhole mode, or a socket closeAll() already half-closed
    if (this.state.blackholed || this.ending) return;

    const failPoint = this.state.takeFailPoint(meta.name);
    if (failPoint !== undefined) {
      this.fireFailPoint(request, meta, failPoint);
      return;
    }
    if (isHelloCommand(meta.name) && request.body.topologyVersion !== undefined && request.body.maxAwaitTimeMS !== undefined) {
      this.awaitableHello(request, meta);
      return;
    }
    this.execute(request, meta);
  }

  private execute(request: WireRequest, meta: CommandMeta): void {
    const reply = executeCommand(this.state, this.info, request.body, meta);
    if (reply instanceof Promise) {
      // an asynchronous handler (MONGODB-AWS verification): answered when it settles (executeCommand never rejects)
      void reply.then((settled) => this.send(request, request.requestId, settled));
      return;
    }
    this.send(request, request.requestId, reply);
  }

  private record(meta: CommandMeta, body: Document): void {
    const entry: RecordedCommand = { name: meta.name, db: meta.db, body, connectionId: this.info.id, at: Date.now() };
    if (meta.lsid !== undefined) entry.lsid = meta.lsid;
    if (meta.txnNumber !== undefined) entry.txnNumber = meta.txnNumber;
    if (meta.autocommit !== undefined) entry.autocommit = meta.autocommit;
    if (meta.startTransaction !== undefined) entry.startTransaction = meta.startTransaction;
    (isHelloCommand(meta.name) ? this.state.heartbeats : this.state.commands).push(entry);
  }

  private fireFailPoint(request: WireRequest, meta: CommandMeta, fp: FailPoint): void {
    if (fp.closeConnection === true) {
      this.destroy();
      return;
    }
    if (fp.hang === true) {
      this.hangUntilKilled(request, meta.lsid);
      return;
    }
    if (fp.hold !== undefined) {
      // run and answered as usual once the test lets it go, unless the socket closed meanwhile
      void fp.hold.then(() => {
        if (!this.closed) this.execute(request, meta);
      });
      return;
    }
    const reply: Document = {
      ok: 0,
      errmsg: fp.errmsg ?? `Failing command via 'failNext' fail point`,
      code: fp.code,
      codeName: fp.codeName ?? CODE_NAMES[fp.code] ?? 'UnknownError',
    };
    if (fp.errorLabels !== undefined && fp.errorLabels.length > 0) reply.errorLabels = [...fp.errorLabels];
    // The current topologyVersion makes the driver treat state-change errors
    // (NotWritablePrimary, ...) as stale for SDAM: it retries at once instead of
    // marking the server Unknown and waiting for the next heartbeat.
    reply.topologyVersion = this.state.topologyVersion();
    this.send(request, request.requestId, finishReply(this.state, reply));
  }

  /** Fail point `hang`: no answer until a killSessions names the command's lsid (then 11601), or the socket closes. */
  private hangUntilKilled(request: WireRequest, lsid: string | undefined): void {
    if (lsid === undefined) return; // nothing can name it: it hangs until the socket closes
    let forget: (() => void) | undefined;
    const interrupt = (): void => {
      if (forget !== undefined) this.unsubscribers.delete(forget);
      const reply: Document = { ok: 0, errmsg: 'operation was interrupted', code: 11601, codeName: 'Interrupted' };
      this.send(request, request.requestId, finishReply(this.state, reply));
    };
    forget = this.state.hang(lsid, interrupt);
    this.unsubscribers.add(forget);
  }

  /**
   * Streaming monitoring: answer when the topology version changes or after
   * maxAwaitTimeMS. With exhaustAllowed, reply with moreToCome and keep
   * streaming a reply every period until the socket closes.
   */
  private awaitableHello(request: WireRequest, meta: CommandMeta): void {
    const maxAwait = Math.max(0, toNumber(request.body.maxAwaitTimeMS) ?? 0);
    const exhaust = request.exhaustAllowed && request.opCode !== OP_QUERY;
    const cycle = (responseTo: number, clientVersion: unknown): void => {
      let timer: NodeJS.Timeout | undefined;
      let unsubscribe: (() => void) | undefined;
      let done = false;
      const respond = (): void => {
        if (done) return;
        done = true;
        if (timer !== undefined) this.clearTimer(timer);
        if (unsubscribe !== undefined) {
          unsubscribe();
          this.unsubscribers.delete(unsubscribe);
        }
        // dropped while blackholed (and the stream stops), like any other request
        if (this.closed || this.ending || this.state.blackholed) return;
        // hello is synchronous
        const reply = executeCommand(this.state, this.info, request.body, meta) as Document;
        const more = exhaust && reply.ok === 1;
        const sentId = this.send(request, responseTo, reply, more ? FLAG_MORE_TO_COME : 0);
        if (more && sentId !== undefined) cycle(sentId, reply.topologyVersion);
      };
      if (this.state.isStaleTopologyVersion(clientVersion)) {
        // a changed topology is reported immediately (but asynchronously, never recursively)
        timer = this.setTimer(respond, 0);
        return;
      }
      timer = this.setTimer(respond, maxAwait);
      unsubscribe = this.state.onTopologyChange(respond);
      this.unsubscribers.add(unsubscribe);
    };
    cycle(request.requestId, request.body.topologyVersion);
  }

  /** Writes a reply; returns its requestId, or undefined when nothing was sent. */
  private send(request: WireRequest, responseTo: number, reply: Document, flags = 0): number | undefined {
    if (request.moreToCome) return undefined; // e.g. w:0 writes: the client expects no reply
    if (this.closed || this.ending || this.state.blackholed || this.socket.destroyed || !this.socket.writable) return undefined;
    const { bytes, requestId } = request.opCode === OP_QUERY ? encodeOpReply(responseTo, reply) : encodeOpMsg(responseTo, reply, flags);
    this.socket.write(bytes);
    return requestId;
  }

  private setTimer(fn: () => void, ms: number): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      try {
        fn();
      } catch {
        this.destroy();
      }
    }, ms);
    timer.unref();
    this.timers.add(timer);
    return timer;
  }

  private clearTimer(timer: NodeJS.Timeout): void {
    clearTimeout(timer);
    this.timers.delete(timer);
  }

  /** Cancels awaitable hellos / exhaust streams. */
  private clearPending(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const unsubscribe of this.unsubscribers) unsubscribe();
    this.unsubscribers.clear();
  }

  private cleanup(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearPending();
    this.info.sasl.clear();
    this.info.awsSasl.clear();
    this.info.record.closedAt = Date.now();
    this.onClosed(this);
    this.resolveClosed();
  }
}
