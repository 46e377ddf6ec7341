/*
 * PayHub checkout demo: policy number → premium → KHQR with countdown → live status → outcome.
 *
 * Plain browser JavaScript modules, no build step, no external resources.
 *
 * Live status comes from PayHub's own client, /static/payhub.js (clients/js/payhub.js): Server-Sent
 * Events with resume, falling back to the WebSocket and then to long-polling the QR session, with
 * back-off and jitter, closed at the terminal status. This page only renders what it reports.
 *
 * Languages: English and Khmer (strings.js); the toggle in the top bar, ?lang=km|en, or the
 * browser's language choose; the choice is remembered. Amounts look the same in both.
 *
 * Test hook: window.__payhub.state (a snapshot) and window.__payhub.watch (the live PaymentWatch).
 */
import { PayHubError, formatAmount, formatNumber, watchPayment } from '/static/payhub.js';
import { LANGUAGES, MONTHS, STRINGS } from './strings.js';

const BANK_CODE = JSON.stringify({ id: 'AMK', bank: 'AMK' });
const POLICY_RE = /^[A-Za-z0-9]{1,10}$/;
const SAME_SESSION_RETRIES = 8; // "New QR" right at expiry: wait for the server to close the old one
const LANG_KEY = 'payhub.lang';

function $(id) { return document.getElementById(id); }

const el = {
  notice: $('notice'),
  modeBadge: $('mode-badge'),
  langToggle: $('lang-toggle'),
  stepLookup: $('step-lookup'),
  form: $('lookup-form'),
  policy: $('policy'),
  policyError: $('policy-error'),
  lookup: $('lookup'),
  premium: $('premium'),
  hPremium: $('h-premium'),
  premiumAmount: $('premium-amount'),
  premiumPolicy: $('premium-policy'),
  premiumPayer: $('premium-payer'),
  premiumDue: $('premium-due'),
  premiumError: $('premium-error'),
  payKhqr: $('pay-khqr'),
  changePolicy: $('change-policy'),
  payment: $('payment'),
  status: $('status'),
  connection: $('connection'),
  checkout: $('checkout'),
  hPayment: $('h-payment'),
  qrPayee: $('qr-payee'),
  qrAmount: $('qr-amount'),
  qrImage: $('qr-image'),
  qrPolicy: $('qr-policy'),
  qrAmountText: $('qr-amount-text'),
  countdown: $('countdown'),
  countdownBox: document.querySelector('.countdown'),
  countdownBar: $('countdown-bar'),
  sandboxTools: $('sandbox-tools'),
  notices: $('notices'),
  noticesList: $('notices-list'),
  simulate: $('simulate'),
  simulateFail: $('simulate-fail'),
  simulateError: $('simulate-error'),
  cancelPayment: $('cancel-payment'),
  result: $('result'),
  resultTitle: $('result-title'),
  resultText: $('result-text'),
  receiptAmount: $('receipt-amount'),
  receiptPolicy: $('receipt-policy'),
  receiptTxRow: $('receipt-tx-row'),
  transactionId: $('transaction-id'),
  receiptTimeRow: $('receipt-time-row'),
  receiptTime: $('receipt-time'),
  resultError: $('result-error'),
  newQr: $('new-qr'),
  tryAgain: $('try-again'),
  startOver: $('start-over'),
  latency: $('latency'),
  announcer: $('announcer')
};

const S = {
  ready: null,           // Promise of the start-up (config + token)
  lang: 'en',
  token: null,
  sandbox: false,
  ttlSeconds: null,
  skewMs: 0,             // server clock minus ours, only when clearly off
  phase: 'lookup',       // lookup | premium | payment
  policy: null,
  premium: null,
  qr: null,              // the /khqr answer being paid
  failedSessionId: null,
  status: null,          // PENDING | PROCESSING | PAID | FAILED | EXPIRED (what the screen shows)
  terminal: false,       // the server said CONFIRMED, FAILED or EXPIRED
  expiredLocally: false, // the countdown reached zero
  expiredBy: null,       // 'countdown' | 'server'
  watch: null,           // the PaymentWatch of payhub.js
  received: [],          // ids of the status events shown, in order (tests check nothing is missed)
  via: null,             // how the last event came: sse | ws | poll, and whether it was a resume
  resumed: false,
  connection: 'connecting',
  countdownTimer: null,
  tick: null,
  announced: {}
};

