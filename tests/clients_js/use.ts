// Compiled (not run) by tests/unit/test_payhub_js_types.py against payhub.d.ts: what an app writes.
import {
  PayHubError,
  backoffDelay,
  formatAmount,
  isTerminal,
  watchPayment,
  type Connection,
  type PaymentStatus,
  type PaymentStatusEvent,
  type Transport
} from '../../clients/js/payhub.js';

const watch = watchPayment({
  paymentId: 1000000000000,
  token: 'subscribe-token',
  sessionId: null,
  transports: ['sse', 'ws', 'poll'],
  onStatus: (e: PaymentStatusEvent) => {
    const status: PaymentStatus = e.status;
    const amount: string = formatAmount(e.data.amount, e.data.currency);
    const tx: string | null = e.data.transactionId;
    console.log(status, amount, tx, e.id, e.terminal, e.resumed, isTerminal(status));
  },
  onConnection: (state: Connection, transport: Transport | null) => console.log(state, transport)
});
const ms: number = backoffDelay(2, { hintMs: 2000 });
watch.done
  .then((last: PaymentStatusEvent | null) => console.log(last?.data.occurredAt, ms))
  .catch((e: unknown) => {
    if (e instanceof PayHubError) console.log(e.code, e.httpStatus, e.fatal, e.retryAfter);
  });
async function all(): Promise<number[]> {
  const ids: number[] = [];
  for await (const e of watch) if (e.id !== null) ids.push(e.id);
  return ids;
}
void all();
// @ts-expect-error: a status outside the contract is refused
const wrong: PaymentStatus = 'PAID';
void wrong;
