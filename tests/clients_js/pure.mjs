// Runs pure functions of clients/js/payhub.js for Python tests: one JSON array of cases on stdin,
// one JSON array of results on stdout. Cases: {op: 'format', amount, currency},
// {op: 'sse', chunks: [...]}, {op: 'backoff', attempt, baseMs, maxMs, hintMs, r},
// {op: 'restart', code, spreadMs, r}.
import { backoffDelay, formatAmount, restartSpread, sseParser } from '../../clients/js/payhub.js';

let input = '';
for await (const chunk of process.stdin) input += chunk;
const results = JSON.parse(input).map((c) => {
  if (c.op === 'format') return formatAmount(c.amount, c.currency);
  if (c.op === 'backoff') return backoffDelay(c.attempt, { baseMs: c.baseMs, maxMs: c.maxMs, hintMs: c.hintMs }, () => c.r);
  if (c.op === 'restart') return restartSpread(c.code, c.spreadMs, () => c.r);
  if (c.op === 'sse') {
    const events = [];
    const retries = [];
    const parser = sseParser((e) => events.push(e), (ms) => retries.push(ms));
    for (const chunk of c.chunks) parser.push(chunk);
    parser.end();
    return { events, retries };
  }
  throw new Error('unknown op ' + c.op);
});
process.stdout.write(JSON.stringify(results));