// ---------------------------------------------------------------- language

/** The text of `key` in the page's language, `{name}` replaced from `params`. */
function t(key, params) {
  const table = STRINGS[S.lang] || STRINGS.en;
  const text = key in table ? table[key] : STRINGS.en[key];
  if (text === undefined) throw new Error('no text ' + key);
  return text.replace(/\{(\w+)\}/g, (m, name) => (params && name in params ? String(params[name]) : m));
}

// Nodes whose text is built by code: how to build it again when the language changes.
const rendered = new Map();

/** Set a node's text from a function of the language; re-run by setLanguage. */
function render(node, build) {
  rendered.set(node, build);
  node.textContent = build();
}

function chooseLanguage() {
  const asked = new URLSearchParams(window.location.search).get('lang');
  if (asked && asked in LANGUAGES) return asked;
  try {
    const kept = window.localStorage.getItem(LANG_KEY);
    if (kept && kept in LANGUAGES) return kept;
  } catch (e) { /* storage may be off: fall through */ }
  return (navigator.languages || [navigator.language]).some((l) => /^km\b/i.test(l || '')) ? 'km' : 'en';
}

function setLanguage(lang, remember) {
  S.lang = lang in LANGUAGES ? lang : 'en';
  document.documentElement.lang = S.lang;
  if (remember) {
    try { window.localStorage.setItem(LANG_KEY, S.lang); } catch (e) { /* not kept: fine */ }
  }
  document.querySelectorAll('[data-i18n]').forEach((node) => {
    node.textContent = t(node.dataset.i18n);
  });
  const other = S.lang === 'km' ? 'en' : 'km';
  el.langToggle.textContent = LANGUAGES[other];
  el.langToggle.lang = other;
  el.langToggle.setAttribute('aria-label', LANGUAGES[other] + ' (' + t('lang.switch') + ')');
  rendered.forEach((build, node) => { node.textContent = build(); });
  if (el.qrImage.dataset.amount) el.qrImage.alt = qrAlt();
}

// ---------------------------------------------------------------- helpers

function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

function serverNow() { return Date.now() + S.skewMs; }

/** ISO 8601 with any number of fractional digits → epoch ms (Date.parse wants at most 3). */
function parseTime(iso) {
  if (!iso) return NaN;
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$/.exec(String(iso));
  if (!m) return Date.parse(iso);
  const frac = m[2] ? '.' + (m[2] + '00').slice(0, 3) : '';
  return Date.parse(m[1] + frac + (m[3] || 'Z'));
}

/** The amount as text nodes: big number, small currency code. */
function renderAmount(node, amount, currency) {
  rendered.delete(node);
  node.textContent = '';
  node.appendChild(document.createTextNode(formatNumber(amount, currency)));
  const cur = document.createElement('span');
  cur.className = 'currency';
  cur.textContent = currency;
  node.appendChild(document.createTextNode(' '));
  node.appendChild(cur);
}

/** "15 Dec 2026" / "15 ធ្នូ 2026" (a premium's due date: a calendar day, no time zone). */
function formatDate(isoDate) {
  const m = /^(\d{4})-(\d\d)-(\d\d)/.exec(String(isoDate));
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 12) return String(isoDate);
  return Number(m[3]) + ' ' + MONTHS[S.lang][Number(m[2]) - 1] + ' ' + m[1];
}

/** "30 Nov 2026, 15:16:41" in the device's time zone. */
function formatDateTime(ms) {
  const d = new Date(ms);
  return d.getDate() + ' ' + MONTHS[S.lang][d.getMonth()] + ' ' + d.getFullYear() + ', ' +
    pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds());
}

