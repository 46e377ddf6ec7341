// @ts-check
/**
 * PayHub payment status for browsers and Node.js: one dependency-free ES module.
 *
 *   import { watchPayment } from '/static/payhub.js';
 *   const watch = watchPayment({ paymentId, token: subscribeToken, sessionId, onStatus: (e) => show(e.status) });
 *   const last = await watch.done;   // the terminal event (CONFIRMED, FAILED or EXPIRED)
 *
 * Transports, tried in this order (each only where the runtime has it, feature-detected):
 *  1. `sse`  Server-Sent Events, `GET /api/payments/{id}/events`. Browsers use `EventSource`
 *     (`?token=`, since EventSource cannot send headers); a runtime without it but with streaming
 *     `fetch` (Node 20) reads the same stream with `fetch` (`Authorization: Bearer`, `Last-Event-ID`).
 *  2. `ws`   the WebSocket protocol of `/ws/payments` (`subscribe` with `lastEventId`).
 *  3. `poll` long-poll of the KHQR session, `GET /khqr/sessions/{sessionId}?wait=25&after=<lastEventId>`,
 *     then `GET /api/payments/{id}` for the details; without a `sessionId`, `GET /api/payments/{id}`
 *     every `pollIntervalMs`.
 * A transport that fails `attemptsPerTransport` times in a row without delivering hands over to the
 * next one; after the last, the first is tried again. Delays between attempts grow with jitter
 * (`backoffDelay`) and are never shorter than the server's hint: the SSE `retry:` field (read by the
 * fetch reader; the browser's own EventSource applies it to its own reconnect, which is let run once
 * after a live stream drops), `Retry-After` / the envelope's `retryAfter`. A WebSocket the server closed
 * for a restart (1012, also 1001/1013) waits up to `restartSpreadMs` more, at random (`restartSpread`).
 *
 * Resume: every status event carries the id of the event log; reconnects send the last id seen
 * (`Last-Event-ID` / `?lastEventId=` / `"lastEventId"` / `after=`) and the server replays what came
 * after it. Events at or below the last id are dropped, so overlapping transports never repeat one.
 *
 * Terminal statuses (CONFIRMED, FAILED, EXPIRED) end the watch: every connection is closed, no
 * reconnect follows, `done` resolves with that event. Errors that retrying cannot fix (UNAUTHORIZED,
 * FORBIDDEN, RESOURCE_NOT_FOUND, BAD_REQUEST, in the PayHub error envelope) end it too: `done`
 * rejects with a `PayHubError`.
 *
 * Contract: docs of the push service (README "Live status", /asyncapi.json). Types: payhub.d.ts.
 */

/** @typedef {'PENDING' | 'PROCESSING' | 'CONFIRMED' | 'FAILED' | 'EXPIRED'} PaymentStatus */
/** @typedef {'sse' | 'ws' | 'poll'} Transport */
/** @typedef {'connecting' | 'live' | 'reconnecting' | 'closed'} Connection */

/**
 * The `data` of a `payment.status` event (SSE), of a `PAYMENT_STATUS` message (WebSocket), or of
 * `GET /api/payments/{id}` (long-poll).
 * @typedef {{
 *   paymentId: number,
 *   policyNumber: string,
 *   method: 'KHQR' | 'BILL' | null,
 *   status: PaymentStatus,
 *   amount: number,
 *   currency: 'USD' | 'KHR',
 *   transactionId: string | null,
 *   occurredAt: string,
 *   sentAt?: string,
 *   timestamp?: string,
 *   estimatedCompletion?: string,
 *   [key: string]: unknown
 * }} PaymentStatusData
 */

/**
 * @typedef {{
 *   id: number | null,
 *   paymentId: number,
 *   status: PaymentStatus,
 *   terminal: boolean,
 *   data: PaymentStatusData,
 *   transport: Transport,
 *   resumed: boolean
 * }} PaymentStatusEvent
 */

