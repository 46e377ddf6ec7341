/*
 * PayHub checkout demo: policy number → premium → KHQR with countdown → live status → outcome.
 *
 * Plain browser JavaScript, no build step, no external resources.
 *
 * Live status: Server-Sent Events on the payment's eventsUrl with its subscribeToken.
 *  - EventSource reconnects by itself after a drop and sends Last-Event-ID; the server resumes.
 *  - If the EventSource fails for good (readyState CLOSED), it is re-opened with ?lastEventId=<last id seen>.
 *  - If the stream keeps failing, GET /khqr/sessions/{id} is long-polled as a last resort, until SSE is back.
 * Frames are de-duplicated by event id, so the paths can overlap safely.
 *
 * Test hook: window.__payhub.state (a snapshot) and window.__payhub.dropStream() (cut the live stream).
 */
(function () {
  'use strict';

  var BANK_CODE = JSON.stringify({ id: 'AMK', bank: 'AMK' });
  var POLICY_RE = /^[A-Za-z0-9]{1,10}$/;
  var RECONNECT_DELAYS_MS = [500, 1000, 2000, 4000, 8000];
  var POLL_AFTER_FAILURES = 3;      // re-opens that failed in a row before polling joins in
  var STUCK_CONNECTING_MS = 8000;   // browser retrying for this long without success → poll as well
  var LONG_POLL_S = 25;
  var SAME_SESSION_RETRIES = 8;     // "New QR" right at expiry: wait for the server to close the old one

  var STATUS_TEXT = {
    PENDING: 'Waiting for your payment',
    PROCESSING: 'Payment received — confirming',
    PAID: 'Paid',
    FAILED: 'Payment failed',
    EXPIRED: 'QR code expired'
  };

  function $(id) { return document.getElementById(id); }

  var el = {
    main: $('main'),
    notice: $('notice'),
    modeBadge: $('mode-badge'),
    stepLookup: $('step-lookup'),
    hLookup: $('h-lookup'),
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

  var S = {
    ready: null,           // Promise of the start-up (config + token)
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
    lastEventId: null,
    frames: 0,
    es: null,
    streamGen: 0,
    streamOpens: 0,
    failures: 0,
    dropSinceFrame: false,
    reconnectTimer: null,
    stuckTimer: null,
    poll: null,            // AbortController of the polling loop
    transport: null,       // how the last frame arrived: sse | resume | poll
    countdownTimer: null,
    announced: {}
  };

  // ---------------------------------------------------------------- helpers

  function sleep(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }

  function serverNow() { return Date.now() + S.skewMs; }

  /** ISO 8601 with any number of fractional digits → epoch ms (Date.parse wants at most 3). */
  function parseTime(iso) {
    if (!iso) return NaN;
    var m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$/.exec(String(iso));
    if (!m) return Date.parse(iso);
    var frac = m[2] ? '.' + (m[2] + '00').slice(0, 3) : '';
    return Date.parse(m[1] + frac + (m[3] || 'Z'));
  }

  function fractionDigits(currency) { return currency === 'KHR' ? 0 : 2; }

  function formatNumber(amount, currency) {
    var digits = fractionDigits(currency);
    return new Intl.NumberFormat('en-US', {
      minimumFractionDigits: digits,
      maximumFractionDigits: digits
    }).format(Number(amount));
  }

  function formatAmount(amount, currency) { return formatNumber(amount, currency) + ' ' + currency; }

  /** The amount as text nodes: big number, small currency code. */
  function renderAmount(node, amount, currency) {
    node.textContent = '';
    node.appendChild(document.createTextNode(formatNumber(amount, currency)));
    var cur = document.createElement('span');
    cur.className = 'currency';
    cur.textContent = currency;
    node.appendChild(document.createTextNode(' '));
    node.appendChild(cur);
  }

  function formatDate(isoDate) {
    var t = Date.parse(String(isoDate).slice(0, 10) + 'T00:00:00Z');
    if (!Number.isFinite(t)) return String(isoDate);
    return new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' })
      .format(new Date(t));
  }

  function formatDateTime(ms) {
    return new Intl.DateTimeFormat('en-GB', {
      day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit'
    }).format(new Date(ms));
  }

  function formatDuration(ms) {
    if (ms < 1) return 'under 1 ms';
    if (ms < 1000) return Math.round(ms) + ' ms';
    if (ms < 10000) return (ms / 1000).toFixed(1) + ' s';
    return Math.round(ms / 1000) + ' s';
  }

  function pad2(n) { return (n < 10 ? '0' : '') + n; }

  /** Seconds as mm:ss (h:mm:ss from an hour up). */
  function clock(seconds) {
    var h = Math.floor(seconds / 3600);
    var m = Math.floor((seconds % 3600) / 60);
    var s = seconds % 60;
    return (h ? h + ':' : '') + pad2(m) + ':' + pad2(s);
  }

  function spokenDuration(seconds) {
    if (seconds >= 60) {
      var m = Math.round(seconds / 60);
      return m + (m === 1 ? ' minute' : ' minutes');
    }
    return seconds + (seconds === 1 ? ' second' : ' seconds');
  }

  /** The merchant name (tag 59) of a KHQR string; null if it cannot be read. */
  function merchantName(qrString) {
    var s = String(qrString || '');
    var i = 0;
    while (i + 4 <= s.length) {
      var tag = s.slice(i, i + 2);
      var len = parseInt(s.slice(i + 2, i + 4), 10);
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
    setTimeout(function () { el.announcer.textContent = text; }, 50);
  }

  function focusHeading(node) {
    window.scrollTo(0, 0);
    node.focus({ preventScroll: true });
  }

  // ---------------------------------------------------------------- HTTP

  function ApiError(code, message, status, error) {
    this.name = 'ApiError';
    this.code = code;
    this.message = message;
    this.status = status;
    this.error = error || null;
  }
  ApiError.prototype = Object.create(Error.prototype);

  function noteServerClock(res) {
    var header = res.headers.get('date');
    var t = header ? Date.parse(header) : NaN;
    if (!Number.isFinite(t)) return;
    var diff = t + 500 - Date.now(); // the header is truncated to the second
    S.skewMs = Math.abs(diff) > 3000 ? diff : 0;
  }

  /**
   * fetch + the PayHub envelope. Resolves with `data`, rejects with ApiError(code, error.message).
   * opts: method, body (JSON), auth (send the customer token, default true), bearer (another token), signal.
   */
  function api(path, opts) {
    opts = opts || {};
    var useCustomer = opts.auth !== false && !opts.bearer;
    var headers = { Accept: 'application/json' };
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    var tok = opts.bearer || (useCustomer ? S.token : null);
    if (tok) headers.Authorization = 'Bearer ' + tok;
    return fetch(path, {
      method: opts.method || 'GET',
      headers: headers,
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
      cache: 'no-store',
      credentials: 'same-origin',
      signal: opts.signal
    }).then(function (res) {
      noteServerClock(res);
      return res.json().catch(function () { return null; }).then(function (json) {
        if (res.ok && json && json.success) return json.data;
        if (res.status === 401 && useCustomer && S.sandbox && !opts.retried) {
          // The demo token ran out: get a fresh one once and repeat the request.
          return fetchToken().then(function () {
            return api(path, Object.assign({}, opts, { retried: true }));
          });
        }
        var err = json && json.error;
        throw new ApiError(
          (err && err.code) || 'HTTP_' + res.status,
          (err && err.message) || 'Unexpected answer from the server (HTTP ' + res.status + ')',
          res.status,
          err
        );
      });
    }, function (cause) {
      if (cause && cause.name === 'AbortError') throw cause;
      throw new ApiError('NETWORK', 'No connection to the payment service', 0, null);
    });
  }

  /** A sentence a customer can act on, built from the envelope's error. */
  function friendly(err, context, extra) {
    if (!(err instanceof ApiError)) return { text: 'Something went wrong. Please try again.', ref: null };
    var e = err.error || {};
    var detail = Array.isArray(e.details) && e.details[0] && e.details[0].message;
    var text;
    switch (err.code) {
      case 'NETWORK':
        text = 'We could not reach the payment service. Check your internet connection and try again.';
        break;
      case 'RESOURCE_NOT_FOUND':
        text = context === 'lookup'
          ? 'No premium is due for policy ' + extra + '. Check the number — or it may already be paid.'
          : 'We could not find that premium any more. It may already be paid.';
        break;
      case 'BAD_REQUEST':
        text = 'Please check your input: ' + (detail || err.message) + '.';
        break;
      case 'RATE_LIMIT_EXCEEDED':
        text = 'Too many attempts. Please wait' + (e.retryAfter ? ' ' + e.retryAfter + ' seconds' : ' a moment') +
          ' and try again.';
        break;
      case 'SERVICE_UNAVAILABLE':
      case 'TRANSACTION_VERIFY_FAILED':
        text = 'The bank is not answering right now. Please try again in a minute. (' + err.message + ')';
        break;
      case 'UNAUTHORIZED':
        text = 'Your session has ended. Reload the page to sign in again.';
        break;
      case 'QR_EXPIRED':
        text = 'This QR code has expired. Ask for a new one.';
        break;
      case 'FRAUD_DETECTED':
        text = 'We cannot continue with this payment online. Please contact support and quote the reference below.';
        break;
      default:
        text = err.message + (/[.!?]$/.test(err.message) ? '' : '.');
    }
    return { text: text, ref: e.correlationId || null };
  }

  function showError(node, info) {
    node.textContent = info.text;
    if (info.ref) {
      var ref = document.createElement('span');
      ref.className = 'error-ref';
      ref.textContent = 'Reference: ' + info.ref;
      node.appendChild(ref);
    }
    show(node);
  }

  // ---------------------------------------------------------------- start-up

  function fetchToken() {
    return api('/demo/api/token', { method: 'POST', auth: false }).then(function (data) {
      S.token = data.token;
      return data.token;
    });
  }

  function showNotice(title, body) {
    el.notice.textContent = title;
    if (body) {
      var p = document.createElement('p');
      p.textContent = body;
      el.notice.appendChild(p);
    }
    show(el.notice);
  }

  function start() {
    return api('/demo/api/config', { auth: false }).catch(function () { return null; }).then(function (config) {
      S.sandbox = !!(config && config.sandbox);
      S.ttlSeconds = config && config.sessionTtlSeconds ? Number(config.sessionTtlSeconds) : null;
      el.modeBadge.hidden = !S.sandbox;
      if (config && !config.sandbox) throw new ApiError('LOGIN_REQUIRED', 'production', 404, null);
      return fetchToken();
    }).then(function () {
      el.lookup.disabled = false;
      return true;
    }, function (err) {
      el.lookup.disabled = true;
      el.policy.disabled = true;
      if (err && (err.status === 404 || err.status === 405 || err.code === 'LOGIN_REQUIRED')) {
        showNotice('Please sign in with your insurer first.',
          'This checkout page needs the insurer\u2019s login to know who you are. Open it from your insurer\u2019s ' +
          'app or website. (The automatic demo sign-in is only available in sandbox mode.)');
      } else {
        showNotice('The payment service is not reachable right now.',
          friendly(err).text + ' Reload the page to try again.');
      }
      return false;
    });
  }

  // ---------------------------------------------------------------- screens

  function showStep(phase) {
    S.phase = phase;
    el.stepLookup.hidden = phase !== 'lookup';
    el.premium.hidden = phase !== 'premium';
    el.payment.hidden = phase !== 'payment';
  }

  function validatePolicy(value) {
    if (!value) return 'Enter your policy number.';
    if (value.length > 10) return 'A policy number has at most 10 characters.';
    if (!POLICY_RE.test(value)) return 'Use letters and digits only — no spaces or symbols.';
    return null;
  }

  function setFieldError(info) {
    if (!info) {
      el.policy.removeAttribute('aria-invalid');
      el.policyError.textContent = '';
      hide(el.policyError);
      return;
    }
    el.policy.setAttribute('aria-invalid', 'true');
    showError(el.policyError, typeof info === 'string' ? { text: info, ref: null } : info);
  }

  function onLookup(event) {
    event.preventDefault();
    var value = el.policy.value.trim().toUpperCase();
    el.policy.value = value;
    var problem = validatePolicy(value);
    if (problem) {
      setFieldError(problem);
      el.policy.focus();
      return;
    }
    setFieldError(null);
    setBusy(el.lookup, true);
    S.ready.then(function (ok) {
      if (!ok) return null;
      return api('/AMK/payments?' + new URLSearchParams({ query: value }).toString()).then(function (data) {
        S.policy = data.policyNumber || value;
        S.premium = data;
        renderPremium(data);
        showStep('premium');
        focusHeading(el.hPremium);
      });
    }).catch(function (err) {
      setFieldError(friendly(err, 'lookup', value));
      el.policy.focus();
    }).then(function () {
      setBusy(el.lookup, false);
    });
  }

  function renderPremium(p) {
    renderAmount(el.premiumAmount, p.amount, p.currency);
    el.premiumPolicy.textContent = p.policyNumber;
    el.premiumPayer.textContent = p.payer;
    el.premiumDue.textContent = formatDate(p.dueDate);
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
  function requestQr(button, errorNode, avoidSession) {
    setBusy(button, true);
    hide(errorNode);
    var query = '/khqr?' + new URLSearchParams({ bankCode: BANK_CODE, billNumber: S.policy }).toString();
    var attempt = 0;
    function once() {
      return api(query).then(function (data) {
        if (avoidSession && data.sessionId === avoidSession) {
          if (++attempt > SAME_SESSION_RETRIES) {
            throw new ApiError('SAME_SESSION', 'We could not create a new QR code for this premium right now. Please try again later.', 409);
          }
          return sleep(400).then(once);
        }
        return data;
      });
    }
    return once().then(function (data) {
      beginPayment(data);
    }, function (err) {
      showError(errorNode, friendly(err, 'khqr'));
    }).then(function () {
      setBusy(button, false);
    });
  }

  function beginPayment(q) {
    stopPayment();
    S.qr = q;
    S.status = 'PENDING';
    S.terminal = false;
    S.expiredLocally = false;
    S.expiredBy = null;
    S.lastEventId = null;
    S.failures = 0;
    S.dropSinceFrame = false;
    S.transport = null;
    S.announced = {};

    var amountText = formatAmount(q.amount, q.currency);
    el.qrImage.src = 'data:image/png;base64,' + q.qrCode;
    el.qrImage.alt = 'KHQR code to pay ' + amountText + ' for policy ' + q.policyId;
    el.qrPayee.textContent = merchantName(q.qrString) || 'Insurance premium';
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
    openStream(null);
  }

  function setStatus(state) {
    S.status = state;
    el.status.dataset.state = state;
    el.status.textContent = STATUS_TEXT[state] || state;
  }

  function setConnection(state) {
    var text = {
      connecting: 'Connecting…',
      live: 'Live',
      reconnecting: 'Reconnecting…',
      polling: 'Checking…',
      closed: ''
    }[state];
    el.connection.dataset.state = state;
    el.connection.textContent = text;
    el.connection.hidden = state === 'closed';
  }

  /** Stop everything that belongs to the payment on screen: stream, polling, timers. */
  function stopPayment() {
    closeStream();
    stopPolling();
    stopCountdown();
    clearTimeout(S.reconnectTimer);
    S.reconnectTimer = null;
  }

  // ---------------------------------------------------------------- countdown

  function startCountdown() {
    stopCountdown();
    var expires = parseTime(S.qr.expiresAt);
    var totalMs = S.ttlSeconds ? S.ttlSeconds * 1000 : Math.max(1000, expires - serverNow());
    el.countdownBar.style.transition = 'none';
    function tick() {
      S.countdownTimer = null;
      var left = expires - serverNow();
      var secs = Math.max(0, Math.ceil(left / 1000));
      el.countdown.textContent = clock(secs);
      el.countdown.dataset.seconds = String(secs);
      var urgent = secs <= 60 ? 'true' : 'false';
      el.countdownBox.dataset.urgent = urgent;
      el.countdownBar.parentNode.dataset.urgent = urgent;
      el.countdownBar.style.transform = 'scaleX(' + Math.max(0, Math.min(1, left / totalMs)).toFixed(4) + ')';
      [300, 60, 30, 10].forEach(function (mark) {
        if (secs <= mark && secs > 0 && !S.announced[mark] && totalMs / 1000 > mark) {
          S.announced[mark] = true;
          if (secs > mark - 2) announce('The QR code expires in ' + spokenDuration(mark) + '.');
        }
      });
      if (left <= 0 || !Number.isFinite(expires)) {
        onLocalExpiry();
        return;
      }
      // Wake up right when the display changes.
      var untilNext = left - (secs - 1) * 1000;
      S.countdownTimer = setTimeout(tick, Math.max(15, Math.min(1000, untilNext + 5)));
      if (el.countdownBar.style.transition === 'none') {
        requestAnimationFrame(function () { el.countdownBar.style.transition = ''; });
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
    // The stream stays open: a payment that landed in the last second still turns this into PAID,
    // and the server's own EXPIRED closes it.
    showResult('EXPIRED', null, null);
  }

  // ---------------------------------------------------------------- live status

  function closeStream() {
    S.streamGen++;
    if (S.es) {
      S.es.close();
      S.es = null;
    }
    clearTimeout(S.stuckTimer);
    S.stuckTimer = null;
  }

  function openStream(cursor) {
    closeStream();
    if (!S.qr || S.terminal) return;
    var gen = S.streamGen;
    var url = new URL(S.qr.eventsUrl, window.location.href);
    url.searchParams.set('token', S.qr.subscribeToken);
    if (cursor !== null && cursor !== undefined) url.searchParams.set('lastEventId', String(cursor));
    var es;
    try {
      es = new EventSource(url.href);
    } catch (e) {
      streamFailed();
      return;
    }
    S.es = es;
    S.streamOpens++;
    setConnection(S.failures ? 'reconnecting' : 'connecting');

    es.onopen = function () {
      if (gen !== S.streamGen) return;
      S.failures = 0;
      clearTimeout(S.stuckTimer);
      S.stuckTimer = null;
      stopPolling();
      setConnection('live');
    };
    es.addEventListener('payment.status', function (ev) {
      if (gen !== S.streamGen) return;
      var via = S.dropSinceFrame ? 'resume' : 'sse';
      var data;
      try { data = JSON.parse(ev.data); } catch (e) { return; }
      onFrame(ev.lastEventId, data, via);
    });
    es.onerror = function () {
      if (gen !== S.streamGen) return;
      if (S.terminal) {
        closeStream();
        return;
      }
      S.dropSinceFrame = true;
      if (es.readyState === EventSource.CLOSED) {
        streamFailed();
        return;
      }
      // The browser reconnects by itself and sends Last-Event-ID; the server resumes from there.
      setConnection(S.poll ? 'polling' : 'reconnecting');
      if (!S.stuckTimer) {
        S.stuckTimer = setTimeout(function () {
          S.stuckTimer = null;
          if (gen === S.streamGen && es.readyState !== EventSource.OPEN) startPolling();
        }, STUCK_CONNECTING_MS);
      }
    };
  }

  /** The EventSource gave up (or was cut): re-open it from the last event seen, with backoff. */
  function streamFailed() {
    closeStream();
    if (S.terminal || !S.qr) return;
    S.failures++;
    setConnection('reconnecting');
    if (S.failures >= POLL_AFTER_FAILURES) startPolling();
    var delay = RECONNECT_DELAYS_MS[Math.min(S.failures, RECONNECT_DELAYS_MS.length) - 1];
    clearTimeout(S.reconnectTimer);
    S.reconnectTimer = setTimeout(function () {
      S.reconnectTimer = null;
      openStream(S.lastEventId);
    }, delay);
  }

  /** Last resort: long-poll the QR session until SSE works again or the payment is settled. */
  function startPolling() {
    if (S.poll || S.terminal || !S.qr) return;
    var ctrl = new AbortController();
    var q = S.qr;
    S.poll = ctrl;
    if (!S.es || S.es.readyState !== EventSource.OPEN) setConnection('polling');
    var backoff = 1000;
    function alive() { return !ctrl.signal.aborted && !S.terminal && S.qr === q; }
    function loop() {
      if (!alive()) return null;
      var after = S.lastEventId === null ? 0 : S.lastEventId;
      var path = '/khqr/sessions/' + encodeURIComponent(q.sessionId) + '?wait=' + LONG_POLL_S + '&after=' + after;
      // The QR's own subscribeToken covers its session, whichever customer token the page holds by then.
      return api(path, { bearer: q.subscribeToken, signal: ctrl.signal }).then(function (session) {
        backoff = 1000;
        if (!alive()) return null;
        if (session.lastEventId > after || session.status !== 'PENDING') return applyPolled(q, session, ctrl);
        return null;
      }, function (err) {
        if (!alive()) return null;
        var wait = backoff;
        backoff = Math.min(backoff * 2, 10000);
        return sleep(err && err.code === 'RATE_LIMIT_EXCEEDED' ? 5000 : wait);
      }).then(function () {
        if (alive()) return loop();
        return null;
      });
    }
    loop();
  }

  function applyPolled(q, session, ctrl) {
    // The payment itself carries the transaction id and times; the session is the fallback.
    return api('/api/payments/' + q.paymentId, { bearer: q.subscribeToken, signal: ctrl.signal })
      .catch(function () {
        var status = session.paymentStatus ||
          { PAID: 'CONFIRMED', EXPIRED: 'EXPIRED', PENDING: 'PENDING' }[session.status];
        return { paymentId: q.paymentId, status: status, amount: session.amount, currency: session.currency };
      })
      .then(function (payment) {
        if (ctrl.signal.aborted || S.qr !== q) return;
        if (session.status === 'EXPIRED' && payment.status === 'PENDING') payment.status = 'EXPIRED';
        onFrame(session.lastEventId, payment, 'poll');
      });
  }

  function stopPolling() {
    if (S.poll) {
      S.poll.abort();
      S.poll = null;
    }
  }

  function onFrame(rawId, data, via) {
    var id = Number(rawId);
    var hasId = rawId !== '' && rawId !== null && rawId !== undefined && Number.isFinite(id);
    if (hasId && S.lastEventId !== null && id <= S.lastEventId) return; // seen already
    if (!S.qr || (data.paymentId !== undefined && Number(data.paymentId) !== Number(S.qr.paymentId))) return;
    if (hasId) S.lastEventId = id;
    S.frames++;
    S.transport = via;
    if (via !== 'poll') S.dropSinceFrame = false;
    if (S.terminal) return;

    var previous = S.status;
    switch (data.status) {
      case 'CONFIRMED':
        finish('PAID', data, via);
        break;
      case 'FAILED':
        finish('FAILED', data, via);
        break;
      case 'EXPIRED':
        finish('EXPIRED', data, via);
        break;
      case 'PROCESSING':
        if (!S.expiredLocally) {
          setStatus('PROCESSING');
          if (previous !== 'PROCESSING') showLatency(data, via);
        }
        break;
      default:
        if (!S.expiredLocally) setStatus('PENDING');
    }
  }

  function finish(state, data, via) {
    S.terminal = true;
    stopPayment();
    setConnection('closed');
    if (state === 'EXPIRED' && S.expiredLocally) {
      return; // the countdown already showed it; keep focus where the customer is
    }
    if (state === 'EXPIRED') S.expiredBy = 'server';
    showResult(state, data, via);
  }

  function showResult(state, data, via) {
    var q = S.qr;
    setStatus(state);
    el.result.dataset.state = state;
    var payer = (S.premium && S.premium.payer) || q.customerName;
    if (state === 'PAID') {
      el.resultTitle.textContent = 'Payment received';
      el.resultText.textContent = 'Thank you' + (payer ? ', ' + payer : '') +
        '. Your premium is paid — you can close this page.';
    } else if (state === 'FAILED') {
      el.resultTitle.textContent = 'Payment failed';
      el.resultText.textContent = 'The bank did not complete this payment. You can try again with a new QR code.';
      S.failedSessionId = q.sessionId;
    } else {
      el.resultTitle.textContent = 'QR code expired';
      el.resultText.textContent = 'For your security each QR code is valid for a limited time. ' +
        'Get a new one to pay your premium.';
    }
    el.receiptAmount.textContent = formatAmount(q.amount, q.currency);
    el.receiptPolicy.textContent = q.policyId;
    var tx = data && data.transactionId;
    el.transactionId.textContent = tx || '';
    el.receiptTxRow.hidden = !tx;
    var occurred = data ? parseTime(data.occurredAt) : NaN;
    el.receiptTimeRow.hidden = !(state === 'PAID' && Number.isFinite(occurred));
    if (!el.receiptTimeRow.hidden) {
      el.receiptTime.textContent = formatDateTime(occurred);
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
    if (data) showLatency(data, via);
    else hide(el.latency);
    focusHeading(el.resultTitle);
  }

  /** "Updated 12 ms after payment": from the status change on the server to this screen. */
  function showLatency(data, via) {
    var now = serverNow();
    var occurred = parseTime(data.occurredAt);
    var sent = parseTime(data.sentAt);
    var total = now - occurred;
    if (!Number.isFinite(total) || total < 0 || total > 120000) {
      hide(el.latency);
      return;
    }
    var what = {
      CONFIRMED: 'payment',
      FAILED: 'the bank\u2019s answer',
      EXPIRED: 'expiry',
      PROCESSING: 'the bank\u2019s message'
    }[data.status] || 'the change';
    var text = 'Updated ' + formatDuration(total) + ' after ' + what;
    if (via === 'poll') text += ' · checked by polling';
    else if (via === 'resume') text += ' · caught up after a reconnect';
    el.latency.textContent = text;
    el.latency.title = Number.isFinite(sent) ? 'Server to screen: ' + formatDuration(Math.max(0, now - sent)) : '';
    el.latency.dataset.ms = String(Math.round(total));
    show(el.latency);
  }

  // ---------------------------------------------------------------- sandbox

  var NOTICE_LABELS = { push: 'Push', sms: 'SMS', email: 'Email', webhook: 'Partner webhook' };

  /** Sandbox: what the notifier sent about this payment (asked a few times: it sends just after the status). */
  function showNotices(paymentId, tries) {
    fetch('/sandbox/notifications?format=json&paymentId=' + encodeURIComponent(paymentId), {
      headers: { Accept: 'application/json' }
    }).then(function (res) { return res.ok ? res.json() : null; }).then(function (body) {
      if (!S.qr || Number(S.qr.paymentId) !== Number(paymentId)) return;
      var records = (body && body.data) || [];
      if (records.length < 3 && tries < 10) {
        setTimeout(function () { showNotices(paymentId, tries + 1); }, 500);
      }
      if (!records.length) return;
      el.noticesList.textContent = '';
      records.slice().reverse().forEach(function (r) {
        var li = document.createElement('li');
        li.dataset.channel = r.channel;
        var what = document.createElement('strong');
        what.textContent = (NOTICE_LABELS[r.channel] || r.channel) + ' → ' + r.recipient;
        var text = document.createElement('span');
        text.textContent = r.channel === 'webhook' ? 'Standard Webhooks, id ' + r.messageId : r.channel === 'email' ? r.subject : r.text;
        li.appendChild(what);
        li.appendChild(text);
        el.noticesList.appendChild(li);
      });
      show(el.notices);
    }).catch(function () { /* the notices are a sandbox extra: the receipt above stands on its own */ });
  }

  function simulate(outcome, button) {
    if (!S.qr) return;
    el.simulate.disabled = true;
    el.simulateFail.disabled = true;
    button.setAttribute('aria-busy', 'true');
    hide(el.simulateError);
    var q = S.qr;
    api('/sandbox/amk/simulate/pay', {
      method: 'POST',
      auth: false,
      body: { paymentId: q.paymentId, method: 'KHQR', outcome: outcome }
    }).then(function (data) {
      // The sandbox reports what the gateway answered to each webhook it sent.
      var refused = (data.webhooks || []).map(function (w) {
        return w.attempts && w.attempts[w.attempts.length - 1];
      }).filter(function (a) { return a && a.status >= 400; })[0];
      if (refused && !S.terminal && S.qr === q) {
        var e = (refused.response && refused.response.error) || {};
        throw new ApiError(e.code || 'HTTP_' + refused.status, e.message || 'The gateway refused the payment', refused.status, e);
      }
    }).catch(function (err) {
      if (!S.terminal && S.qr === q) showError(el.simulateError, friendly(err, 'simulate'));
    }).then(function () {
      setBusy(el.simulate, false);
      setBusy(el.simulateFail, false);
    });
  }

  // ---------------------------------------------------------------- wiring

  el.form.addEventListener('submit', onLookup);
  el.policy.addEventListener('input', function () {
    if (el.policy.getAttribute('aria-invalid') === 'true' && !validatePolicy(el.policy.value.trim())) {
      setFieldError(null);
    }
  });
  el.payKhqr.addEventListener('click', function () {
    requestQr(el.payKhqr, el.premiumError, null);
  });
  el.changePolicy.addEventListener('click', function () { backToLookup(true); });
  el.cancelPayment.addEventListener('click', function () { backToLookup(true); });
  el.startOver.addEventListener('click', function () { backToLookup(false); });
  el.newQr.addEventListener('click', function () {
    requestQr(el.newQr, el.resultError, S.qr && S.qr.sessionId);
  });
  el.tryAgain.addEventListener('click', function () {
    requestQr(el.tryAgain, el.resultError, S.failedSessionId);
  });
  el.simulate.addEventListener('click', function () { simulate('SUCCESS', el.simulate); });
  el.simulateFail.addEventListener('click', function () { simulate('FAILED', el.simulateFail); });

  document.addEventListener('visibilitychange', function () {
    if (document.visibilityState === 'visible' && S.tick && S.countdownTimer) {
      clearTimeout(S.countdownTimer);
      S.tick(); // timers sleep in background tabs: catch the countdown up at once
    }
  });
  window.addEventListener('online', function () {
    // Back online: do not wait for the next backoff step.
    if (S.qr && !S.terminal && (!S.es || S.es.readyState !== EventSource.OPEN)) {
      clearTimeout(S.reconnectTimer);
      S.reconnectTimer = null;
      openStream(S.lastEventId);
    }
  });

  window.__payhub = Object.freeze({
    get state() {
      return {
        phase: S.phase,
        status: S.status,
        terminal: S.terminal,
        expiredLocally: S.expiredLocally,
        expiredBy: S.expiredBy,
        paymentId: S.qr ? S.qr.paymentId : null,
        sessionId: S.qr ? S.qr.sessionId : null,
        expiresAt: S.qr ? S.qr.expiresAt : null,
        lastEventId: S.lastEventId,
        frames: S.frames,
        streamOpens: S.streamOpens,
        streamState: S.es ? ['connecting', 'open', 'closed'][S.es.readyState] : 'none',
        polling: !!S.poll,
        transport: S.transport,
        connection: el.connection.dataset.state,
        sandbox: S.sandbox
      };
    },
    /** Cut the live stream as a network drop would; the page must recover without losing events. */
    dropStream: function () {
      if (!S.es) return false;
      S.es.close();
      S.dropSinceFrame = true;
      streamFailed();
      return true;
    }
  });

  S.ready = start();
})();