function formatDuration(ms) {
  if (ms < 1) return t('duration.under1ms');
  if (ms < 1000) return t('duration.ms', { n: Math.round(ms) });
  if (ms < 10000) return t('duration.s', { n: (ms / 1000).toFixed(1) });
  return t('duration.s', { n: Math.round(ms / 1000) });
}

function pad2(n) { return (n < 10 ? '0' : '') + n; }

/** Seconds as mm:ss (h:mm:ss from an hour up). */
function clock(seconds) {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return (h ? h + ':' : '') + pad2(m) + ':' + pad2(s);
}

function spokenDuration(seconds) {
  if (seconds >= 60) {
    const m = Math.round(seconds / 60);
    return m === 1 ? t('spoken.minute') : t('spoken.minutes', { n: m });
  }
  return seconds === 1 ? t('spoken.second') : t('spoken.seconds', { n: seconds });
}

/** The merchant name (tag 59) of a KHQR string; null if it cannot be read. */
function merchantName(qrString) {
  const s = String(qrString || '');
  let i = 0;
  while (i + 4 <= s.length) {
    const tag = s.slice(i, i + 2);
    const len = parseInt(s.slice(i + 2, i + 4), 10);
    if (!Number.isFinite(len)) return null;
    if (tag === '59') return s.slice(i + 4, i + 4 + len);
    i += 4 + len;
  }
  return null;
}

function setBusy(button, busy) {
  button.disabled = !!busy;
  if (busy) button.setAttribute('aria-busy', 'true');
  else button.removeAttribute('aria-busy');
}

function show(node) { node.hidden = false; }
function hide(node) { node.hidden = true; }

function announce(text) {
  el.announcer.textContent = '';
  // A fresh text node after a tick makes screen readers announce repeats too.
  setTimeout(() => { el.announcer.textContent = text; }, 50);
}

function focusHeading(node) {
  window.scrollTo(0, 0);
  node.focus({ preventScroll: true });
}

// ---------------------------------------------------------------- HTTP

function noteServerClock(res) {
  const header = res.headers.get('date');
  const t0 = header ? Date.parse(header) : NaN;
  if (!Number.isFinite(t0)) return;
  const diff = t0 + 500 - Date.now(); // the header is truncated to the second
  S.skewMs = Math.abs(diff) > 3000 ? diff : 0;
}

/**
 * fetch + the PayHub envelope. Resolves with `data`, rejects with PayHubError(code, error.message).
 * opts: method, body (JSON), auth (send the customer token, default true), signal.
 */
async function api(path, opts = {}) {
  const useCustomer = opts.auth !== false;
  const headers = { Accept: 'application/json' };
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  if (useCustomer && S.token) headers.Authorization = 'Bearer ' + S.token;
  let res;
  try {
    res = await fetch(path, {
      method: opts.method || 'GET',
      headers,
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
      cache: 'no-store',
      credentials: 'same-origin',
      signal: opts.signal
    });
  } catch (cause) {
    if (cause && cause.name === 'AbortError') throw cause;
    throw new PayHubError('NETWORK', 'No connection to the payment service', 0, null);
  }
  noteServerClock(res);
  const json = await res.json().catch(() => null);
  if (res.ok && json && json.success) return json.data;
  if (res.status === 401 && useCustomer && S.sandbox && !opts.retried) {
    // The demo token ran out: get a fresh one once and repeat the request.
    await fetchToken();
    return api(path, Object.assign({}, opts, { retried: true }));
  }
  const err = json && json.error;
  throw new PayHubError(
    (err && err.code) || 'HTTP_' + res.status,
    (err && err.message) || '',
    res.status,
    err
  );
}