/**
 * @typedef {{
 *   paymentId: number | string,
 *   token: string,
 *   baseUrl?: string,
 *   eventsUrl?: string,
 *   wsUrl?: string,
 *   sessionId?: string | null,
 *   lastEventId?: number | null,
 *   transports?: Transport[],
 *   attemptsPerTransport?: number,
 *   backoff?: { baseMs?: number, maxMs?: number },
 *   restartSpreadMs?: number,
 *   longPollSeconds?: number,
 *   pollIntervalMs?: number,
 *   idleTimeoutMs?: number,
 *   onStatus?: (event: PaymentStatusEvent) => void,
 *   onConnection?: (state: Connection, transport: Transport | null) => void,
 *   onError?: (error: Error) => void,
 *   fetch?: typeof fetch,
 *   EventSource?: typeof EventSource | null,
 *   WebSocket?: typeof WebSocket | null,
 *   random?: () => number
 * }} WatchOptions
 */

export const PAYMENT_STATUSES = Object.freeze(['PENDING', 'PROCESSING', 'CONFIRMED', 'FAILED', 'EXPIRED']);
export const TERMINAL_STATUSES = Object.freeze(['CONFIRMED', 'FAILED', 'EXPIRED']);
/** Error codes that no retry can fix: the watch ends. */
export const FATAL_CODES = Object.freeze(['UNAUTHORIZED', 'FORBIDDEN', 'RESOURCE_NOT_FOUND', 'BAD_REQUEST']);

/** @param {unknown} status */
export function isTerminal(status) {
  return TERMINAL_STATUSES.includes(/** @type {string} */ (status));
}

/** An error answer of PayHub (its envelope's `error`), or a transport failure (`code` NETWORK). */
export class PayHubError extends Error {
  /**
   * @param {string} code  the envelope's `error.code` (RATE_LIMIT_EXCEEDED, …), or NETWORK
   * @param {string} message
   * @param {number} httpStatus  0 when no HTTP answer came
   * @param {Record<string, unknown> | null} [error]  the envelope's whole `error` object
   */
  constructor(code, message, httpStatus, error) {
    super(message);
    this.name = 'PayHubError';
    this.code = code;
    this.httpStatus = httpStatus;
    this.error = error || null;
    /** Seconds the server asked to wait (`Retry-After`, `retryAfter`), if it did. */
    this.retryAfter = error && typeof error.retryAfter === 'number' ? error.retryAfter : null;
  }

  get fatal() {
    return FATAL_CODES.includes(this.code);
  }
}

/**
 * Milliseconds to wait before attempt number `attempt` (0 = the first retry): a random point between
 * the floor and a ceiling that doubles with each attempt, capped at `maxMs`. The floor is the server's
 * hint (`hintMs`: SSE `retry:`, `Retry-After`) when there is one, else `baseMs`; the server's hint
 * wins over `maxMs`. Jitter spreads the reconnects of many clients that lost the same server.
 * @param {number} attempt
 * @param {{ baseMs?: number, maxMs?: number, hintMs?: number | null }} [options]
 * @param {() => number} [random]  uniform in [0, 1)
 */
export function backoffDelay(attempt, options = {}, random = Math.random) {
  const baseMs = options.baseMs ?? 1000;
  const maxMs = options.maxMs ?? 30000;
  const hint = options.hintMs && options.hintMs > 0 ? options.hintMs : 0;
  const floor = hint || Math.min(baseMs, maxMs);
  const ceiling = Math.max(floor, Math.min(maxMs, Math.max(floor, baseMs) * 2 ** (Math.max(0, attempt) + 1)));
  return Math.round(floor + random() * (ceiling - floor));
}

/** WebSocket close codes of a server going away on purpose (RFC 6455 §7.4.1: 1001 going away;
 * IANA registry: 1012 service restart, 1013 try again later): every client of that node lost it at
 * the same moment, so the next attempt is spread over `restartSpreadMs` more. */
export const RESTART_CLOSE_CODES = Object.freeze([1001, 1012, 1013]);

/**
 * Extra milliseconds before reconnecting after a WebSocket closed with `code`: uniform in
 * [0, `spreadMs`) for a restart code (`RESTART_CLOSE_CODES`), else 0. Added to `backoffDelay`.
 * @param {number | null | undefined} code
 * @param {number} [spreadMs]
 * @param {() => number} [random]  uniform in [0, 1)
 */
