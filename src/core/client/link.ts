/**
 * What the driver measured about the link to the server, for the freeze/thaw probe: the round-trip time its
 * monitor saw (SDAM heartbeats, a public monitoring event the driver emits whether or not anybody listens; one
 * every `heartbeatFrequencyMS`), and how many round trips a new connection costs with these options.
 */
import type { MongoClient, ServerClosedEvent, ServerHeartbeatSucceededEvent, ServerOpeningEvent } from 'mongodb';

/** How many recent round trips the estimate is taken from (their minimum). */
const RTT_SAMPLES = 5;

export class LinkWatch {
  readonly #samples: number[] = [];
  readonly #servers = new Set<string>();
  /**
   * Round trips of a command over a new connection: TCP connect, TLS 1.3 (one round trip), hello (carrying the
   * first authentication step where speculative authentication applies), the rest of the authentication
   * conversation, then the command itself.
   */
  readonly newConnectionRoundTrips: number;

  constructor(client: MongoClient) {
    client.on('serverHeartbeatSucceeded', (event: ServerHeartbeatSucceededEvent) => this.sample(event.duration));
    client.on('serverOpening', (event: ServerOpeningEvent) => this.#servers.add(event.address));
    client.on('serverClosed', (event: ServerClosedEvent) => this.#servers.delete(event.address));
    const { tls, credentials } = client.options;
    this.newConnectionRoundTrips = 1 + (tls ? 1 : 0) + 1 + (credentials && credentials.mechanism !== 'MONGODB-X509' ? 1 : 0) + 1;
  }

  /** A measured round trip (ms): a heartbeat, or a probe that went over an existing connection. */
  sample(durationMs: number): void {
    if (!Number.isFinite(durationMs) || durationMs < 0) return;
    this.#samples.push(durationMs);
    if (this.#samples.length > RTT_SAMPLES) this.#samples.shift();
  }

  /** The servers the client monitors (each with a monitor socket, and a pool when used). */
  get servers(): number {
    return this.#servers.size;
  }

  /**
   * The round-trip time to the server (ms), the smallest of the recent samples; 0 before the first. The
   * monitor's first heartbeat includes its own connect, so early estimates err on the long side.
   */
  get roundTripMs(): number {
    return this.#samples.length === 0 ? 0 : Math.min(...this.#samples);
  }
}
