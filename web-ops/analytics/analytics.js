/*
 * PayHub payment analytics dashboard: the figures of GET /admin/analytics, live.
 *
 * Plain browser JavaScript, no build step, no external resources.
 *
 * Token: the page holds none. The operator pastes an admin token (`payhub token --sub NAME --role admin`),
 * or opens the page as /ops/analytics/#token=… (the fragment never reaches a server and is removed from
 * the address bar at once). It is kept in sessionStorage (this tab only) and sent as
 * `Authorization: Bearer …` — never in a URL, where proxies and browser history would keep it.
 *
 * Live: GET /admin/analytics/stream read with fetch() and a stream reader (EventSource cannot send an
 * Authorization header). Each `analytics.snapshot` event carries the whole document; heartbeats keep
 * the connection warm. A dropped stream is re-opened with a growing delay; no byte for 45 s counts as
 * dropped. 401/403 sign the operator out.
 *
 * Test hook: window.__analytics.state (a snapshot of what the page knows).
 */
(function () {
  'use strict';

  var TOKEN_KEY = 'payhub.ops.token';
  var RECONNECT_DELAYS_MS = [500, 1000, 2000, 4000, 8000, 15000];
  var SILENCE_MS = 45000;
  var PHNOM_PENH = 'Asia/Phnom_Penh';
  var RANGES = {
    hour: { label: 'Last hour', params: 'window=3600' },
    day: { label: 'Last 24 hours', params: '' },
    today: { label: 'Today (Phnom Penh)', params: null },
    week: { label: 'Last 7 days', params: 'window=604800' },
    month: { label: 'Last 30 days', params: 'window=2592000' }
  };
  var METHOD_NAMES = { KHQR: 'KHQR', BILL_PAYMENT: 'Bill payment', UNKNOWN: 'Unknown' };

  function $(id) { return document.getElementById(id); }

  var state = {
    connection: 'signed-out',
    snapshots: 0,
    streamOpens: 0,
    last: null,
    range: 'day'
  };
  var token = null;
  var controller = null;
  var failures = 0;
  var retryTimer = null;
  var silenceTimer = null;
  var streamDay = null;

  window.__analytics = {
    get state() { return JSON.parse(JSON.stringify(state)); }
  };

  // --- token ------------------------------------------------------------------------------------

  function readToken() {
    var match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
    if (match) {
      try { sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1])); } catch (e) { /* private mode */ }
      history.replaceState(null, '', window.location.pathname + window.location.search);
      return decodeURIComponent(match[1]);
    }
    try { return sessionStorage.getItem(TOKEN_KEY); } catch (e) { return null; }
  }

  function signIn(value) {
    token = value;
    try { sessionStorage.setItem(TOKEN_KEY, value); } catch (e) { /* private mode: this page load only */ }
    $('sign-in').hidden = true;
    $('dashboard').hidden = false;
    hideNotice();
    connect();
  }

  function signOut(message) {
    stop();
    token = null;
    try { sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* ignore */ }
    setConnection('signed-out', 'Signed out');
    $('dashboard').hidden = true;
    $('sign-in').hidden = false;
    $('token').value = '';
    if (message) { showNotice(message); }
    $('token').focus();
  }

  // --- the stream -------------------------------------------------------------------------------

  function today() {
    return new Intl.DateTimeFormat('en-CA', { timeZone: PHNOM_PENH, year: 'numeric', month: '2-digit', day: '2-digit' })
      .format(new Date());
  }

  function streamUrl() {
    var params = RANGES[state.range].params;
    streamDay = today();
    if (params === null) {  // today: from Phnom Penh's midnight, up to now (re-opened when the day turns)
      params = 'from=' + encodeURIComponent(streamDay + 'T00:00:00+07:00');
    }
    return '/admin/analytics/stream' + (params ? '?' + params : '');
  }

  function stop() {
    if (controller) { controller.abort(); controller = null; }
    clearTimeout(retryTimer);
    clearTimeout(silenceTimer);
  }

  function connect() {
    stop();
    if (!token) { return; }
    var mine = new AbortController();
    controller = mine;
    setConnection(state.snapshots ? 'reconnecting' : 'connecting', state.snapshots ? 'Reconnecting…' : 'Connecting…');
    state.streamOpens += 1;
    fetch(streamUrl(), {
      headers: { Authorization: 'Bearer ' + token, Accept: 'text/event-stream' },
      cache: 'no-store',
      signal: mine.signal
    }).then(function (response) {
      if (response.status === 401 || response.status === 403) {
        return errorMessage(response).then(function (text) {
          signOut((response.status === 401 ? 'The token was refused: ' : 'This token is not an admin token: ') + text);
        });
      }
      if (!response.ok || !response.body) {
        return errorMessage(response).then(function (text) { throw new Error(text); });
      }
      return read(response.body.getReader(), mine);
    }).catch(function (err) {
      if (mine.signal.aborted) { return; }
      showNotice('Live figures interrupted (' + (err && err.message ? err.message : 'network error') + '); retrying.');
    }).then(function () {
      if (controller === mine && !mine.signal.aborted && token) { retry(); }
    });
  }

  function retry() {
    var delay = RECONNECT_DELAYS_MS[Math.min(failures, RECONNECT_DELAYS_MS.length - 1)];
    failures += 1;
    setConnection('reconnecting', 'Reconnecting…');
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, delay);
  }

  function errorMessage(response) {
    return response.text().then(function (text) {
      try { return JSON.parse(text).error.message; } catch (e) { return 'HTTP ' + response.status; }
    });
  }

  function armSilence(mine) {
    clearTimeout(silenceTimer);
    silenceTimer = setTimeout(function () { if (controller === mine) { mine.abort(); controller = null; retry(); } }, SILENCE_MS);
  }

  function read(reader, mine) {
    var decoder = new TextDecoder();
    var buffer = '';
    armSilence(mine);
    function pump() {
      return reader.read().then(function (chunk) {
        if (chunk.done) { throw new Error('the stream ended'); }
        armSilence(mine);
        buffer += decoder.decode(chunk.value, { stream: true }).replace(/\r\n?/g, '\n');
        var end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          onBlock(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
        return pump();
      });
    }
    return pump();
  }

  // One Server-Sent Events block (WHATWG HTML §9.2.6): "event:" and "data:" lines; ":" comments.
  function onBlock(block) {
    var event = 'message';
    var data = [];
    block.split('\n').forEach(function (line) {
      if (!line || line.charAt(0) === ':') { return; }
      var colon = line.indexOf(':');
      var field = colon < 0 ? line : line.slice(0, colon);
      var value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') { event = value; } else if (field === 'data') { data.push(value); }
    });
    if (!data.length) { return; }
    if (event === 'analytics.snapshot') {
      failures = 0;
      hideNotice();
      setConnection('live', 'Live');
      render(JSON.parse(data.join('\n')).analytics);
      if (state.range === 'today' && today() !== streamDay) { setTimeout(connect, 0); }
    } else if (event === 'analytics.unavailable') {
      setConnection('degraded', 'Figures unavailable');
      showNotice('The figures cannot be computed right now: ' + JSON.parse(data.join('\n')).message + '. Retrying.');
    }
  }

  // --- rendering --------------------------------------------------------------------------------

  function groupDigits(text) {
    // Amounts arrive as exact text ("1250000.00"): grouped as text, never through a float.
    var parts = text.split('.');
    return parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ',') + (parts.length > 1 ? '.' + parts[1] : '');
  }

  function percent(rate) {
    return rate === null || rate === undefined ? '—' : (rate * 100).toFixed(1) + ' %';
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) { return '—'; }
    if (seconds < 60) { return seconds.toFixed(1) + ' s'; }
    if (seconds < 3600) { return Math.floor(seconds / 60) + ' min ' + Math.round(seconds % 60) + ' s'; }
    return Math.floor(seconds / 3600) + ' h ' + Math.round((seconds % 3600) / 60) + ' min';
  }

  function localTime(iso, withDate) {
    var options = { timeZone: PHNOM_PENH, hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false };
    if (withDate) { options.day = 'numeric'; options.month = 'short'; }
    return new Intl.DateTimeFormat('en-GB', options).format(new Date(iso));
  }

  function setText(id, text) {
    var node = $(id);
    if (node.textContent !== text) { node.textContent = text; }
  }

  function render(a) {
    var rt = a.realTimeMetrics;
    var bm = a.businessMetrics;
    state.snapshots += 1;
    state.last = a;
    setText('range-text', RANGES[state.range].label + ': ' + localTime(a.range.from, true) + ' – ' + localTime(a.range.to, true));
    setText('updated', localTime(a.generatedAt, false));
    $('updated').setAttribute('datetime', a.generatedAt);
    setText('active', String(rt.activePayments));
    setText('success-rate', percent(rt.successRate));
    var t = rt.terminalPayments;
    setText('outcomes', t.CONFIRMED + ' confirmed, ' + t.FAILED + ' failed, ' + t.EXPIRED + ' expired');
    setText('processing', duration(rt.averageProcessingTimeSeconds));
    setText('transactions', String(bm.transactionCount));
    setText('volume-usd', groupDigits(bm.totalVolume.USD) + ' USD');
    setText('volume-khr', groupDigits(bm.totalVolume.KHR) + ' KHR');
    setText('peak-hours', rt.peakHours.length ? rt.peakHours.join(', ') : '—');
    renderMethods(bm.popularPaymentMethods, bm.transactionsByMethod);
    renderHours(rt.transactionsByHour, rt.peakHours);
  }

  function renderMethods(shares, counts) {
    var list = $('methods');
    list.textContent = '';
    var names = Object.keys(shares);
    $('methods-empty').hidden = names.length > 0;
    names.forEach(function (name) {
      var item = document.createElement('li');
      item.dataset.method = name;
      var label = document.createElement('span');
      label.className = 'bar-label';
      label.textContent = (METHOD_NAMES[name] || name) + ' · ' + counts[name] + ' · ' + percent(shares[name]);
      var track = document.createElement('span');
      track.className = 'bar-track';
      var fill = document.createElement('span');
      fill.className = 'bar-fill';
      fill.style.width = Math.max(0, Math.min(100, shares[name] * 100)) + '%';
      track.appendChild(fill);
      item.appendChild(label);
      item.appendChild(track);
      list.appendChild(item);
    });
  }

  function renderHours(counts, peaks) {
    var box = $('hours');
    box.textContent = '';
    var top = Math.max.apply(null, counts.concat([1]));
    counts.forEach(function (n, hour) {
      var label = (hour < 10 ? '0' : '') + hour + ':00';
      var column = document.createElement('div');
      column.className = 'hour' + (peaks.some(function (p) { return p.indexOf(label) === 0; }) ? ' peak' : '');
      column.title = label + ' · ' + n + ' transaction' + (n === 1 ? '' : 's');
      column.dataset.hour = String(hour);
      column.dataset.count = String(n);
      var bar = document.createElement('span');
      bar.className = 'hour-bar';
      bar.style.height = Math.round((n / top) * 100) + '%';
      var tick = document.createElement('span');
      tick.className = 'hour-tick';
      tick.textContent = hour % 3 === 0 ? String(hour) : '';
      column.appendChild(bar);
      column.appendChild(tick);
      box.appendChild(column);
    });
  }

  // --- page chrome ------------------------------------------------------------------------------

  function setConnection(name, text) {
    state.connection = name;
    var pill = $('connection');
    pill.dataset.state = name;
    pill.textContent = text;
  }

  function showNotice(text) {
    var notice = $('notice');
    notice.textContent = text;
    notice.hidden = false;
  }

  function hideNotice() { $('notice').hidden = true; }

  $('sign-in-form').addEventListener('submit', function (event) {
    event.preventDefault();
    var value = $('token').value.trim();
    if (!value) { showNotice('Paste an admin token first.'); $('token').focus(); return; }
    signIn(value);
  });
  $('sign-out').addEventListener('click', function () { signOut(''); });
  $('range').addEventListener('change', function () {
    state.range = $('range').value;
    failures = 0;
    connect();
  });
  document.addEventListener('visibilitychange', function () {
    // A tab left in the background may have lost its stream; come back live at once.
    if (document.visibilityState === 'visible' && token && state.connection === 'reconnecting') { connect(); }
  });

  var saved = readToken();
  if (saved) { signIn(saved); } else { signOut(''); }
})();