export function restartSpread(code, spreadMs = 5000, random = Math.random) {
  return code != null && RESTART_CLOSE_CODES.includes(code) ? Math.round(random() * Math.max(0, spreadMs)) : 0;
}

/**
 * An amount as the house shows it: the currency's decimals (USD 2, KHR 0; half-up, as
 * `hub.domain.money.quantize`), digits grouped by thousands with commas, then the currency code:
 * "150.00 USD", "600,000 KHR". The same in every language of the page.
 * @param {number | string} amount
 * @param {string} currency
 */
export function formatAmount(amount, currency) {
  return formatNumber(amount, currency) + ' ' + currency;
}

/** The number part of `formatAmount`. @param {number | string} amount @param {string} currency */
export function formatNumber(amount, currency) {
  const decimals = currency === 'KHR' ? 0 : 2;
  const text = String(amount).trim();
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m) return text; // not a plain decimal: shown as given rather than guessed at
  // Decimal text arithmetic (no binary floating point): half-up at the currency's scale.
  let digits = m[2] + (m[3] || '').padEnd(decimals + 1, '0').slice(0, decimals);
  const next = (m[3] || '').padEnd(decimals + 1, '0')[decimals];
  if (next >= '5') digits = increment(digits);
  digits = digits.replace(/^0+(?=\d)/, '').padStart(decimals + 1, '0');
  const whole = digits.slice(0, digits.length - decimals).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const negative = m[1] && /[1-9]/.test(digits) ? '-' : '';
  return negative + whole + (decimals ? '.' + digits.slice(-decimals) : '');
}

/** @param {string} digits */
function increment(digits) {
  const out = digits.split('');
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i] !== '9') {
      out[i] = String(Number(out[i]) + 1);
      return out.join('');
    }
    out[i] = '0';
  }
  return '1' + out.join('');
}

/**
 * A Server-Sent Events parser (WHATWG HTML §9.2.6 "Interpreting an event stream"): feed it text
 * chunks, it calls `onEvent` for each dispatched event and `onRetry` for each valid `retry:` field.
 * Used by the fetch transport (Node 20 has no EventSource); browsers parse natively.
 * @param {(event: { type: string, data: string, id: string }) => void} onEvent
 * @param {(ms: number) => void} [onRetry]
 */
export function sseParser(onEvent, onRetry) {
  let buffer = '';
  let data = '';
  let type = '';
  let lastId = '';
  let first = true;
  /** @param {string} line */
  function line(line) {
    if (line === '') {
      if (data) onEvent({ type: type || 'message', data: data.slice(0, -1), id: lastId });
      data = '';
      type = '';
      return;
    }
    if (line[0] === ':') return; // a comment: the heartbeat
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value[0] === ' ') value = value.slice(1);
    if (field === 'data') data += value + '\n';
    else if (field === 'event') type = value;
    else if (field === 'id' && !value.includes('\0')) lastId = value;
    else if (field === 'retry' && /^\d+$/.test(value) && onRetry) onRetry(Number(value));
  }
  return {
    /** @param {string} chunk */
    push(chunk) {
      buffer += chunk;
      if (first && buffer) {
        if (buffer[0] === '\uFEFF') buffer = buffer.slice(1);
        first = false;
      }
      // A lone CR at the end may be the first half of CRLF: keep it for the next chunk.
      const re = /\r\n|\r(?!$)|\n/g;
      let start = 0;
      let match;
      while ((match = re.exec(buffer))) {
        line(buffer.slice(start, match.index));
        start = match.index + match[0].length;
      }
      buffer = buffer.slice(start);
    },
    /** The stream ended: a CR kept back at the end was a line end after all. */
    end() {
      if (buffer.endsWith('\r')) this.push('\n');
    },
    get lastEventId() {
      return lastId;
    }
  };
}

/** @param {WatchOptions} options */
export function watchPayment(options) {
  return new PaymentWatch(options);
}