/** A sentence a customer can act on, built from the envelope's error (a function: re-built per language). */
function friendly(err, context, extra) {
  if (!(err instanceof PayHubError)) return { text: () => t('error.generic'), ref: null };
  const e = err.error || {};
  const detail = Array.isArray(e.details) && e.details[0] && e.details[0].message;
  const message = err.message;
  let text;
  switch (err.code) {
    case 'NETWORK':
      text = () => t('error.network');
      break;
    case 'RESOURCE_NOT_FOUND':
      text = context === 'lookup' ? () => t('error.notFound.lookup', { policy: extra }) : () => t('error.notFound');
      break;
    case 'BAD_REQUEST':
      text = () => t('error.badRequest', { detail: detail || message });
      break;
    case 'RATE_LIMIT_EXCEEDED':
      text = e.retryAfter ? () => t('error.rateLimit', { seconds: e.retryAfter }) : () => t('error.rateLimitMoment');
      break;
    case 'SERVICE_UNAVAILABLE':
    case 'TRANSACTION_VERIFY_FAILED':
      text = () => t('error.unavailable', { message });
      break;
    case 'UNAUTHORIZED':
      text = () => t('error.unauthorized');
      break;
    case 'QR_EXPIRED':
      text = () => t('error.qrExpired');
      break;
    case 'FRAUD_DETECTED':
      text = () => t('error.fraud');
      break;
    case 'SAME_SESSION':
      text = () => t('error.sameSession');
      break;
    default:
      if (!message) text = () => t('error.http', { status: err.httpStatus });
      else text = () => t('error.server', { message: message + (/[.!?។]$/.test(message) ? '' : '.') });
  }
  return { text, ref: e.correlationId || null };
}

function showError(node, info) {
  const build = typeof info.text === 'function' ? info.text : () => info.text;
  node.textContent = '';
  const main = document.createElement('span');
  render(main, build);
  node.appendChild(main);
  if (info.ref) {
    const ref = document.createElement('span');
    ref.className = 'error-ref';
    render(ref, () => t('error.reference', { ref: info.ref }));
    node.appendChild(ref);
  }
  show(node);
}

// ---------------------------------------------------------------- start-up

async function fetchToken() {
  const data = await api('/demo/api/token', { method: 'POST', auth: false });
  S.token = data.token;
  return data.token;
}

function showNotice(title, body) {
  el.notice.textContent = '';
  const head = document.createElement('span');
  render(head, title);
  el.notice.appendChild(head);
  const p = document.createElement('p');
  render(p, body);
  el.notice.appendChild(p);
  show(el.notice);
}

async function start() {
  const config = await api('/demo/api/config', { auth: false }).catch(() => null);
  S.sandbox = !!(config && config.sandbox);
  S.ttlSeconds = config && config.sessionTtlSeconds ? Number(config.sessionTtlSeconds) : null;
  el.modeBadge.hidden = !S.sandbox;
  try {
    if (config && !config.sandbox) throw new PayHubError('LOGIN_REQUIRED', 'production', 404, null);
    await fetchToken();
    el.lookup.disabled = false;
    return true;
  } catch (err) {
    el.lookup.disabled = true;
    el.policy.disabled = true;
    if (err && (err.httpStatus === 404 || err.httpStatus === 405 || err.code === 'LOGIN_REQUIRED')) {
      showNotice(() => t('notice.login.title'), () => t('notice.login.text'));
    } else {
      const reason = friendly(err).text;
      showNotice(() => t('notice.down.title'), () => t('notice.down.text', { reason: reason() }));
    }
    return false;
  }
}

// ---------------------------------------------------------------- screens

function showStep(phase) {
  S.phase = phase;
  el.stepLookup.hidden = phase !== 'lookup';
  el.premium.hidden = phase !== 'premium';
  el.payment.hidden = phase !== 'payment';
}

function validatePolicy(value) {
  if (!value) return 'policy.empty';
  if (value.length > 10) return 'policy.tooLong';
  if (!POLICY_RE.test(value)) return 'policy.chars';
  return null;
}

function setFieldError(info) {
  if (!info) {
    el.policy.removeAttribute('aria-invalid');
    rendered.delete(el.policyError);
    el.policyError.textContent = '';
    hide(el.policyError);
    return;
  }
  el.policy.setAttribute('aria-invalid', 'true');
  showError(el.policyError, typeof info === 'string' ? { text: () => t(info), ref: null } : info);
}

