// A stream that goes silent: payhub.js must notice (idleTimeoutMs), wait at least the server's
// retry: hint, and reopen with Last-Event-ID. A local node:http server plays the push service.
// Prints one JSON object: the requests it saw and what the watch ended with.
import http from 'node:http';
import { watchPayment } from '../../clients/js/payhub.js';

const HINT = 400;
const IDLE = 300;
const seen = [];
let silentSince = 0;
const server = http.createServer((req, res) => {
  seen.push({ at: Date.now(), lastEventId: req.headers['last-event-id'] ?? null, auth: req.headers.authorization });
  res.writeHead(200, { 'Content-Type': 'text/event-stream' });
  if (seen.length === 1) {
    res.write(`retry: ${HINT}\n\nid: 5\nevent: payment.status\ndata: {"paymentId":1,"status":"PENDING"}\n\n`);
    silentSince = Date.now(); // and nothing more, not even a heartbeat
  } else {
    res.end('id: 6\nevent: payment.status\ndata: {"paymentId":1,"status":"CONFIRMED","transactionId":"T1"}\n\n');
  }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const watch = watchPayment({
  baseUrl: `http://127.0.0.1:${server.address().port}`,
  paymentId: 1,
  token: 'tok',
  transports: ['sse'],
  idleTimeoutMs: IDLE,
  backoff: { baseMs: 10, maxMs: 5000 }
});
const events = [];
for await (const e of watch) events.push([e.id, e.status, e.resumed]);
const last = await watch.done;
server.closeAllConnections();
server.close();
process.stdout.write(JSON.stringify({
  events,
  final: last.status,
  requests: seen.map((s) => ({ lastEventId: s.lastEventId, auth: s.auth })),
  gapMs: seen[1].at - silentSince,
  hint: HINT,
  idle: IDLE
}));