/** @type {unique symbol} */
const DONE = Symbol('done'); // the end of the iteration, in the queue
/** @typedef {PaymentStatusEvent | typeof DONE} QueueItem */

/**
 * One payment's live status over the best transport the runtime and network allow.
 * Starts at once; ends at a terminal status, a fatal error, or `close()`.
 */
export class PaymentWatch {
  /** @param {WatchOptions} options */
  constructor(options) {
    if (!options || options.paymentId === undefined || options.paymentId === null || !options.token) {
      throw new TypeError('watchPayment needs paymentId and token (the payment\u2019s subscribeToken)');
    }
    const g = /** @type {any} */ (globalThis);
    this.paymentId = Number(options.paymentId);
    this._o = options;
    this._fetch = options.fetch || g.fetch.bind(g);
    this._ES = options.EventSource === undefined ? g.EventSource : options.EventSource;
    this._WS = options.WebSocket === undefined ? g.WebSocket : options.WebSocket;
    this._random = options.random || Math.random;
    const base = options.baseUrl || (g.location && g.location.href);
    if (!base) throw new TypeError('watchPayment needs baseUrl outside a browser page');
    this._base = base;
    /** @type {Transport[]} */
    this.transports = (options.transports || ['sse', 'ws', 'poll']).filter((t) => this._available(t));
    if (!this.transports.length) throw new TypeError('no transport available in this runtime');
    /** @type {number | null} */
    this.lastEventId = options.lastEventId ?? null;
    /** @type {PaymentStatus | null} */
    this.status = null;
    /** @type {PaymentStatusEvent | null} */
    this.last = null;
    /** @type {Transport | null} */
    this.transport = null;
    /** @type {Connection} */
    this.connection = 'connecting';
    this.closed = false;
    /** Counters, for tests and diagnostics: connection attempts, openings, events delivered. */
    this.stats = { attempts: 0, opens: 0, events: 0, fallbacks: 0 };
    this._index = 0;
    this._failures = 0; // on the current transport, in a row
    this._attempt = 0; // since the last successful opening, across transports
    this._hintMs = /** @type {number | null} */ (null);
    this._dropped = false; // a connection was lost: every later event came over a resumed one
    this._timer = /** @type {any} */ (null);
    this._conn = /** @type {{ close(): void } | null} */ (null);
    this._gen = 0;
    /** @type {QueueItem[]} */
    this._queue = [];
    /** @type {((v: IteratorResult<PaymentStatusEvent>) => void) | null} */
    this._waiter = null;
    /** @type {Error | null} */
    this._error = null;
    /** @type {(v: PaymentStatusEvent | null) => void} */
    let resolve = () => {};
    /** @type {(e: Error) => void} */
    let reject = () => {};
    /** Resolves with the terminal event (null after `close()`); rejects with the fatal PayHubError. */
    this.done = /** @type {Promise<PaymentStatusEvent | null>} */ (
      new Promise((res, rej) => {
        resolve = res;
        reject = rej;
      })
    );
    this.done.catch(() => {}); // rejection is reported through done/onError; never "unhandled"
    this._resolve = resolve;
    this._reject = reject;
    this._online = () => {
      if (!this.closed && this.connection !== 'live') this.reconnect();
    };
    if (typeof g.addEventListener === 'function') g.addEventListener('online', this._online);
    this._connect();
  }

  /** Stop watching: close every connection, no reconnect; `done` resolves with null. */
  close() {
    this._finish(null, null);
  }

  /** Drop the current connection now and resume from the last event on the first transport
   * (after a network change; the `online` event of a page does this). */
  reconnect() {
    if (this.closed) return;
    this._teardown();
    this._index = 0;
    this._failures = 0;
    if (this.stats.opens) this._dropped = true;
    this._connect();
  }

  /** Status events in order until the terminal one; throws the fatal error if one ends the watch.
   * @returns {AsyncIterator<PaymentStatusEvent>} */
  [Symbol.asyncIterator]() {
    return {
      next: () => {
        const item = this._queue.shift();
        if (item === DONE) {
          this._queue.unshift(DONE);
          return this._error ? Promise.reject(this._error) : Promise.resolve({ done: true, value: undefined });
        }
        if (item) return Promise.resolve({ done: false, value: item });
        return new Promise((res, rej) => {
          this._waiter = (v) => (v.done && this._error ? rej(this._error) : res(v));
        });
      },
      return: () => {
        this.close();
        return Promise.resolve({ done: true, value: undefined });
      }
    };
  }