async function onLookup(event) {
  event.preventDefault();
  const value = el.policy.value.trim().toUpperCase();
  el.policy.value = value;
  const problem = validatePolicy(value);
  if (problem) {
    setFieldError(problem);
    el.policy.focus();
    return;
  }
  setFieldError(null);
  setBusy(el.lookup, true);
  try {
    if (await S.ready) {
      const data = await api('/AMK/payments?' + new URLSearchParams({ query: value }).toString());
      S.policy = data.policyNumber || value;
      S.premium = data;
      renderPremium(data);
      showStep('premium');
      focusHeading(el.hPremium);
    }
  } catch (err) {
    setFieldError(friendly(err, 'lookup', value));
    el.policy.focus();
  }
  setBusy(el.lookup, false);
}

function renderPremium(p) {
  renderAmount(el.premiumAmount, p.amount, p.currency);
  el.premiumPolicy.textContent = p.policyNumber;
  el.premiumPayer.textContent = p.payer;
  render(el.premiumDue, () => formatDate(p.dueDate));
  el.premiumDue.dateTime = String(p.dueDate || '');
  hide(el.premiumError);
}

function backToLookup(keepValue) {
  stopPayment();
  S.qr = null;
  S.premium = null;
  showStep('lookup');
  if (!keepValue) el.policy.value = '';
  window.scrollTo(0, 0);
  el.policy.focus();
  el.policy.select();
}

// ---------------------------------------------------------------- the QR

/** GET /khqr for the current policy; `avoidSession` = a session that must not come back. */
async function requestQr(button, errorNode, avoidSession) {
  setBusy(button, true);
  hide(errorNode);
  const query = '/khqr?' + new URLSearchParams({ bankCode: BANK_CODE, billNumber: S.policy }).toString();
  try {
    let data;
    for (let attempt = 0; ; attempt++) {
      data = await api(query);
      if (!avoidSession || data.sessionId !== avoidSession) break;
      if (attempt >= SAME_SESSION_RETRIES) throw new PayHubError('SAME_SESSION', '', 409, null);
      await sleep(400);
    }
    beginPayment(data);
  } catch (err) {
    showError(errorNode, friendly(err, 'khqr'));
  }
  setBusy(button, false);
}

function qrAlt() {
  return t('qr.alt', { amount: el.qrImage.dataset.amount, policy: el.qrImage.dataset.policy });
}

function beginPayment(q) {
  stopPayment();
  S.qr = q;
  S.status = 'PENDING';
  S.terminal = false;
  S.expiredLocally = false;
  S.expiredBy = null;
  S.received = [];
  S.via = null;
  S.resumed = false;
  S.announced = {};

  const amountText = formatAmount(q.amount, q.currency);
  el.qrImage.src = 'data:image/png;base64,' + q.qrCode;
  el.qrImage.dataset.amount = amountText;
  el.qrImage.dataset.policy = q.policyId;
  el.qrImage.alt = qrAlt();
  const payee = merchantName(q.qrString);
  if (payee) {
    rendered.delete(el.qrPayee);
    el.qrPayee.textContent = payee;
  } else {
    render(el.qrPayee, () => t('qr.payee'));
  }
  renderAmount(el.qrAmount, q.amount, q.currency);
  el.qrPolicy.textContent = q.policyId;
  el.qrAmountText.textContent = amountText;
  el.sandboxTools.hidden = !S.sandbox;
  hide(el.simulateError);
  setBusy(el.simulate, false);
  setBusy(el.simulateFail, false);

  hide(el.result);
  show(el.checkout);
  hide(el.latency);
  setStatus('PENDING');
  showStep('payment');
  focusHeading(el.hPayment);

  startCountdown();
  startWatch(q);
}

function setStatus(state) {
  S.status = state;
  el.status.dataset.state = state;
  render(el.status, () => t('status.' + state));
}

function setConnection(state) {
  S.connection = state;
  el.connection.dataset.state = state;
  el.connection.hidden = state === 'closed';
  if (state === 'closed') {
    rendered.delete(el.connection);
    el.connection.textContent = '';
  } else {
    render(el.connection, () => t('conn.' + state));
  }
}

/** Stop everything that belongs to the payment on screen: the watch and the countdown. */
function stopPayment() {
  if (S.watch) {
    S.watch.close();
    S.watch = null;
  }
  stopCountdown();
}

