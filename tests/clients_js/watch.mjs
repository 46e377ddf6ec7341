// Watches one payment with clients/js/payhub.js in Node.js (no EventSource, no WebSocket in Node 20)
// and reports as JSON lines on stdout: {"ready": …} once watching, {"event": …} per status event,
// then {"done": …} or {"failed": …} and {"after": n}: HTTP requests made in the 600 ms after the end.
// argv[2]: JSON {baseUrl, paymentId, token, sessionId?, eventsUrl?, transports?, blockEvents?, lastEventId?}
// blockEvents: every request to /events fails as a refused connection would.
import { watchPayment } from '../../clients/js/payhub.js';

const o = JSON.parse(process.argv[2]);
const out = (x) => process.stdout.write(JSON.stringify(x) + '\n');
let requests = 0;
const realFetch = globalThis.fetch;
const fetchImpl = (url, init) => {
  requests++;
  if (o.blockEvents && String(url).includes('/events')) return Promise.reject(new TypeError('fetch failed'));
  return realFetch(url, init);
};
const watch = watchPayment({
  baseUrl: o.baseUrl,
  paymentId: o.paymentId,
  token: o.token,
  sessionId: o.sessionId,
  eventsUrl: o.eventsUrl,
  transports: o.transports,
  lastEventId: o.lastEventId,
  pollIntervalMs: o.pollIntervalMs,
  backoff: { baseMs: 200, maxMs: 1000 },
  fetch: fetchImpl,
  onConnection: (state, transport) => {
    if (state === 'live') out({ ready: transport });
  }
});
out({ transports: watch.transports });
try {
  for await (const e of watch) {
    out({ event: { id: e.id, status: e.status, transport: e.transport, resumed: e.resumed, data: e.data } });
  }
  const last = await watch.done;
  out({ done: last && last.status, stats: watch.stats });
} catch (e) {
  out({ failed: e.code, httpStatus: e.httpStatus, fatal: e.fatal });
}
const before = requests;
await new Promise((r) => setTimeout(r, 600)); // longer than a retry delay (backoff 200 ms)
out({ after: requests - before });