  // ------------------------------------------------------------------ the transport loop

  /** @param {Transport} t */
  _available(t) {
    const g = /** @type {any} */ (globalThis);
    if (t === 'sse') return !!this._ES || typeof g.ReadableStream === 'function';
    if (t === 'ws') return !!this._WS;
    return t === 'poll';
  }

  _connect() {
    if (this.closed) return;
    const gen = ++this._gen;
    const transport = this.transports[this._index];
    this.transport = transport;
    this.stats.attempts++;
    this._setConnection(this.stats.opens ? 'reconnecting' : 'connecting');
    const handlers = {
      alive: () => gen === this._gen && !this.closed,
      open: () => {
        if (gen !== this._gen) return;
        this.stats.opens++;
        this._failures = 0;
        this._attempt = 0;
        this._setConnection('live');
      },
      /** @param {number | null} id @param {PaymentStatusData} data */
      event: (id, data) => {
        if (gen === this._gen) this._onEvent(id, data, transport);
      },
      /** @param {number} ms */
      retry: (ms) => {
        this._hintMs = ms;
      },
      /** The server says nothing more will come (past a terminal status). */
      completed: () => {
        if (gen === this._gen) this._completed();
      },
      /** @param {unknown} error  the connection failed or was lost */
      failed: (error) => {
        if (gen === this._gen && !this.closed) this._failed(error);
      }
    };
    try {
      if (transport === 'sse') this._conn = this._ES ? this._eventSource(handlers) : this._fetchSse(handlers);
      else if (transport === 'ws') this._conn = this._webSocket(handlers);
      else this._conn = this._poll(handlers);
    } catch (error) {
      this._failed(error);
    }
  }

  /** @param {unknown} error */
  _failed(error) {
    this._teardown();
    if (error instanceof PayHubError && error.fatal) {
      this._finish(null, error);
      return;
    }
    if (error instanceof PayHubError && error.retryAfter) this._hintMs = error.retryAfter * 1000;
    if (this.stats.opens) this._dropped = true; // a connection was lost (not merely never made)
    this._failures++;
    const attempts = this._o.attemptsPerTransport ?? 2;
    let delay = backoffDelay(this._attempt++, { ...this._o.backoff, hintMs: this._hintMs }, this._random);
    if (error instanceof PayHubError && error.error && typeof error.error.closeCode === 'number') {
      delay += restartSpread(error.error.closeCode, this._o.restartSpreadMs, this._random);
    }
    if (this._failures >= attempts && this.transports.length > 1) {
      // This transport keeps failing: the next one at once (a different path may well work).
      this._index = (this._index + 1) % this.transports.length;
      this._failures = 0;
      this.stats.fallbacks++;
      delay = this._index === 0 ? delay : 0;
    }
    if (this._o.onError && error instanceof Error) this._safe(() => this._o.onError?.(/** @type {Error} */ (error)));
    this._setConnection('reconnecting');
    this._timer = setTimeout(() => {
      this._timer = null;
      this._connect();
    }, delay);
  }

  /** @param {number | null} id @param {PaymentStatusData} data @param {Transport} transport */
  _onEvent(id, data, transport) {
    if (this.closed || !data || typeof data !== 'object') return;
    if (data.paymentId !== undefined && Number(data.paymentId) !== this.paymentId) return;
    if (id !== null && this.lastEventId !== null && id <= this.lastEventId) return; // seen already
    if (id === null && data.status === this.status) return; // a plain poll saw nothing new
    if (id !== null) this.lastEventId = id;
    this.status = data.status;
    /** @type {PaymentStatusEvent} */
    const event = {
      id,
      paymentId: this.paymentId,
      status: data.status,
      terminal: isTerminal(data.status),
      data,
      transport,
      resumed: this._dropped
    };
    this.last = event;
    this.stats.events++;
    this._push(event);
    if (this._o.onStatus) this._safe(() => this._o.onStatus?.(event));
    if (event.terminal) this._finish(event, null);
  }