// ---------------------------------------------------------------- countdown

function startCountdown() {
  stopCountdown();
  const expires = parseTime(S.qr.expiresAt);
  const totalMs = S.ttlSeconds ? S.ttlSeconds * 1000 : Math.max(1000, expires - serverNow());
  el.countdownBar.style.transition = 'none';
  function tick() {
    S.countdownTimer = null;
    const left = expires - serverNow();
    const secs = Math.max(0, Math.ceil(left / 1000));
    el.countdown.textContent = clock(secs);
    el.countdown.dataset.seconds = String(secs);
    const urgent = secs <= 60 ? 'true' : 'false';
    el.countdownBox.dataset.urgent = urgent;
    el.countdownBar.parentNode.dataset.urgent = urgent;
    el.countdownBar.style.transform = 'scaleX(' + Math.max(0, Math.min(1, left / totalMs)).toFixed(4) + ')';
    [300, 60, 30, 10].forEach((mark) => {
      if (secs <= mark && secs > 0 && !S.announced[mark] && totalMs / 1000 > mark) {
        S.announced[mark] = true;
        if (secs > mark - 2) announce(t('announce.expiresIn', { duration: spokenDuration(mark) }));
      }
    });
    if (left <= 0 || !Number.isFinite(expires)) {
      onLocalExpiry();
      return;
    }
    // Wake up right when the display changes.
    const untilNext = left - (secs - 1) * 1000;
    S.countdownTimer = setTimeout(tick, Math.max(15, Math.min(1000, untilNext + 5)));
    if (el.countdownBar.style.transition === 'none') {
      requestAnimationFrame(() => { el.countdownBar.style.transition = ''; });
    }
  }
  S.tick = tick;
  tick();
}

function stopCountdown() {
  clearTimeout(S.countdownTimer);
  S.countdownTimer = null;
  S.tick = null;
}

function onLocalExpiry() {
  stopCountdown();
  if (S.terminal || S.expiredLocally) return;
  S.expiredLocally = true;
  S.expiredBy = 'countdown';
  // The watch goes on: a payment that landed in the last second still turns this into PAID,
  // and the server's own EXPIRED ends it.
  showResult('EXPIRED', null);
}

// ---------------------------------------------------------------- live status (payhub.js)

function startWatch(q) {
  const watch = watchPayment({
    paymentId: q.paymentId,
    token: q.subscribeToken,
    eventsUrl: q.eventsUrl,
    wsUrl: q.wsUrl,
    sessionId: q.sessionId,
    onConnection: (state, transport) => {
      if (S.watch !== watch) return;
      if (state === 'live' && transport === 'poll') setConnection('polling');
      else setConnection(state);
    },
    onStatus: (event) => {
      if (S.watch === watch) onStatus(event);
    }
  });
  S.watch = watch;
  watch.done.catch(() => {
    // A refusal no retry can fix (the token no longer covers the payment): say so where the status is.
    if (S.watch === watch && !S.terminal) setConnection('reconnecting');
  });
}

function onStatus(event) {
  if (event.id !== null) S.received.push(event.id);
  S.via = event.transport;
  S.resumed = event.resumed;
  if (S.terminal) return;
  const data = event.data;
  const previous = S.status;
  switch (event.status) {
    case 'CONFIRMED':
      finish('PAID', data, event);
      break;
    case 'FAILED':
      finish('FAILED', data, event);
      break;
    case 'EXPIRED':
      finish('EXPIRED', data, event);
      break;
    case 'PROCESSING':
      if (!S.expiredLocally) {
        setStatus('PROCESSING');
        if (previous !== 'PROCESSING') showLatency(data, event);
      }
      break;
    default:
      if (!S.expiredLocally) setStatus('PENDING');
  }
}

function finish(state, data, event) {
  S.terminal = true;
  stopCountdown();
  setConnection('closed');
  if (state === 'EXPIRED' && S.expiredLocally) {
    return; // the countdown already showed it; keep focus where the customer is
  }
  if (state === 'EXPIRED') S.expiredBy = 'server';
  showResult(state, data, event);
}

