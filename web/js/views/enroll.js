// enroll.js — enroll one device (CSR file or pasted PEM + attributes) or a
// batch (many CSR files + a CSV of attributes, or one JSON file), with a
// progress bar and a per-item result table that can be downloaded.
import { post } from '../api.js';
import { h, clear, field, setFieldError, alertBox, download, toCsv, parseCsv } from '../dom.js';

const ATTR_RE = /^[\x20-\x7e]{1,64}$/;
const CSR_RE = /-----BEGIN (NEW )?CERTIFICATE REQUEST-----[\s\S]+-----END (NEW )?CERTIFICATE REQUEST-----/;
const CHUNK = 25;

function readText(file) {
  if (file.size > 64 * 1024) return Promise.reject(new Error(`${file.name} is larger than 64 KiB`));
  return file.text();
}

function singleForm() {
  const file = h('input', { type: 'file', accept: '.csr,.pem,.req,text/plain' });
  const pem = h('textarea', { placeholder: '-----BEGIN CERTIFICATE REQUEST-----', spellcheck: 'false' });
  const serial = h('input', { maxlength: 64, autocomplete: 'off' });
  const model = h('input', { maxlength: 64 });
  const hw = h('input', { maxlength: 64 });
  const result = h('div', { id: 'enroll-result' });
  const btn = h('button', { type: 'submit', class: 'btn' }, 'Enroll device');
  file.addEventListener('change', async () => {
    if (!file.files[0]) return;
    try { pem.value = (await readText(file.files[0])).trim(); setFieldError('e-pem', ''); } catch (e) { setFieldError('e-file', e.message); }
  });
  const form = h('form', { novalidate: true, 'aria-labelledby': 'single-title' },
    h('h2', { id: 'single-title' }, 'One device'),
    h('div', { class: 'row' },
      field('e-file', 'CSR file', file, 'PKCS#10 in PEM, e.g. from openssl req'),
      field('e-serial', 'Serial number', serial, 'as printed on the device')),
    field('e-pem', 'Or paste the CSR', pem),
    h('div', { class: 'row' }, field('e-model', 'Model', model), field('e-hw', 'Hardware version', hw, 'optional')),
    h('div', { class: 'actions' }, btn), result);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(result);
    const errs = {
      'e-pem': CSR_RE.test(pem.value) ? '' : 'Choose a CSR file or paste a PEM certificate request.',
      'e-serial': ATTR_RE.test(serial.value.trim()) ? '' : 'Enter the serial number (1–64 printable characters).',
      'e-model': ATTR_RE.test(model.value.trim()) ? '' : 'Enter the model (1–64 printable characters).',
      'e-hw': hw.value.trim() === '' || ATTR_RE.test(hw.value.trim()) ? '' : 'At most 64 printable characters.',
    };
    for (const [id, m] of Object.entries(errs)) setFieldError(id, m);
    const first = Object.keys(errs).find((k) => errs[k]);
    if (first) { document.getElementById(first).focus(); return; }
    btn.disabled = true;
    try {
      const body = { csr: pem.value.trim(), serial: serial.value.trim(), model: model.value.trim() };
      if (hw.value.trim()) body.hardware_version = hw.value.trim();
      const r = await post('/api/v1/devices', body);
      result.append(h('div', { class: 'alert alert-ok', role: 'status' },
        h('strong', {}, r.created ? 'Device enrolled' : 'Already enrolled with this key'),
        h('span', {}, 'DeviceID '), h('a', { href: `#/devices/${r.device_id}`, id: 'enrolled-link' }, r.device_id)),
      h('div', { class: 'actions left' },
        h('button', { type: 'button', class: 'btn btn-secondary', id: 'dl-cert',
          onclick: () => download(`${r.device_id}.pem`, r.certificate, 'application/x-pem-file') }, 'Download certificate (PEM)'),
        r.chain ? h('button', { type: 'button', class: 'btn btn-secondary', id: 'dl-chain',
          onclick: () => download(`${r.device_id}-chain.pem`, r.chain, 'application/pem-certificate-chain') }, 'Download chain') : null));
    } catch (e) {
      result.append(alertBox('error', e.title || 'Enrollment failed', e.detail));
      if (/serial/i.test(e.detail)) setFieldError('e-serial', e.detail);
      else if (/csr|request|signature/i.test(e.detail)) setFieldError('e-pem', e.detail);
    } finally {
      btn.disabled = false;
    }
  });
  return form;
}

