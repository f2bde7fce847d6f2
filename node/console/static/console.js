// Patron console: the pages' behaviour. Plain JavaScript, no framework, no
// build step. Every page is a server-rendered shell; this script fills it
// from the admin JSON API and, on the demo till page, from the till
// endpoint over WebSocket.
(function () {
  'use strict';

  var body = document.body;
  var API = body.dataset.api;
  var BASE = body.dataset.base;
  var PAGE = body.dataset.page;

  // ---- DOM helpers -------------------------------------------------------

  function $(id) { return document.getElementById(id); }

  // el builds an element: attrs are properties (class, text, dataset…) or
  // attributes; children are nodes or strings.
  function el(tag, attrs) {
    var svg = tag.indexOf('svg:') === 0;
    var n = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4)) : document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === undefined || v === null || v === false) return;
        if (k === 'text') n.textContent = v;
        else if (k === 'class') n.setAttribute('class', v);
        else if (k === 'on') Object.keys(v).forEach(function (e) { n.addEventListener(e, v[e]); });
        else if (k === 'dataset') Object.keys(v).forEach(function (d) { n.dataset[d] = v[d]; });
        else if (!svg && k in n && typeof v !== 'string') n[k] = v;
        else n.setAttribute(k, v === true ? '' : String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) append(n, arguments[i]);
    return n;
  }

  function append(n, c) {
    if (c === undefined || c === null || c === false) return;
    if (Array.isArray(c)) { c.forEach(function (x) { append(n, x); }); return; }
    n.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }

  function clear(n) { while (n.firstChild) n.removeChild(n.firstChild); return n; }
  function show(n, on) { n.hidden = !on; return n; }

  function flash(msg) {
    var f = $('flash');
    if (!f) return;
    f.textContent = msg || '';
    show(f, !!msg);
  }

  function fmtTime(s) {
    if (!s) return '';
    var d = new Date(s);
    if (isNaN(d.getTime()) || d.getTime() <= 0) return s === '0001-01-01T00:00:00Z' ? 'never' : String(s);
    return d.toLocaleString();
  }

  function fmtNum(v) {
    return typeof v === 'number' ? v.toLocaleString() : (v === undefined || v === null ? '' : String(v));
  }

  // formatMoney shows an amount in minor units with its decimal point,
  // by string (never through a fraction), with thousands grouped.
  function formatMoney(v, digits, currency) {
    if (v === '' || v === null || v === undefined || !isNumber(String(v)) || String(v).indexOf('.') >= 0) return cell(v);
    var s = String(v), neg = s.charAt(0) === '-';
    if (neg) s = s.slice(1);
    var whole = s, frac = '';
    if (digits > 0) {
      while (s.length <= digits) s = '0' + s;
      whole = s.slice(0, s.length - digits);
      frac = '.' + s.slice(s.length - digits);
    }
    whole = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
    return (neg ? '-' : '') + whole + frac + (currency ? ' ' + currency : '');
  }

  // programmeFacts resolves to the current programme's currency and
  // minor digits (none known: no decimal point).
  var factsPromise = null;
  function programmeFacts() {
    if (!factsPromise) {
      factsPromise = api('GET', '/programme').then(function (p) {
        var d = p.document || {};
        return { currency: d.currency || '', minor_digits: d.minor_digits || 0, document: d };
      }).catch(function () { return { currency: '', minor_digits: 0, document: {} }; });
    }
    return factsPromise;
  }

  function kv(dl, pairs) {
    clear(dl);
    pairs.forEach(function (p) {
      if (p[1] === undefined || p[1] === null || p[1] === '') return;
      dl.appendChild(el('dt', { text: p[0] }));
      dl.appendChild(el('dd', p[2] ? { id: p[2] } : null, p[1]));
    });
  }

  // ---- the admin API -----------------------------------------------------

  function ApiError(status, body) {
    var e = (body && body.error) || {};
    this.status = status;
    this.code = e.code || ('http_' + status);
    this.message = e.message || ('HTTP ' + status);
    this.body = body;
  }
  ApiError.prototype.toString = function () { return this.message; };

  function qs(params) {
    var u = new URLSearchParams();
    Object.keys(params || {}).forEach(function (k) {
      var v = params[k];
      if (v !== undefined && v !== null && v !== '' && v !== false) u.set(k, String(v));
    });
    var s = u.toString();
    return s ? '?' + s : '';
  }

  // api calls the admin API; it resolves to the decoded body and rejects
  // with an ApiError. A 401 outside the login page goes to the login page.
  function api(method, path, opts) {
    opts = opts || {};
    var init = { method: method, credentials: 'same-origin', headers: { 'Accept': 'application/json' } };
    if (opts.json !== undefined) {
      init.body = JSON.stringify(opts.json);
      init.headers['Content-Type'] = 'application/json';
    } else if (opts.text !== undefined) {
      init.body = opts.text;
      init.headers['Content-Type'] = opts.contentType || 'text/plain';
    }
    return fetch(API + path + qs(opts.query), init).then(function (r) {
      var ct = r.headers.get('Content-Type') || '';
      var parse = ct.indexOf('json') >= 0 ? r.json().catch(function () { return null; }) : r.text();
      return parse.then(function (b) {
        if (r.ok) return b;
        if (r.status === 401 && PAGE !== 'login' && !opts.noRedirect) {
          location.assign(BASE + '/login?next=' + encodeURIComponent(location.pathname + location.search));
        }
        throw new ApiError(r.status, typeof b === 'object' ? b : null);
      });
    });
  }

  function seg(s) { return encodeURIComponent(s); }

  function whoami() {
    var who = $('whoami');
    if (!who) return;
    api('GET', '/whoami').then(function (w) {
      who.textContent = w.role + (w.store ? ' · ' + w.store : '');
      show(who, true);
      show($('logout'), true);
    }).catch(function (e) { if (e.status !== 401) flash('Who am I: ' + e); });
    $('logout').addEventListener('click', function () {
      api('DELETE', '/session', { noRedirect: true }).catch(function () {}).then(function () {
        location.assign(BASE + '/login');
      });
    });
  }

  // ---- login -------------------------------------------------------------

  function loginPage() {
    var form = $('login-form');
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var err = $('login-error');
      show(err, false);
      api('POST', '/session', { json: { token: $('login-token').value } }).then(function () {
        var next = new URLSearchParams(location.search).get('next') || '';
        // Only a console path: never an address a link could smuggle in.
        if (next.indexOf(BASE + '/') !== 0 || next.indexOf('//') >= 0) next = BASE + '/members';
        location.assign(next);
      }).catch(function (e) {
        err.textContent = e.status === 401 ? 'That token is not valid here.' : String(e);
        show(err, true);
      });
    });
  }

  // ---- members -----------------------------------------------------------

  function membersPage() {
    var kind = $('lookup-kind'), value = $('lookup-value'), status = $('lookup-status');
    var current = null;

    function lookup() {
      var q = {};
      q[kind.value] = value.value.trim();
      history.replaceState(null, '', location.pathname + qs(q));
      flash('');
      status.textContent = 'Looking up…';
      show(status, true);
      return api('GET', '/members', { query: q }).then(function (m) {
        var id = memberID(m);
        return api('GET', '/members/' + seg(id));
      }).then(function (m) {
        current = m;
        render(m);
        show(status, false);
        return loadLedger();
      }).catch(function (e) {
        show($('member'), false);
        current = null;
        status.textContent = e.status === 404 ? 'No member with that ' + kind.options[kind.selectedIndex].text + '.' : String(e);
        show(status, true);
      });
    }

    function render(m) {
      var mm = m.member || m;
      var pts = m.points || mm.points || {};
      var bal = m.balance !== undefined ? m.balance : pts.balance;
      kv($('member-profile'), [
        ['Member id', mm.member_id],
        ['Name', [mm.first_name, mm.last_name].filter(Boolean).join(' ')],
        ['E-mail', mm.email],
        ['Tier', m.tier !== undefined ? (typeof m.tier === 'object' ? m.tier.name : m.tier) : mm.tier],
        ['Country', mm.country],
        ['Birthday', mm.birthday],
        ['Anniversary', mm.anniversary],
        ['Groups', (mm.groups || []).join(', ')],
        ['Enrolled', fmtTime(mm.enrolled_at)]
      ]);
      var b = $('member-balance');
      b.textContent = fmtNum(bal);
      b.dataset.points = String(bal);
      kv($('member-points'), [
        ['Redeemable', fmtNum(pts.redeemable)],
        ['Pending', fmtNum(pts.pending)]
      ]);
      var cards = clear($('member-cards').tBodies[0]);
      (m.cards || mm.cards || []).forEach(function (c) {
        cards.appendChild(el('tr', null, el('td', { text: c.number }), el('td', { text: c.type }),
          el('td', { text: c.status + (c.block_reason ? ' (' + c.block_reason + ')' : '') }), el('td', { text: fmtTime(c.issued_at) })));
      });
      var consents = m.consents || mm.consents || {};
      kv($('member-consents'), Object.keys(consents).sort().map(function (k) { return [k, consents[k] ? 'given' : 'not given']; }));
      var id = seg(mm.member_id);
      $('statement-html').href = API + '/members/' + id + '/statement?format=html';
      $('statement-csv').href = API + '/members/' + id + '/statement?format=csv';
      $('statement-json').href = API + '/members/' + id + '/statement?format=json';
      show($('member'), true);
    }

    function loadLedger() {
      if (!current) return Promise.resolve();
      var mm = current.member || current;
      var q = { from: $('ledger-from').value, to: $('ledger-to').value };
      return api('GET', '/members/' + seg(mm.member_id) + '/ledger', { query: q }).then(function (l) {
        var rows = clear($('member-ledger').tBodies[0]);
        var entries = Array.isArray(l) ? l : (l.entries || []);
        entries.forEach(function (e) {
          rows.appendChild(el('tr', { class: e.offline ? 'offline' : null },
            el('td', { text: fmtTime(e.at) }), el('td', { text: e.store }), el('td', { text: e.kind + (e.offline ? ' (offline)' : '') }),
            el('td', { class: 'num', text: fmtNum(e.points) }), el('td', { class: 'num', text: fmtNum(e.balance) }),
            el('td', { text: e.ref })));
        });
        if (!entries.length) rows.appendChild(el('tr', null, el('td', { colspan: 6, class: 'muted', text: 'No entries.' })));
      }).catch(function (e) { flash('Ledger: ' + e); });
    }

    $('lookup-form').addEventListener('submit', function (ev) { ev.preventDefault(); lookup(); });
    $('ledger-form').addEventListener('submit', function (ev) { ev.preventDefault(); loadLedger(); });
    var params = new URLSearchParams(location.search);
    ['mobile', 'card', 'email'].forEach(function (k) {
      if (params.get(k)) { kind.value = k; value.value = params.get(k); }
    });
    if (value.value) lookup();
  }

  function memberID(m) {
    if (!m) return '';
    if (m.member_id) return m.member_id;
    if (m.member && m.member.member_id) return m.member.member_id;
    return m.id || '';
  }

  // ---- programme ---------------------------------------------------------

  function programmePage() {
    var doc = $('programme-document'), text = $('programme-text');
    var currentText = '';

    function load() {
      return api('GET', '/programme').then(function (p) {
        $('programme-version').textContent = p.version || '';
        var d = p.document !== undefined ? p.document : p;
        currentText = typeof d === 'string' ? d : JSON.stringify(d, null, 2);
        doc.textContent = currentText;
      }).catch(function (e) {
        doc.textContent = e.code === 'no_programme' ? 'No programme loaded yet.' : String(e);
      });
    }

    // locate selects, best effort, where a problem's path points in the
    // document: the last key of the path (JSON "key" or YAML key:)
    // after the keys before it, in order.
    function locate(path) {
      var src = text.value, at = 0, found = -1, len = 0;
      path.split('.').forEach(function (part) {
        var key = part.replace(/\[\d+\]$/, '');
        if (!key) return;
        var re = new RegExp('"' + key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '"\\s*:|(^|\\s)' +
          key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '\\s*:', 'm');
        var m = re.exec(src.slice(at));
        if (m) { found = at + m.index; len = m[0].length; at = found + len; }
      });
      if (found < 0) return;
      text.focus();
      text.setSelectionRange(found, found + len);
    }

    $('programme-copy').addEventListener('click', function () { text.value = currentText; });
    $('programme-file').addEventListener('change', function (ev) {
      var f = ev.target.files[0];
      if (!f) return;
      f.text().then(function (t) { text.value = t; });
    });
    $('programme-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var result = $('programme-result'), problems = $('programme-problems'), list = $('programme-errors');
      show(result, false);
      show(problems, false);
      clear(list);
      flash('');
      var src = text.value;
      var ct = /^\s*[{[]/.test(src) ? 'application/json' : 'application/yaml';
      api('POST', '/programme', { text: src, contentType: ct }).then(function (r) {
        result.textContent = 'Loaded version ' + (r && r.version ? r.version : '') + '.';
        show(result, true);
        return load();
      }).catch(function (e) {
        var errs = (e.body && e.body.errors) || [];
        if (!errs.length) errs = [{ path: (e.body && e.body.error && e.body.error.field) || '', message: e.message }];
        errs.forEach(function (p) {
          var path = p.path ? el('button', { type: 'button', class: 'link', title: 'Find it in the document',
            on: { click: function () { locate(p.path); } } }, el('code', { class: 'path', text: p.path })) : null;
          list.appendChild(el('li', { dataset: { path: p.path || '' } }, path, p.path ? ' ' : null, p.message));
        });
        show(problems, true);
      });
    });
    load();
  }

  // ---- campaigns ---------------------------------------------------------

  function campaignsPage() {
    var at = $('campaigns-at');

    function load() {
      var q = {};
      if (at.value) q.at = new Date(at.value).toISOString();
      api('GET', '/campaigns', { query: q }).then(function (list) {
        list = Array.isArray(list) ? list : (list.campaigns || []);
        var cols = ['id', 'name', 'kind', 'level', 'order', 'valid', 'members_only', 'coupon_required', 'stores', 'tiers', 'groups'];
        var known = cols.filter(function (c) { return list.some(function (x) { return !empty(x[c]); }); });
        var head = clear($('campaigns-table').tHead);
        head.appendChild(el('tr', null, el('th', { text: 'Live' }), known.map(function (c) { return el('th', { text: c.replace(/_/g, ' ') }); })));
        var rows = clear($('campaigns-table').tBodies[0]);
        var live = 0;
        list.forEach(function (c) {
          if (c.live) live++;
          rows.appendChild(el('tr', { class: c.live ? 'live' : null, dataset: { campaign: c.id } },
            el('td', null, c.live ? el('span', { class: 'tag live', text: 'live' }) : el('span', { class: 'muted', text: '—' })),
            known.map(function (k) { return el('td', { text: k === 'valid' ? validity(c[k]) : cell(c[k]) }); })));
        });
        $('campaigns-summary').textContent = live + ' of ' + list.length + ' live ' + (at.value ? 'then' : 'now');
      }).catch(function (e) { flash('Campaigns: ' + e); });
    }

    $('campaigns-form').addEventListener('submit', function (ev) { ev.preventDefault(); load(); });
    $('campaigns-now').addEventListener('click', function () { at.value = ''; load(); });
    load();
  }

  function empty(v) {
    return v === undefined || v === null || v === false || v === '' ||
      (Array.isArray(v) && !v.length) || (typeof v === 'object' && !Array.isArray(v) && !Object.keys(v).length);
  }

  // validity says a campaign's window in words.
  function validity(v) {
    if (!v) return 'always';
    var parts = [];
    if (v.from || v.to) parts.push((v.from || '…') + ' to ' + (v.to || '…'));
    if (v.days && v.days.length) parts.push(v.days.join(', '));
    if (v.hours && v.hours.length) parts.push(v.hours.join('–'));
    return parts.join('; ') || 'always';
  }

  function cell(v) {
    if (v === undefined || v === null) return '';
    if (typeof v === 'boolean') return v ? 'yes' : '';
    if (Array.isArray(v)) return v.join(', ');
    if (typeof v === 'object') return JSON.stringify(v);
    return String(v);
  }

  // ---- reports -----------------------------------------------------------

  // moneyColumns are the report columns in minor units (node/report.go):
  // the table shows them as money; the CSV export keeps minor units.
  var moneyColumns = ['gross', 'discount', 'net', 'paid', 'redeemed_value', 'returned_money'];

  function colName(c) { return typeof c === 'string' ? c : (c.name || c.id || ''); }
  function colTitle(c) { return typeof c === 'string' ? c.replace(/_/g, ' ') : (c.title || c.label || colName(c)); }

  function reportsPage() {
    var reports = [], current = null;

    api('GET', '/reports').then(function (list) {
      reports = Array.isArray(list) ? list : (list.reports || []);
      var ul = clear($('report-list'));
      reports.forEach(function (r) {
        ul.appendChild(el('li', null, el('button', { type: 'button', text: r.title || r.name, dataset: { report: r.name },
          on: { click: function () { open(r); } } })));
      });
      if (!reports.length) ul.appendChild(el('li', { class: 'muted', text: 'No reports for this role.' }));
      var want = new URLSearchParams(location.search).get('report');
      var r = reports.filter(function (x) { return x.name === want; })[0];
      if (r) open(r);
    }).catch(function (e) { flash('Reports: ' + e); });

    function open(r) {
      current = r;
      Array.prototype.forEach.call(document.querySelectorAll('#report-list button'), function (b) {
        b.classList.toggle('current', b.dataset.report === r.name);
      });
      history.replaceState(null, '', location.pathname + qs({ report: r.name }));
      $('report-title').textContent = r.title || r.name;
      var form = clear($('report-filters'));
      (r.filters || []).forEach(function (f) {
        var name = colName(f);
        var type = (typeof f === 'object' && f.type) || '';
        var input;
        if (name === 'from' || name === 'to' || type === 'date' || type === 'time') {
          input = el('input', { type: 'date', name: name, dataset: { kind: 'date' } });
        } else if (name === 'detail' || type === 'bool' || type === 'boolean') {
          input = el('input', { type: 'checkbox', name: name, dataset: { kind: 'bool' } });
        } else {
          input = el('input', { type: 'text', name: name, size: 12 });
        }
        input.id = 'filter-' + name;
        form.appendChild(el('label', null, colTitle(f), input));
      });
      form.appendChild(el('button', { type: 'submit', id: 'report-run', text: 'Run' }));
      form.appendChild(el('button', { type: 'button', id: 'report-export-button', class: 'secondary', text: 'Export CSV',
        on: { click: exportCSV } }));
      form.onsubmit = function (ev) { ev.preventDefault(); run(); };
      show($('report'), true);
      show($('report-export'), false);
      run();
    }

    function filters() {
      var out = {};
      Array.prototype.forEach.call($('report-filters').querySelectorAll('input'), function (i) {
        if (i.dataset.kind === 'bool') { if (i.checked) out[i.name] = 'true'; return; }
        var v = i.value.trim();
        if (!v) return;
        out[i.name] = v;
      });
      return out;
    }

    function run() {
      var r = current, status = $('report-status');
      status.textContent = 'Running…';
      show(status, true);
      Promise.all([api('GET', '/reports/' + seg(r.name), { query: filters() }), programmeFacts()]).then(function (got) {
        if (current !== r) return;
        var t = table(r, got[0]), f = got[1];
        t.money = function (v) { return formatMoney(v, f.minor_digits, ''); };
        renderTable(t);
        renderChart(t);
        status.textContent = t.rows.length + ' row' + (t.rows.length === 1 ? '' : 's');
      }).catch(function (e) {
        status.textContent = String(e);
        clear($('report-table').tHead);
        clear($('report-table').tBodies[0]);
        show($('report-chart'), false);
      });
    }

    // table normalises a report answer to {columns: [name], titles, rows: [[v]]}.
    function table(r, res) {
      var cols = (res && res.columns) || r.columns || [];
      var rows = Array.isArray(res) ? res : ((res && res.rows) || []);
      var names = cols.map(colName);
      if (!names.length && rows.length && !Array.isArray(rows[0])) names = Object.keys(rows[0]);
      var titles = names.map(function (n) {
        var c = cols.filter(function (x) { return colName(x) === n; })[0];
        return c ? colTitle(c) : n.replace(/_/g, ' ');
      });
      rows = rows.map(function (row) {
        return Array.isArray(row) ? row : names.map(function (n) { return row[n]; });
      });
      return { columns: names, titles: titles, rows: rows };
    }

    function renderTable(t) {
      var numeric = t.columns.map(function (_, i) { return isNumericColumn(t.rows, i); });
      var head = clear($('report-table').tHead);
      head.appendChild(el('tr', null, t.titles.map(function (n, i) { return el('th', { class: numeric[i] ? 'num' : null, text: n }); })));
      var rows = clear($('report-table').tBodies[0]);
      t.rows.forEach(function (row) {
        rows.appendChild(el('tr', null, row.map(function (v, i) {
          var money = numeric[i] && moneyColumns.indexOf(t.columns[i]) >= 0;
          return el('td', { class: numeric[i] ? 'num' : null, text: money ? t.money(v) : cell(v), dataset: { value: cell(v) } });
        })));
      });
      if (!t.rows.length) rows.appendChild(el('tr', null, el('td', { colspan: Math.max(1, t.columns.length), class: 'muted', text: 'No rows.' })));
    }

    function renderChart(t) {
      var box = $('report-chart');
      clear(box);
      var chart = chartOf(t);
      if (!chart) { show(box, false); return; }
      box.appendChild(barChart(chart));
      show(box, true);
    }

    function exportCSV() {
      var r = current;
      var bar = $('export-progress'), state = $('export-state'), link = $('export-download');
      show($('report-export'), true);
      show(link, false);
      bar.removeAttribute('value');
      state.textContent = 'starting…';
      // The export's filters are JSON: detail is a boolean there.
      var f = filters();
      if (f.detail) f.detail = true;
      api('POST', '/exports', { json: { report: r.name, filters: f } }).then(function (job) {
        poll(job.id);
      }).catch(function (e) { state.textContent = String(e); bar.value = 0; });

      function poll(id) {
        api('GET', '/exports/' + seg(id)).then(function (s) {
          var total = s.total || 0, done = s.done || 0;
          if (total > 0) { bar.max = total; bar.value = Math.min(done, total); }
          state.textContent = s.state + (total > 0 ? ' · ' + done + ' of ' + total : '');
          if (s.state === 'done') {
            if (total <= 0) { bar.max = 1; bar.value = 1; }
            link.href = s.download || (API + '/exports/' + seg(id) + '/download');
            link.setAttribute('download', r.name + '.csv');
            show(link, true);
            return;
          }
          if (s.state !== 'running') {
            state.textContent = s.state + (s.error ? ': ' + s.error : '');
            return;
          }
          setTimeout(function () { poll(id); }, 400);
        }).catch(function (e) { state.textContent = String(e); });
      }
    }
  }

  // Report cells are strings (as in the CSV); a column is numeric when
  // every non-empty cell is a whole or decimal number.
  function isNumber(v) { return typeof v === 'number' || (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v)); }
  function isNumericColumn(rows, i) {
    var seen = false;
    for (var k = 0; k < rows.length; k++) {
      var v = rows[k][i];
      if (v === '' || v === null || v === undefined) continue;
      if (!isNumber(v)) return false;
      seen = true;
    }
    return seen;
  }

  // chartSeries are the columns a chart prefers, in order: the first
  // present of each group is drawn (sales against redemption, in money).
  var chartSeries = [['net', 'paid', 'gross', 'sales'], ['redeemed_value', 'points_redeemed', 'returned_money']];

  // chartOf picks what to draw from a report table: a day (or date)
  // column along the x axis, rows of the same day summed (a report may
  // have a row per store and day), and the preferred series, else the
  // first two numeric columns. Null when the table has no such shape.
  function chartOf(t) {
    if (!t.rows.length) return null;
    var x = -1;
    t.columns.forEach(function (c, i) { if (x < 0 && /(^|_)(day|date|week|month)($|_)/.test(c)) x = i; });
    if (x < 0) return null;
    var series = [];
    chartSeries.forEach(function (group) {
      for (var k = 0; k < group.length; k++) {
        var i = t.columns.indexOf(group[k]);
        if (i >= 0 && isNumericColumn(t.rows, i)) { series.push(i); return; }
      }
    });
    if (!series.length) {
      t.columns.forEach(function (c, i) { if (i !== x && series.length < 2 && isNumericColumn(t.rows, i)) series.push(i); });
    }
    if (!series.length) return null;
    var labels = [], sums = {};
    t.rows.forEach(function (r) {
      var label = String(r[x]).slice(0, 10);
      if (!sums[label]) { sums[label] = series.map(function () { return 0; }); labels.push(label); }
      series.forEach(function (i, k) { sums[label][k] += Number(r[i]) || 0; });
    });
    labels.sort();
    labels = labels.slice(-62);
    var money = series.every(function (i) { return moneyColumns.indexOf(t.columns[i]) >= 0; });
    return {
      labels: labels,
      format: money && t.money ? t.money : fmtNum,
      series: series.map(function (i, k) { return { name: t.titles[i], values: labels.map(function (l) { return sums[l][k]; }) }; })
    };
  }

  // barChart draws grouped bars as inline SVG.
  function barChart(c) {
    var W = 760, H = 280, L = 84, R = 12, T = 28, B = 46;
    var max = 0, min = 0;
    c.series.forEach(function (s) { s.values.forEach(function (v) { max = Math.max(max, v); min = Math.min(min, v); }); });
    if (max === min) max = min + 1;
    var span = max - min;
    var y = function (v) { return T + (H - T - B) * (max - v) / span; };
    var groupW = (W - L - R) / c.labels.length;
    // Bars no wider than 48 units, centred in their day's slot.
    var barW = Math.max(1, Math.min(48, groupW * 0.8 / c.series.length));
    var pad = (groupW - barW * c.series.length) / 2;
    var svg = el('svg:svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': c.series.map(function (s) { return s.name; }).join(' and ') + ' by day' });
    svg.appendChild(el('svg:line', { class: 'axis', x1: L, x2: W - R, y1: y(0), y2: y(0) }));
    svg.appendChild(el('svg:line', { class: 'axis', x1: L, x2: L, y1: T, y2: H - B }));
    [max, (max + min) / 2, min].forEach(function (v) {
      svg.appendChild(el('svg:text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', text: c.format(Math.round(v)) }));
    });
    var every = Math.ceil(c.labels.length / 12);
    c.labels.forEach(function (label, i) {
      var gx = L + i * groupW + pad;
      c.series.forEach(function (s, k) {
        var v = s.values[i];
        var top = y(Math.max(v, 0)), bottom = y(Math.min(v, 0));
        svg.appendChild(el('svg:rect', { class: 's' + k, x: gx + k * barW, y: top, width: Math.max(barW - 1, 1), height: Math.max(bottom - top, 0.5) },
          el('svg:title', { text: label + ' · ' + s.name + ': ' + c.format(v) })));
      });
      if (i % every === 0) {
        svg.appendChild(el('svg:text', { x: L + i * groupW + groupW / 2, y: H - B + 16, 'text-anchor': 'middle', text: label }));
      }
    });
    c.series.forEach(function (s, k) {
      var lx = L + k * 200;
      svg.appendChild(el('svg:rect', { class: 's' + k, x: lx, y: 8, width: 12, height: 12 }));
      svg.appendChild(el('svg:text', { x: lx + 16, y: 18, text: s.name }));
    });
    return svg;
  }

  // ---- stores ------------------------------------------------------------

  function storesPage() {
    var timer = null;
    function load() {
      api('GET', '/stores').then(function (list) {
        list = Array.isArray(list) ? list : (list.stores || []);
        var rows = clear($('stores-table').tBodies[0]);
        list.forEach(function (s) {
          rows.appendChild(el('tr', { class: s.online ? 'online' : 'offline', dataset: { store: s.store } },
            el('td', { text: s.store }),
            el('td', { text: s.kind === 'hq' ? 'HQ link' : (s.kind || 'store') }),
            el('td', null, el('span', { class: 'tag ' + (s.online ? 'live' : 'off'), text: s.online ? 'online' : 'offline' })),
            el('td', { class: 'num', text: fmtNum(s.lag_events) }),
            el('td', { text: s.last_seen ? fmtTime(s.last_seen) : 'never' })));
        });
        if (!list.length) rows.appendChild(el('tr', null, el('td', { colspan: 5, class: 'muted', text: 'No stores.' })));
        $('stores-updated').textContent = 'Updated ' + new Date().toLocaleTimeString() + '.';
        flash('');
      }).catch(function (e) { flash('Stores: ' + e); }).then(function () {
        timer = setTimeout(load, 5000);
      });
    }
    document.addEventListener('visibilitychange', function () {
      if (document.hidden) { clearTimeout(timer); } else { clearTimeout(timer); load(); }
    });
    load();
  }

  // ---- demo till ---------------------------------------------------------

  function tillPage() {
    var ws = null, nextID = 1, pending = {};
    var hello = null, member = null, evaluation = null, receipt = null;
    var lines = [], catalogue = {}, saleNo = null;
    var choices = {}; // campaign → {sku, qty}: the free items the customer chose
    var counter = 0;

    // A loopback till URL is only right for a browser on the node's host.
    (function fixURL() {
      var u = $('till-url');
      if (!u.value) {
        u.value = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.hostname + ':7070/pos/v1';
        return;
      }
      try {
        var url = new URL(u.value);
        var loop = /^(127\.|localhost$|\[::1\]$|0\.0\.0\.0$|\[::\]$)/;
        if (loop.test(url.hostname) && !loop.test(location.hostname)) {
          url.hostname = location.hostname;
          u.value = url.toString();
        }
      } catch (e) { /* the operator fixes it */ }
    })();

    // The catalogue and consents of the current programme fill the SKU
    // list and the enrolment form; the till works without them.
    programmeFacts().then(function (f) {
      var d = f.document;
      var list = clear($('till-catalogue'));
      ((d.catalogue && d.catalogue.products) || []).forEach(function (prod) {
        catalogue[prod.sku] = prod;
        list.appendChild(el('option', { value: prod.sku, text: (prod.name || prod.sku) + (prod.price !== undefined ? ' · ' + formatMoney(prod.price, f.minor_digits, f.currency) : '') }));
      });
      var box = clear($('till-enrol-consents'));
      (d.consents || []).forEach(function (c) {
        box.appendChild(el('label', null, el('input', { type: 'checkbox', id: 'till-consent-' + c.id, checked: !!c.required, dataset: { consent: c.id } }),
          ' ' + c.id + (c.required ? ' (required)' : '')));
      });
    });

    function setStatus(text, on) {
      var s = $('till-status');
      s.textContent = text;
      s.className = 'status ' + (on ? 'on' : 'off');
    }

    function log(kind, title, obj) {
      var ol = $('till-log');
      var li = el('li', { class: kind, dataset: { method: title } }, el('span', { class: 'dir', text: title }),
        obj === undefined ? null : el('pre', { text: JSON.stringify(obj, null, 2) }));
      ol.insertBefore(li, ol.firstChild);
      while (ol.children.length > 100) ol.removeChild(ol.lastChild);
    }

    function connect() {
      if (ws) ws.close();
      var url;
      try {
        url = new URL($('till-url').value);
      } catch (e) { flash('Till URL: ' + e.message); return; }
      url.searchParams.set('token', $('till-token').value);
      setStatus('connecting…', false);
      var sock = new WebSocket(url.toString(), 'patron.pos.v1');
      ws = sock;
      sock.onopen = function () {
        setStatus('connected', true);
        flash('');
        call('hello', {}).then(function (h) {
          hello = h;
          var p = $('till-hello');
          p.textContent = 'Store ' + h.store + ', terminal ' + h.terminal + ', ' + h.currency + ' (' + h.minor_digits +
            ' minor digits), one point redeems ' + h.point_value + ', programme ' + (h.programme_version || '?') +
            (h.hq_reachable ? '' : ', HQ unreachable');
          show(p, true);
        });
      };
      sock.onmessage = function (ev) {
        var msg;
        try { msg = JSON.parse(ev.data); } catch (e) { log('err', 'unreadable frame', ev.data); return; }
        if (msg.id === undefined || msg.id === null) {
          log('note', '← ' + (msg.method || 'notification'), msg);
          if (msg.method === 'member.changed' && msg.params && member && msg.params.member.member_id === member.member_id) {
            setMember(msg.params.member);
          }
          return;
        }
        var p = pending[msg.id];
        delete pending[msg.id];
        if (!p) return;
        if (msg.error) {
          log('err', '← ' + p.method + ' error', msg);
          p.reject(msg.error);
        } else {
          log('ok', '← ' + p.method, msg);
          p.resolve(msg.result);
        }
      };
      sock.onclose = function (ev) {
        if (ws !== sock) return;
        ws = null;
        setStatus('disconnected' + (ev.code && ev.code !== 1000 && ev.code !== 1005 ? ' (' + ev.code + ')' : ''), false);
        Object.keys(pending).forEach(function (id) { pending[id].reject({ message: 'connection closed', data: { reason: 'unavailable' } }); });
        pending = {};
      };
      sock.onerror = function () {
        // The browser tells nothing more: a refused token (HTTP 401) and
        // an unreachable node look alike here.
        flash('The till connection failed: check the URL and the terminal token.');
      };
    }

    function call(method, params) {
      return new Promise(function (resolve, reject) {
        if (!ws || ws.readyState !== WebSocket.OPEN) {
          reject({ message: 'not connected', data: { reason: 'unavailable' } });
          flash('Connect the till first.');
          return;
        }
        var id = nextID++;
        var req = { jsonrpc: '2.0', id: id, method: method, params: params };
        pending[id] = { method: method, resolve: resolve, reject: reject };
        log('req', '→ ' + method, req);
        ws.send(JSON.stringify(req));
      });
    }

    function problem(e) {
      var r = e && e.data && e.data.reason;
      return (e && e.message ? e.message : String(e)) + (r ? ' [' + r + (e.data.field ? ' · ' + e.data.field : '') + ']' : '');
    }

    function money(v) {
      if (typeof v !== 'number') return '';
      return hello ? formatMoney(v, hello.minor_digits, hello.currency) : String(v);
    }

    function setMember(m) {
      member = m;
      evaluation = null;
      if (!m) { show($('till-member'), false); return; }
      $('till-member-id').textContent = m.member_id;
      $('till-member-name').textContent = [m.first_name, m.last_name].filter(Boolean).join(' ') || '(no name)';
      $('till-member-tier').textContent = m.tier || '';
      var p = m.points || {};
      $('till-balance').textContent = fmtNum(p.balance);
      $('till-balance').dataset.points = String(p.balance);
      $('till-redeemable').textContent = fmtNum(p.redeemable);
      show($('till-member'), true);
    }

    function memberRef() { return member ? { mobile: member.member_id } : null; }

    function renderLines() {
      var tb = clear($('till-lines').tBodies[0]);
      lines.forEach(function (l, i) {
        var r = evaluation && (evaluation.lines || []).filter(function (x) { return x.line === l.line; })[0];
        var disc = r ? (r.discounts || []).reduce(function (a, d) { return a + d.amount; }, 0) : null;
        tb.appendChild(el('tr', null, el('td', { text: l.line }), el('td', { text: l.sku + (catalogue[l.sku] && catalogue[l.sku].name ? ' · ' + catalogue[l.sku].name : '') }),
          el('td', { class: 'num', text: l.qty }), el('td', { class: 'num', text: money(l.unit_price) }),
          el('td', { class: 'num', text: r ? money(r.gross) : '' }), el('td', { class: 'num', text: r && disc ? money(disc) : '' }),
          el('td', { class: 'num', text: r ? money(r.net) : '' }),
          el('td', null, el('button', { type: 'button', class: 'link', text: 'remove', on: { click: function () {
            lines.splice(i, 1); evaluation = null; choices = {}; renderLines(); renderEvaluation();
          } } }))));
      });
      if (!lines.length) tb.appendChild(el('tr', null, el('td', { colspan: 8, class: 'muted', text: 'Empty basket: add a line.' })));
    }

    function renderEvaluation() {
      var box = $('till-evaluation');
      if (!evaluation) { show(box, false); return; }
      var t = evaluation.totals || {}, p = evaluation.points || {};
      kv($('till-totals'), [
        ['Gross', money(t.gross)],
        ['Discount', money(t.discount)],
        ['Net', money(t.net), 'till-net'],
        ['Campaigns applied', (evaluation.applied || []).join(', ') || 'none', 'till-applied'],
        ['Free items', (evaluation.free_items || []).map(function (f) { return f.qty + ' × ' + f.sku + ' (' + f.campaign + ')'; }).join(', ')],
        ['Points to earn', fmtNum(p.earn), 'till-earn'],
        ['Most points redeemable', fmtNum(p.max_redeem_points)]
      ]);
      // A campaign that gives a free item of the customer's choice lists
      // the eligible SKUs; the choice goes back in free_item_choices.
      var cbox = clear($('till-choices'));
      (evaluation.choices || []).forEach(function (c) {
        var sel = el('select', { id: 'till-choice-' + c.campaign, dataset: { campaign: c.campaign },
          on: { change: function () {
            if (sel.value) choices[c.campaign] = { sku: sel.value, qty: c.qty }; else delete choices[c.campaign];
            evaluate().catch(function (e) { flash('Evaluate: ' + problem(e)); });
          } } }, el('option', { value: '', text: 'choose…' }),
          (c.skus || []).map(function (sku) {
            return el('option', { value: sku, text: sku + (catalogue[sku] && catalogue[sku].name ? ' · ' + catalogue[sku].name : '') });
          }));
        cbox.appendChild(el('p', null, el('label', null, 'Free ' + c.qty + ' × ' + (c.group || 'item') + ' (' + c.campaign + '): ', sel)));
      });
      show(box, true);
    }

    function freeItemChoices() {
      return Object.keys(choices).sort().map(function (c) { return { campaign: c, sku: choices[c].sku, qty: choices[c].qty }; });
    }

    function basket() {
      return { lines: lines.map(function (l) { return { line: l.line, sku: l.sku, qty: l.qty, unit_price: l.unit_price }; }) };
    }

    function evaluate() {
      var params = { basket: basket(), free_item_choices: freeItemChoices() };
      if (member) params.member = memberRef();
      // The points to earn depend on what is paid with points (an
      // extension of basket.evaluate).
      var redeem = parseInt($('till-redeem').value, 10) || 0;
      if (member && redeem > 0) params.redeem = { points: redeem };
      return call('basket.evaluate', params).then(function (ev) {
        evaluation = ev;
        renderLines();
        renderEvaluation();
        return ev;
      });
    }

    $('till-connect').addEventListener('submit', function (ev) { ev.preventDefault(); connect(); });
    $('till-log-clear').addEventListener('click', function () { clear($('till-log')); });

    $('till-identify').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var id = {};
      id[$('till-id-kind').value] = $('till-id-value').value.trim();
      call('member.identify', { identifier: id }).then(setMember).catch(function (e) { flash('Identify: ' + problem(e)); });
    });

    $('till-enrol').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var consents = {};
      Array.prototype.forEach.call(document.querySelectorAll('#till-enrol-consents input'), function (i) { consents[i.dataset.consent] = i.checked; });
      var p = { mobile: $('till-enrol-mobile').value.trim(), first_name: $('till-enrol-first').value.trim(),
        last_name: $('till-enrol-last').value.trim(), email: $('till-enrol-email').value.trim(), consents: consents };
      var card = $('till-enrol-card').value.trim();
      if (card) p.card = { number: card };
      call('member.enroll', p).then(setMember).catch(function (e) { flash('Enrol: ' + problem(e)); });
    });

    $('till-member-clear').addEventListener('click', function () { setMember(null); renderLines(); renderEvaluation(); });

    $('till-sku').addEventListener('change', function () {
      var prod = catalogue[$('till-sku').value.trim()];
      if (prod && prod.price !== undefined) $('till-price').value = prod.price;
    });

    $('till-add').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var next = lines.reduce(function (a, l) { return Math.max(a, l.line); }, 0) + 1;
      lines.push({ line: next, sku: $('till-sku').value.trim(), qty: parseInt($('till-qty').value, 10), unit_price: parseInt($('till-price').value, 10) });
      evaluation = null;
      choices = {};
      saleNo = null;
      $('till-sku').value = '';
      $('till-price').value = '';
      $('till-qty').value = '1';
      renderLines();
      renderEvaluation();
    });

    $('till-clear').addEventListener('click', function () { lines = []; evaluation = null; choices = {}; saleNo = null; renderLines(); renderEvaluation(); });
    $('till-evaluate').addEventListener('click', function () { evaluate().catch(function (e) { flash('Evaluate: ' + problem(e)); }); });

    $('till-otp-send').addEventListener('click', function () {
      if (!member) return;
      call('redeem.otp', { member_id: member.member_id, points: parseInt($('till-redeem').value, 10) || 0 }).then(function (r) {
        flash('');
        $('till-otp').placeholder = 'sent to ' + r.sent_to;
      }).catch(function (e) { flash('OTP: ' + problem(e)); });
    });

    $('till-sale').addEventListener('submit', function (ev) {
      ev.preventDefault();
      flash('');
      if (!lines.length) { flash('Add a line to the basket first.'); return; }
      var redeem = parseInt($('till-redeem').value, 10) || 0;
      // A sale keeps its receipt number until it completes, so a retry
      // (with an OTP, after a dropped connection) is the same sale.
      if (!saleNo) saleNo = 'W' + Date.now().toString(36).toUpperCase() + (++counter);
      evaluate().then(function (ev) {
        var net = ev.totals.net;
        var pointsMoney = redeem * (hello ? hello.point_value : 0);
        var tenders = [];
        if (redeem > 0) tenders.push({ type: 'points', amount: pointsMoney });
        if (net - pointsMoney > 0 || !tenders.length) tenders.push({ type: 'cash', amount: net - pointsMoney });
        var p = { receipt_no: saleNo, basket: basket(), free_item_choices: freeItemChoices(), tenders: tenders, expect: { net: net } };
        if (member) p.member = memberRef();
        if (redeem > 0) {
          p.redeem = { points: redeem };
          var otp = $('till-otp').value.trim();
          if (otp) p.redeem.otp = otp;
        }
        return call('sale.complete', p);
      }).then(function (r) {
        receipt = r;
        saleNo = null;
        $('till-otp').value = '';
        show($('till-otp-label'), false);
        show($('till-otp-send'), false);
        $('till-receipt-id').textContent = r.receipt_id;
        $('till-receipt-net').textContent = money(r.totals && r.totals.net);
        $('till-receipt-earned').textContent = fmtNum(r.points.earned);
        $('till-receipt-redeemed').textContent = fmtNum(r.points.redeemed);
        $('till-receipt-balance').textContent = fmtNum(r.points.balance);
        $('till-receipt-text').textContent = (r.receipt_text || []).join('\n');
        show($('till-receipt'), true);
        if (member && r.member_id === member.member_id) {
          member.points.balance = r.points.balance;
          setMember(member);
        }
        returnForm(r);
      }).catch(function (e) {
        var reason = e && e.data && e.data.reason;
        if (reason && reason.indexOf('otp_') === 0) {
          show($('till-otp-label'), true);
          show($('till-otp-send'), true);
        }
        flash('Sale: ' + problem(e));
      });
    });

    function returnForm(r) {
      var tb = clear($('till-return-lines').tBodies[0]);
      (r.lines || []).forEach(function (l) {
        if (l.qty_milli) return; // weighed lines: return them with sale.void
        tb.appendChild(el('tr', null, el('td', { text: l.line }), el('td', { text: l.sku }), el('td', { class: 'num', text: l.qty }),
          el('td', { class: 'num' }, el('input', { type: 'number', min: 0, max: l.qty, step: 1, value: String(l.qty), size: 4, dataset: { line: l.line } }))));
      });
      show($('till-return-result'), false);
      show($('till-return-section'), true);
    }

    function returned(r) {
      kv($('till-return-result'), [
        ['Return', r.return_id],
        ['Points clawed back', fmtNum(r.points.clawed_back)],
        ['Points refunded', fmtNum(r.points.refunded)],
        ['Balance after', fmtNum(r.points.balance), 'till-return-balance'],
        ['Money refunded', money(r.refund.money)]
      ]);
      show($('till-return-result'), true);
      if (member) { member.points.balance = r.points.balance; setMember(member); }
    }

    $('till-return').addEventListener('submit', function (ev) {
      ev.preventDefault();
      if (!receipt) return;
      var ls = [];
      Array.prototype.forEach.call(document.querySelectorAll('#till-return-lines input'), function (i) {
        var q = parseInt(i.value, 10) || 0;
        if (q > 0) ls.push({ line: parseInt(i.dataset.line, 10), qty: q });
      });
      call('sale.return', { receipt_id: receipt.receipt_id, return_no: 'R' + Date.now().toString(36).toUpperCase() + (++counter), lines: ls })
        .then(returned).catch(function (e) { flash('Return: ' + problem(e)); });
    });

    $('till-void').addEventListener('click', function () {
      if (!receipt) return;
      call('sale.void', { receipt_id: receipt.receipt_id, return_no: 'V' + Date.now().toString(36).toUpperCase() + (++counter) })
        .then(returned).catch(function (e) { flash('Void: ' + problem(e)); });
    });

    renderLines();
    if ($('till-url').value && $('till-token').value) connect();
  }

  // ---- start -------------------------------------------------------------

  var init = { login: loginPage, members: membersPage, programme: programmePage, campaigns: campaignsPage,
    reports: reportsPage, stores: storesPage, till: tillPage }[PAGE];
  if (PAGE !== 'login') whoami();
  if (init) init();
})();