function showResult(state, data, event) {
  const q = S.qr;
  setStatus(state);
  el.result.dataset.state = state;
  const payer = (S.premium && S.premium.payer) || q.customerName;
  render(el.resultTitle, () => t('result.' + state + '.title'));
  if (state === 'PAID') {
    render(el.resultText, () => (payer ? t('result.PAID.text', { payer }) : t('result.PAID.textNoName')));
  } else {
    render(el.resultText, () => t('result.' + state + '.text'));
  }
  if (state === 'FAILED') S.failedSessionId = q.sessionId;
  el.receiptAmount.textContent = formatAmount(q.amount, q.currency);
  el.receiptPolicy.textContent = q.policyId;
  const tx = data && data.transactionId;
  el.transactionId.textContent = tx || '';
  el.receiptTxRow.hidden = !tx;
  const occurred = data ? parseTime(data.occurredAt) : NaN;
  el.receiptTimeRow.hidden = !(state === 'PAID' && Number.isFinite(occurred));
  if (!el.receiptTimeRow.hidden) {
    render(el.receiptTime, () => formatDateTime(occurred));
    el.receiptTime.dateTime = data.occurredAt;
  }
  hide(el.resultError);
  hide(el.notices);
  if (S.sandbox && state !== 'EXPIRED') showNotices(q.paymentId, 0);
  el.newQr.hidden = state !== 'EXPIRED';
  el.tryAgain.hidden = state !== 'FAILED';
  setBusy(el.newQr, false);
  setBusy(el.tryAgain, false);

  hide(el.checkout);
  show(el.result);
  if (data) showLatency(data, event);
  else hide(el.latency);
  focusHeading(el.resultTitle);
}

/** "Updated 12 ms after payment": from the status change on the server to this screen. */
function showLatency(data, event) {
  const now = serverNow();
  const occurred = parseTime(data.occurredAt);
  const sent = parseTime(data.sentAt);
  const total = now - occurred;
  if (!Number.isFinite(total) || total < 0 || total > 120000) {
    hide(el.latency);
    return;
  }
  const whatKey = { CONFIRMED: 'CONFIRMED', FAILED: 'FAILED', EXPIRED: 'EXPIRED', PROCESSING: 'PROCESSING' }[data.status];
  let suffix = '';
  if (event.transport === 'poll') suffix = 'latency.poll';
  else if (event.resumed) suffix = 'latency.resume';
  else if (event.transport === 'ws') suffix = 'latency.ws';
  render(el.latency, () => t('latency', {
    duration: formatDuration(total),
    what: t('latency.' + (whatKey || 'other'))
  }) + (suffix ? t(suffix) : ''));
  el.latency.title = Number.isFinite(sent) ? t('latency.title', { duration: formatDuration(Math.max(0, now - sent)) }) : '';
  el.latency.dataset.ms = String(Math.round(total));
  show(el.latency);
}

// ---------------------------------------------------------------- sandbox

const NOTICE_CHANNELS = ['push', 'sms', 'email', 'webhook'];

/** Sandbox: what the notifier sent about this payment (asked a few times: it sends just after the status).
 * The messages themselves are the notifier's (its templates), shown as sent. */
async function showNotices(paymentId, tries) {
  let records = [];
  try {
    const res = await fetch('/sandbox/notifications?format=json&paymentId=' + encodeURIComponent(paymentId), {
      headers: { Accept: 'application/json' }
    });
    const body = res.ok ? await res.json() : null;
    records = (body && body.data) || [];
  } catch (e) {
    return; // the notices are a sandbox extra: the receipt above stands on its own
  }
  if (!S.qr || Number(S.qr.paymentId) !== Number(paymentId)) return;
  if (records.length < 3 && tries < 10) setTimeout(() => showNotices(paymentId, tries + 1), 500);
  if (!records.length) return;
  el.noticesList.textContent = '';
  records.slice().reverse().forEach((r) => {
    const li = document.createElement('li');
    li.dataset.channel = r.channel;
    const what = document.createElement('strong');
    const channel = NOTICE_CHANNELS.includes(r.channel) ? () => t('notices.' + r.channel) : () => r.channel;
    render(what, () => channel() + ' → ' + r.recipient);
    const text = document.createElement('span');
    if (r.channel === 'webhook') render(text, () => t('notices.webhookText', { id: r.messageId }));
    else text.textContent = r.channel === 'email' ? r.subject : r.text;
    li.appendChild(what);
    li.appendChild(text);
    el.noticesList.appendChild(li);
  });
  show(el.notices);
}