// Items from one JSON file: {"devices": [...]} or a bare array.
async function itemsFromJson(file) {
  let doc;
  try { doc = JSON.parse(await file.text()); } catch { throw new Error(`${file.name} is not valid JSON`); }
  const list = Array.isArray(doc) ? doc : doc && doc.devices;
  if (!Array.isArray(list) || list.length === 0) throw new Error('The JSON file needs a non-empty "devices" array');
  return list.map((d, i) => ({ label: d.serial || `item ${i + 1}`, body: d }));
}

// Items from CSR files + a CSV with a header: file,serial,model[,hardware_version].
async function itemsFromCsv(csrFiles, csvFile) {
  const rows = parseCsv(await csvFile.text());
  if (rows.length < 2) throw new Error('The CSV needs a header row and at least one device');
  const head = rows[0].map((c) => c.trim().toLowerCase());
  const col = (n) => head.indexOf(n);
  if (col('file') < 0 || col('serial') < 0 || col('model') < 0) throw new Error('The CSV header must name file, serial and model (hardware_version is optional)');
  const byName = new Map([...csrFiles].map((f) => [f.name, f]));
  const items = [];
  for (const r of rows.slice(1)) {
    const name = (r[col('file')] || '').trim();
    const f = byName.get(name);
    const body = { serial: (r[col('serial')] || '').trim(), model: (r[col('model')] || '').trim() };
    if (col('hardware_version') >= 0 && (r[col('hardware_version')] || '').trim()) body.hardware_version = r[col('hardware_version')].trim();
    if (!f) { items.push({ label: body.serial || name, error: `no CSR file named ${name} was chosen` }); continue; }
    try { body.csr = (await readText(f)).trim(); } catch (e) { items.push({ label: body.serial, error: e.message }); continue; }
    items.push({ label: body.serial, body });
  }
  return items;
}