  /** The stream ended at the server's word without a terminal event here: read the final status. */
  _completed() {
    this._teardown();
    this._paymentDetails(null).then(
      (data) => {
        if (this.closed) return;
        if (isTerminal(data.status)) this._onEvent(null, data, this.transport || 'poll');
        else this._failed(new PayHubError('NETWORK', 'stream ended before a final status', 0));
      },
      (error) => this._failed(error)
    );
  }

  /** @param {PaymentStatusEvent | null} event @param {Error | null} error */
  _finish(event, error) {
    if (this.closed) return;
    this.closed = true;
    this._teardown();
    const g = /** @type {any} */ (globalThis);
    if (typeof g.removeEventListener === 'function') g.removeEventListener('online', this._online);
    this._setConnection('closed');
    if (error) {
      this._error = error;
      if (this._o.onError) this._safe(() => this._o.onError?.(error));
      this._reject(error);
    } else {
      this._resolve(event);
    }
    this._push(DONE);
  }

  _teardown() {
    this._gen++;
    clearTimeout(this._timer);
    this._timer = null;
    const conn = this._conn;
    this._conn = null;
    if (conn) this._safe(() => conn.close());
  }

  /** @param {QueueItem} item */
  _push(item) {
    const waiter = this._waiter;
    if (waiter) {
      this._waiter = null;
      waiter(item === DONE ? { done: true, value: undefined } : { done: false, value: item });
      if (item === DONE) this._queue.push(DONE);
    } else {
      this._queue.push(item);
    }
  }

  /** @param {Connection} state */
  _setConnection(state) {
    if (this.connection === state && state !== 'live') return;
    this.connection = state;
    if (this._o.onConnection) this._safe(() => this._o.onConnection?.(state, this.transport));
  }

  /** A listener that throws must not break the watch. @param {() => void} fn */
  _safe(fn) {
    try {
      fn();
    } catch (error) {
      setTimeout(() => {
        throw error;
      }); // reported as an uncaught error, outside the watch
    }
  }

  // ------------------------------------------------------------------ URLs and HTTP

  /** @param {string} path */
  _url(path) {
    return new URL(path, this._base);
  }

  _eventsUrl() {
    return this._url(this._o.eventsUrl || '/api/payments/' + this.paymentId + '/events');
  }

  _wsUrl() {
    const url = this._url(this._o.wsUrl || '/ws/payments');
    if (url.protocol === 'http:') url.protocol = 'ws:';
    else if (url.protocol === 'https:') url.protocol = 'wss:';
    return url;
  }

  /**
   * GET with the token as bearer; resolves with the envelope's `data`, rejects with PayHubError.
   * @param {URL} url @param {AbortSignal} [signal]
   */
  async _get(url, signal) {
    let res;
    try {
      res = await this._fetch(url.href, {
        headers: { Accept: 'application/json', Authorization: 'Bearer ' + this._o.token },
        cache: 'no-store',
        signal
      });
    } catch (cause) {
      throw new PayHubError('NETWORK', 'no connection to PayHub: ' + String(cause), 0);
    }
    return envelope(res);
  }

  /** @param {AbortSignal | null} signal */
  _paymentDetails(signal) {
    return /** @type {Promise<PaymentStatusData>} */ (
      this._get(this._url('/api/payments/' + this.paymentId), signal || undefined)
    );
  }

  // ------------------------------------------------------------------ transports