async function simulate(outcome, button) {
  if (!S.qr) return;
  el.simulate.disabled = true;
  el.simulateFail.disabled = true;
  button.setAttribute('aria-busy', 'true');
  hide(el.simulateError);
  const q = S.qr;
  try {
    const data = await api('/sandbox/amk/simulate/pay', {
      method: 'POST',
      auth: false,
      body: { paymentId: q.paymentId, method: 'KHQR', outcome }
    });
    // The sandbox reports what the gateway answered to each webhook it sent.
    const refused = (data.webhooks || [])
      .map((w) => w.attempts && w.attempts[w.attempts.length - 1])
      .filter((a) => a && a.status >= 400)[0];
    if (refused && !S.terminal && S.qr === q) {
      const e = (refused.response && refused.response.error) || {};
      throw new PayHubError(e.code || 'HTTP_' + refused.status, e.message || t('error.refused'), refused.status, e);
    }
  } catch (err) {
    if (!S.terminal && S.qr === q) showError(el.simulateError, friendly(err, 'simulate'));
  }
  setBusy(el.simulate, false);
  setBusy(el.simulateFail, false);
}

// ---------------------------------------------------------------- wiring

el.form.addEventListener('submit', onLookup);
el.policy.addEventListener('input', () => {
  if (el.policy.getAttribute('aria-invalid') === 'true' && !validatePolicy(el.policy.value.trim())) {
    setFieldError(null);
  }
});
el.payKhqr.addEventListener('click', () => requestQr(el.payKhqr, el.premiumError, null));
el.changePolicy.addEventListener('click', () => backToLookup(true));
el.cancelPayment.addEventListener('click', () => backToLookup(true));
el.startOver.addEventListener('click', () => backToLookup(false));
el.newQr.addEventListener('click', () => requestQr(el.newQr, el.resultError, S.qr && S.qr.sessionId));
el.tryAgain.addEventListener('click', () => requestQr(el.tryAgain, el.resultError, S.failedSessionId));
el.simulate.addEventListener('click', () => simulate('SUCCESS', el.simulate));
el.simulateFail.addEventListener('click', () => simulate('FAILED', el.simulateFail));
el.langToggle.addEventListener('click', () => setLanguage(S.lang === 'km' ? 'en' : 'km', true));

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && S.tick && S.countdownTimer) {
    clearTimeout(S.countdownTimer);
    S.tick(); // timers sleep in background tabs: catch the countdown up at once
  }
});

window.__payhub = Object.freeze({
  get state() {
    const w = S.watch;
    return {
      lang: S.lang,
      phase: S.phase,
      status: S.status,
      terminal: S.terminal,
      expiredLocally: S.expiredLocally,
      expiredBy: S.expiredBy,
      paymentId: S.qr ? S.qr.paymentId : null,
      sessionId: S.qr ? S.qr.sessionId : null,
      expiresAt: S.qr ? S.qr.expiresAt : null,
      lastEventId: w ? w.lastEventId : null,
      received: S.received.slice(),
      frames: w ? w.stats.events : 0,
      streamOpens: w ? w.stats.opens : 0,
      fallbacks: w ? w.stats.fallbacks : 0,
      transport: S.via,
      resumed: S.resumed,
      watchTransport: w ? w.transport : null,
      watchClosed: w ? w.closed : true,
      connection: S.connection,
      sandbox: S.sandbox
    };
  },
  get watch() { return S.watch; }
});

setLanguage(chooseLanguage(), false);
S.ready = start();