function batchForm() {
  const csrs = h('input', { type: 'file', multiple: true, accept: '.csr,.pem,.req' });
  const csv = h('input', { type: 'file', accept: '.csv,text/csv' });
  const json = h('input', { type: 'file', accept: '.json,application/json' });
  const bar = h('span');
  const progressText = h('span', { class: 'hint' }, '');
  const progress = h('div', { hidden: true },
    h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': 0, 'aria-label': 'Batch progress' }, bar),
    progressText);
  const out = h('div');
  const btn = h('button', { type: 'submit', class: 'btn' }, 'Enroll batch');
  const form = h('form', { novalidate: true, 'aria-labelledby': 'batch-title' },
    h('h2', { id: 'batch-title' }, 'A batch'),
    h('p', { class: 'hint' }, 'Either many CSR files with a CSV (columns file, serial, model, hardware_version), or one JSON file {"devices": [{"csr", "serial", "model", "hardware_version"}]}.'),
    h('div', { class: 'row' },
      field('b-csrs', 'CSR files', csrs), field('b-csv', 'Attributes (CSV)', csv)),
    field('b-json', 'Or one JSON file', json),
    h('div', { class: 'actions' }, btn), progress, out);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(out);
    for (const id of ['b-csrs', 'b-csv', 'b-json']) setFieldError(id, '');
    let items;
    try {
      if (json.files[0]) items = await itemsFromJson(json.files[0]);
      else if (csrs.files.length && csv.files[0]) items = await itemsFromCsv(csrs.files, csv.files[0]);
      else {
        if (!csv.files[0] && csrs.files.length) setFieldError('b-csv', 'Choose the CSV with the devices\' attributes.');
        else if (csv.files[0]) setFieldError('b-csrs', 'Choose the CSR files the CSV names.');
        else setFieldError('b-json', 'Choose CSR files and a CSV, or one JSON file.');
        return;
      }
    } catch (e) {
      setFieldError(json.files[0] ? 'b-json' : 'b-csv', e.message);
      return;
    }
    btn.disabled = true;
    progress.hidden = false;
    const results = items.map((it) => ({ label: it.label, outcome: it.error ? 'failed' : 'pending', device_id: '', detail: it.error || '' }));
    const todo = items.map((it, i) => [it, i]).filter(([it]) => !it.error);
    let done = items.length - todo.length;
    const tick = () => {
      const pct = Math.round((done / items.length) * 100);
      bar.style.width = `${pct}%`;
      bar.parentElement.setAttribute('aria-valuenow', pct);
      progressText.textContent = `${done} of ${items.length} processed`;
    };
    tick();
    for (let k = 0; k < todo.length; k += CHUNK) {
      const chunk = todo.slice(k, k + CHUNK);
      try {
        const r = await post('/api/v1/devices/batch', { devices: chunk.map(([it]) => it.body) });
        r.results.forEach((res, j) => {
          const slot = results[chunk[j][1]];
          if (res.device_id) { slot.outcome = res.created === false ? 'existing' : 'created'; slot.device_id = res.device_id; }
          else { slot.outcome = 'failed'; slot.detail = (res.problem && (res.problem.detail || res.problem.title)) || `status ${res.status}`; }
        });
      } catch (e) {
        for (const [, i] of chunk) { results[i].outcome = 'failed'; results[i].detail = e.message; }
      }
      done += chunk.length;
      tick();
    }
    btn.disabled = false;
    const ok = results.filter((r) => r.outcome !== 'failed').length;
    out.append(alertBox(ok === results.length ? 'ok' : 'error', `${ok} of ${results.length} enrolled`,
      ok === results.length ? '' : 'The table says what went wrong for each failed item.'));
    out.append(h('div', { class: 'table-wrap' }, h('table', { class: 'responsive', id: 'batch-results' },
      h('thead', {}, h('tr', {}, ['#', 'Serial', 'Result', 'DeviceID', 'Detail'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, results.map((r, i) => h('tr', {},
        h('td', { 'data-label': '#' }, i + 1), h('td', { 'data-label': 'Serial' }, r.label),
        h('td', { 'data-label': 'Result' }, h('span', { class: `badge ${r.outcome === 'failed' ? 'failed' : 'ok'}` }, r.outcome)),
        h('td', { 'data-label': 'DeviceID', class: 'mono' }, r.device_id ? h('a', { href: `#/devices/${r.device_id}` }, r.device_id) : '—'),
        h('td', { 'data-label': 'Detail' }, r.detail)))))));
    out.append(h('div', { class: 'actions left' }, h('button', { type: 'button', class: 'btn btn-secondary',
      onclick: () => download('enrollment-results.csv', toCsv([['index', 'serial', 'result', 'device_id', 'detail'],
        ...results.map((r, i) => [i + 1, r.label, r.outcome, r.device_id, r.detail])]), 'text/csv') }, 'Download results (CSV)')));
  });
  return form;
}

export async function enrollView(me) {
  if (me.user.role !== 'manufacturer') {
    return h('div', {}, h('h1', {}, 'Enroll'), alertBox('error', 'Manufacturers only', 'Devices are enrolled by their manufacturer.'));
  }
  return h('div', {},
    h('h1', {}, 'Enroll devices'),
    h('p', { class: 'sub' }, `Certificates are issued by the Device CA for manufacturer ${me.user.manufacturer_id}.`),
    h('div', { class: 'cols' }, h('section', { class: 'panel' }, singleForm()), h('section', { class: 'panel' }, batchForm())));
}