  /** @param {any} h */
  _eventSource(h) {
    const url = this._eventsUrl();
    url.searchParams.set('token', this._o.token);
    if (this.lastEventId !== null) url.searchParams.set('lastEventId', String(this.lastEventId));
    const ES = /** @type {typeof EventSource} */ (this._ES);
    const es = new ES(url.href);
    let opened = false;
    let nativeRetry = false;
    es.onopen = () => {
      if (!h.alive()) return;
      opened = true;
      nativeRetry = false;
      h.open();
    };
    es.addEventListener('payment.status', (ev) => {
      if (!h.alive()) return;
      const message = /** @type {MessageEvent} */ (ev);
      let data;
      try {
        data = JSON.parse(message.data);
      } catch (e) {
        return;
      }
      h.event(toId(message.lastEventId), data);
    });
    es.onerror = () => {
      if (!h.alive()) return;
      if (es.readyState === 1) return;
      // A live stream that drops: the browser reconnects once by itself, after the server's `retry:`
      // interval and with Last-Event-ID. Anything else (never opened, that retry failed, an HTTP
      // error or a 204, which close the EventSource) is ours to handle.
      if (opened && !nativeRetry && es.readyState === 0) {
        nativeRetry = true;
        this._dropped = true;
        this._setConnection('reconnecting');
        return;
      }
      es.close();
      h.failed(new PayHubError('NETWORK', 'event stream failed', 0));
    };
    return es;
  }

  /** SSE read with streaming fetch (runtimes without EventSource). @param {any} h */
  _fetchSse(h) {
    const ctrl = new AbortController();
    const url = this._eventsUrl();
    /** @type {Record<string, string>} */
    const headers = { Accept: 'text/event-stream', Authorization: 'Bearer ' + this._o.token };
    if (this.lastEventId !== null) headers['Last-Event-ID'] = String(this.lastEventId);
    /** @type {ReadableStreamDefaultReader<Uint8Array> | null} */
    let reader = null;
    /** @type {any} */
    let idle = null;
    (async () => {
      let res;
      try {
        res = await this._fetch(url.href, { headers, cache: 'no-store', signal: ctrl.signal });
      } catch (cause) {
        throw new PayHubError('NETWORK', 'no connection to PayHub: ' + String(cause), 0);
      }
      if (res.status === 204) return 'completed';
      const type = res.headers.get('content-type') || '';
      if (!res.ok || !type.startsWith('text/event-stream')) {
        await envelope(res); // throws the server's error
        throw new PayHubError('NETWORK', 'not an event stream', res.status);
      }
      if (!res.body) throw new PayHubError('NETWORK', 'no stream body', res.status);
      h.open();
      const parser = sseParser(
        (ev) => {
          if (ev.type !== 'payment.status' || !h.alive()) return;
          let data;
          try {
            data = JSON.parse(ev.data);
          } catch (e) {
            return;
          }
          h.event(toId(ev.id), data);
        },
        (ms) => h.retry(ms)
      );
      const stream = res.body.getReader();
      reader = stream;
      const decoder = new TextDecoder();
      // The server writes a heartbeat comment every 15 s: a stream silent for longer than
      // idleTimeoutMs is a dead connection that no error will ever report.
      const idleMs = this._o.idleTimeoutMs ?? 35000;
      try {
        while (h.alive()) {
          idle = setTimeout(() => ctrl.abort(), idleMs);
          const { value, done } = await stream.read();
          clearTimeout(idle);
          if (done) break;
          parser.push(decoder.decode(value, { stream: true }));
        }
      } finally {
        clearTimeout(idle);
      }
      parser.end();
      return 'ended';
    })().then(
      (how) => {
        if (!h.alive()) return;
        if (how === 'completed') h.completed();
        else h.failed(new PayHubError('NETWORK', 'event stream ended', 0)); // a drop: resume
      },
      (error) => {
        if (h.alive()) h.failed(error);
      }
    );
    return {
      close: () => {
        // Everything this connection holds goes: a pending read, the socket, the idle timer
        // (a runtime such as Node.js would otherwise stay up for it).
        clearTimeout(idle);
        ctrl.abort();
        if (reader) reader.cancel().catch(() => {});
      }
    };
  }

