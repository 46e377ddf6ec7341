/**
 * Types of payhub.js, the PayHub payment-status client (browsers and Node.js 20+).
 * The module documents its behaviour; these are its shapes.
 */

export type PaymentStatus = 'PENDING' | 'PROCESSING' | 'CONFIRMED' | 'FAILED' | 'EXPIRED';
export type TerminalStatus = 'CONFIRMED' | 'FAILED' | 'EXPIRED';
export type Transport = 'sse' | 'ws' | 'poll';
export type Connection = 'connecting' | 'live' | 'reconnecting' | 'closed';

/** `data` of a `payment.status` SSE event, a `PAYMENT_STATUS` WebSocket message, or `GET /api/payments/{id}`. */
export interface PaymentStatusData {
  paymentId: number;
  policyNumber: string;
  method: 'KHQR' | 'BILL' | null;
  status: PaymentStatus;
  /** At the currency's scale (USD 2 decimals, KHR 0); format it with `formatAmount`. */
  amount: number;
  currency: 'USD' | 'KHR';
  /** The bank's transaction id, once known. */
  transactionId: string | null;
  /** When the status changed (ISO 8601). */
  occurredAt: string;
  /** When this frame left the server (ISO 8601); absent on the long-poll path. */
  sentAt?: string;
  timestamp?: string;
  estimatedCompletion?: string;
  [key: string]: unknown;
}

export interface PaymentStatusEvent {
  /** The event log id (the resume cursor); null when a plain poll could not tell it. */
  id: number | null;
  paymentId: number;
  status: PaymentStatus;
  /** CONFIRMED, FAILED or EXPIRED: the last event of the watch. */
  terminal: boolean;
  data: PaymentStatusData;
  /** How it arrived. */
  transport: Transport;
  /** It came after the watch lost a connection and resumed from its cursor (the event log). */
  resumed: boolean;
}

export interface BackoffOptions {
  /** Floor of the delays when the server gave no hint (default 1000 ms). */
  baseMs?: number;
  /** Cap of the growing ceiling (default 30000 ms); a larger server hint still wins. */
  maxMs?: number;
}

export interface WatchOptions {
  /** The payment (`paymentId` of `GET /khqr` or of the inquiry). */
  paymentId: number | string;
  /** Its `subscribeToken` (or an admin token). */
  token: string;
  /** PayHub's origin; defaults to the page's location (required in Node.js). */
  baseUrl?: string;
  /** `eventsUrl` of the answer (default `/api/payments/{id}/events`), relative to `baseUrl`. */
  eventsUrl?: string;
  /** `wsUrl` of the answer (default `/ws/payments`); http(s) is turned into ws(s). */
  wsUrl?: string;
  /** The KHQR `sessionId`: enables the long-poll path; without it polling reads the payment. */
  sessionId?: string | null;
  /** Resume after this event id (events up to it are not delivered again). */
  lastEventId?: number | null;
  /** Order of transports to try (default `['sse', 'ws', 'poll']`); unavailable ones are skipped. */
  transports?: Transport[];
  /** Failures in a row before the next transport is tried (default 2). */
  attemptsPerTransport?: number;
  backoff?: BackoffOptions;
  /** After a WebSocket closed with a restart code (1001, 1012, 1013): up to this many ms more before the
   * reconnect, at random (default 5000), so the clients of a restarting node do not return together. */
  restartSpreadMs?: number;
  /** `wait` of the long-poll (default 25 s, the server allows up to 60). */
  longPollSeconds?: number;
  /** Period of the plain poll without a session (default 3000 ms). */
  pollIntervalMs?: number;
  /** The fetch-read stream is reconnected after this long without a byte (default 35000 ms: the
   * server's heartbeat is 15 s). Browsers' EventSource does not show heartbeats, so it has no such check. */
  idleTimeoutMs?: number;
  onStatus?: (event: PaymentStatusEvent) => void;
  onConnection?: (state: Connection, transport: Transport | null) => void;
  /** Every failure (transient ones too, the watch goes on); the fatal one also rejects `done`. */
  onError?: (error: Error) => void;
  /** Replacements for the runtime's globals (tests, or polyfills); `null` disables a transport. */
  fetch?: typeof fetch;
  EventSource?: typeof EventSource | null;
  WebSocket?: typeof WebSocket | null;
  /** Uniform in [0, 1), for the jitter (default Math.random). */
  random?: () => number;
}

export declare const PAYMENT_STATUSES: readonly PaymentStatus[];
export declare const TERMINAL_STATUSES: readonly TerminalStatus[];
export declare const FATAL_CODES: readonly string[];

export declare function isTerminal(status: unknown): boolean;

export declare class PayHubError extends Error {
  constructor(code: string, message: string, httpStatus: number, error?: Record<string, unknown> | null);
  /** The envelope's `error.code` (UNAUTHORIZED, RATE_LIMIT_EXCEEDED, …) or NETWORK. */
  readonly code: string;
  /** HTTP status, 0 when no HTTP answer came. */
  readonly httpStatus: number;
  /** The envelope's whole `error` object (`correlationId`, `details`, …). */
  readonly error: Record<string, unknown> | null;
  /** Seconds the server asked to wait, if it did. */
  readonly retryAfter: number | null;
  /** No retry can fix it (one of FATAL_CODES). */
  readonly fatal: boolean;
}

/** Delay before retry number `attempt` (0-based): uniform between the floor (server hint, else baseMs) and a doubling ceiling. */
export declare function backoffDelay(
  attempt: number,
  options?: { baseMs?: number; maxMs?: number; hintMs?: number | null },
  random?: () => number
): number;

/** WebSocket close codes of a server going away on purpose (1001, 1012 service restart, 1013). */
export declare const RESTART_CLOSE_CODES: readonly number[];

/** Extra delay after a WebSocket close: uniform in [0, spreadMs) for a restart code, else 0. */
export declare function restartSpread(code: number | null | undefined, spreadMs?: number, random?: () => number): number;

/** "150.00 USD", "600,000 KHR": the currency's decimals (half-up), thousands grouped, code last. */
export declare function formatAmount(amount: number | string, currency: string): string;
export declare function formatNumber(amount: number | string, currency: string): string;

/** Incremental Server-Sent Events parser (WHATWG HTML "Interpreting an event stream"). */
export declare function sseParser(
  onEvent: (event: { type: string; data: string; id: string }) => void,
  onRetry?: (ms: number) => void
): { push(chunk: string): void; end(): void; readonly lastEventId: string };

export declare function watchPayment(options: WatchOptions): PaymentWatch;

export declare class PaymentWatch implements AsyncIterable<PaymentStatusEvent> {
  constructor(options: WatchOptions);
  readonly paymentId: number;
  /** Transports this runtime has, in the order they are tried. */
  readonly transports: Transport[];
  /** The last event id seen (the resume cursor). */
  readonly lastEventId: number | null;
  readonly status: PaymentStatus | null;
  readonly last: PaymentStatusEvent | null;
  /** The transport in use (or being tried). */
  readonly transport: Transport | null;
  readonly connection: Connection;
  readonly closed: boolean;
  readonly stats: { attempts: number; opens: number; events: number; fallbacks: number };
  /** The terminal event; null after `close()`; rejects with the fatal PayHubError. */
  readonly done: Promise<PaymentStatusEvent | null>;
  /** Stop: close every connection, no reconnect. */
  close(): void;
  /** Drop the connection now and resume from the last event on the first transport. */
  reconnect(): void;
  [Symbol.asyncIterator](): AsyncIterator<PaymentStatusEvent>;
}