  /** @param {any} h */
  _webSocket(h) {
    const WS = /** @type {typeof WebSocket} */ (this._WS);
    const ws = new WS(this._wsUrl().href);
    let failed = false;
    /** @param {unknown} error */
    const fail = (error) => {
      if (failed) return;
      failed = true;
      this._safe(() => ws.close());
      h.failed(error);
    };
    ws.onopen = () => {
      /** @type {Record<string, unknown>} */
      const subscribe = { type: 'subscribe', paymentId: this.paymentId, token: this._o.token };
      if (this.lastEventId !== null) subscribe.lastEventId = this.lastEventId;
      ws.send(JSON.stringify(subscribe));
    };
    ws.onmessage = (ev) => {
      if (!h.alive()) return;
      let message;
      try {
        message = JSON.parse(String(ev.data));
      } catch (e) {
        return;
      }
      if (!message || (message.paymentId !== undefined && Number(message.paymentId) !== this.paymentId)) return;
      if (message.type === 'SUBSCRIBED') h.open();
      else if (message.type === 'PAYMENT_STATUS') h.event(toId(message.id), message.data);
      else if (message.type === 'COMPLETED') {
        failed = true;
        this._safe(() => ws.close());
        h.completed();
      } else if (message.type === 'ERROR') {
        const e = message.error || {};
        fail(new PayHubError(e.code || 'ERROR', e.message || 'subscription refused', 0, e));
      }
    };
    ws.onclose = (ev) => {
      const closeCode = ev && typeof ev.code === 'number' ? ev.code : null;
      if (h.alive()) fail(new PayHubError('NETWORK', 'websocket closed', 0, { closeCode }));
    };
    return {
      close: () => {
        failed = true;
        ws.close();
      }
    };
  }

  /** @param {any} h */
  _poll(h) {
    const ctrl = new AbortController();
    const sessionId = this._o.sessionId;
    const wait = this._o.longPollSeconds ?? 25;
    const interval = this._o.pollIntervalMs ?? 3000;
    (async () => {
      let opened = false;
      while (h.alive()) {
        if (sessionId) {
          const after = this.lastEventId ?? 0;
          const url = this._url('/khqr/sessions/' + encodeURIComponent(sessionId));
          url.searchParams.set('wait', String(wait));
          url.searchParams.set('after', String(after));
          const session = await this._get(url, ctrl.signal);
          if (!opened && h.alive()) h.open();
          opened = true;
          if (session.lastEventId > after || session.status !== 'PENDING') {
            // The session says something happened; the payment holds the details (transaction id, times).
            const before = this.stats.events;
            const data = await this._paymentDetails(ctrl.signal);
            if (session.status === 'EXPIRED' && data.status === 'PENDING') data.status = 'EXPIRED';
            let id = toId(session.lastEventId);
            // An expiry the session saw before its event was written: no new id, a new status.
            if (id !== null && this.lastEventId !== null && id <= this.lastEventId) id = null;
            if (h.alive()) h.event(id, data);
            // Nothing new after all (the session answered at once): do not ask again at once.
            if (this.stats.events === before) await sleep(interval, ctrl.signal);
          }
        } else {
          const data = await this._paymentDetails(ctrl.signal);
          if (!opened && h.alive()) h.open();
          opened = true;
          if (h.alive()) h.event(null, data);
          await sleep(interval, ctrl.signal);
        }
      }
    })().catch((error) => {
      if (h.alive()) h.failed(error);
    });
    return { close: () => ctrl.abort() };
  }
}

/** @param {number} ms @param {AbortSignal} signal */
function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
}

/** @param {unknown} raw */
function toId(raw) {
  if (raw === null || raw === undefined || raw === '') return null;
  const id = Number(raw);
  return Number.isSafeInteger(id) && id >= 0 ? id : null;
}

/** The PayHub envelope: `data` of a success, else a PayHubError from `error`. @param {Response} res */
async function envelope(res) {
  /** @type {any} */
  let body = null;
  try {
    body = await res.json();
  } catch (e) {
    body = null;
  }
  if (res.ok && body && body.success) return body.data;
  const e = (body && body.error) || {};
  const retryHeader = Number(res.headers.get('retry-after'));
  if (e.retryAfter === undefined && Number.isFinite(retryHeader) && retryHeader > 0) e.retryAfter = retryHeader;
  throw new PayHubError(e.code || 'HTTP_' + res.status, e.message || 'HTTP ' + res.status, res.status, e);
}
