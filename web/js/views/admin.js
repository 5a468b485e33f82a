// admin.js — administrators' pages: the audit log with filters (applied by
// the server), the principals (client certificates: create from a CSR or
// generate a PKCS#12, disable, revoke the certificate) and the portal users (create, reset
// password, disable, enable).
import { get, post } from '../api.js';
import { h, clear, badge, fmtTime, field, setFieldError, alertBox, download } from '../dom.js';
import { confirmDialog, toast } from '../ui.js';
import { REASONS } from './devices.js';

const NAME_RE = /^[A-Za-z0-9._@-]{1,64}$/;
const MFR_RE = /^[A-Za-z0-9._-]{1,32}$/;

function b64ToBytes(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function refresh() { window.dispatchEvent(new HashChangeEvent('hashchange')); }

export async function auditView(me, q) {
  const f = { actor: q.get('actor') || '', action: q.get('action') || '', target: q.get('target') || '',
    since: q.get('since') || '', until: q.get('until') || '' };
  const cursor = q.get('cursor') || '';
  const p = new URLSearchParams({ limit: '50' });
  for (const k of ['actor', 'action', 'target']) if (f[k]) p.set(k, f[k]);
  // The form's times are UTC minutes ("2024-05-01T12:30"); the server
  // takes RFC 3339 and filters in SQL, "to" including its whole minute.
  const rfc3339 = (v, end) => (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(v) ? `${v}:${end ? '59' : '00'}Z` : v);
  if (f.since) p.set('since', rfc3339(f.since, false));
  if (f.until) p.set('until', rfc3339(f.until, true));
  if (cursor) p.set('cursor', cursor);
  const { entries, next_cursor: nextCursor } = await get(`/api/v1/audit?${p}`);
  const inputs = {
    actor: h('input', { value: f.actor, placeholder: 'e.g. portal:alice' }),
    action: h('input', { value: f.action, placeholder: 'e.g. device.revoke' }),
    target: h('input', { value: f.target, placeholder: 'DeviceID or name' }),
    since: h('input', { type: 'datetime-local', value: f.since }),
    until: h('input', { type: 'datetime-local', value: f.until }),
  };
  const form = h('form', { class: 'toolbar', role: 'search' },
    field('a-actor', 'Actor', inputs.actor), field('a-action', 'Action', inputs.action),
    field('a-target', 'Device / target', inputs.target), field('a-since', 'From (UTC)', inputs.since),
    field('a-until', 'To (UTC)', inputs.until), h('button', { type: 'submit', class: 'btn' }, 'Filter'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (inputs.since.value && inputs.until.value && inputs.since.value > inputs.until.value) {
      setFieldError('a-until', 'The end must come after the start.');
      return;
    }
    const u = new URLSearchParams();
    for (const [k, el] of Object.entries(inputs)) if (el.value.trim()) u.set(k, el.value.trim());
    location.hash = `#/audit?${u}`;
  });
  const more = new URLSearchParams(q);
  if (nextCursor) more.set('cursor', nextCursor);
  return h('div', {}, h('h1', {}, 'Audit log'),
    h('section', { class: 'panel' }, form,
      entries.length === 0 ? h('p', { class: 'empty' }, 'No entries match.') :
        h('div', { class: 'table-wrap' }, h('table', { class: 'responsive', id: 'audit-table' },
          h('thead', {}, h('tr', {}, ['When', 'Actor', 'Action', 'Target'].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, entries.map((e) => h('tr', {},
            h('td', { 'data-label': 'When' }, fmtTime(e.at)), h('td', { 'data-label': 'Actor' }, e.actor),
            h('td', { 'data-label': 'Action' }, e.action),
            h('td', { 'data-label': 'Target', class: 'mono' }, e.target)))))),
      h('div', { class: 'pager' }, cursor ? h('a', { class: 'btn btn-secondary btn-sm', href: '#/audit' }, '← Newest filters reset') : h('span'),
        nextCursor ? h('a', { class: 'btn btn-secondary btn-sm', href: `#/audit?${more}` }, 'Next page →') : h('span'))));
}

export async function principalsView() {
  const list = (await get('/api/v1/principals')).principals;
  const name = h('input', { maxlength: 64 });
  const role = h('select', {}, ['operator', 'manufacturer', 'admin'].map((r) => h('option', { value: r }, r)));
  const mfr = h('input', { maxlength: 32 });
  const csr = h('input', { type: 'file', accept: '.csr,.pem,.req' });
  const p12pw = h('input', { type: 'password', autocomplete: 'new-password', maxlength: 1024 });
  const p12pw2 = h('input', { type: 'password', autocomplete: 'new-password', maxlength: 1024 });
  const msg = h('div');
  const mode = (v, label, checked) => h('label', { class: 'radio' },
    h('input', { type: 'radio', name: 'p-mode', value: v, id: `p-mode-${v}`, checked }), ` ${label}`);
  const csrBox = h('div', { id: 'p-csr-box' },
    field('p-csr', 'Certificate request (CSR)', csr, 'the key stays with the principal; the client certificate is issued by the Infrastructure CA'));
  const genBox = h('div', { id: 'p-gen-box', hidden: true },
    h('div', { class: 'row' }, field('p-p12pw', 'PKCS#12 password', p12pw, 'at least 8 characters; protects the key in the download'),
      field('p-p12pw2', 'Repeat the password', p12pw2)),
    h('p', { class: 'hint' }, 'The server makes the key and hands it over once, inside the PKCS#12; it keeps no copy.'));
  const submit = h('button', { type: 'submit', class: 'btn' }, 'Issue certificate');
  const form = h('form', { novalidate: true },
    h('h2', {}, 'New principal'),
    h('div', { class: 'row' }, field('p-name', 'Name', name), field('p-role', 'Role', role),
      field('p-mfr', 'Manufacturer ID', mfr, 'manufacturers only')),
    h('fieldset', { class: 'modes' }, h('legend', {}, 'Key'),
      mode('csr', 'Upload a CSR', true), mode('generate', 'Generate a key and download a PKCS#12', false)),
    csrBox, genBox,
    h('div', { class: 'actions' }, submit), msg);
  const generating = () => form.querySelector('input[name=p-mode]:checked').value === 'generate';
  form.addEventListener('change', (ev) => {
    if (ev.target.name !== 'p-mode') return;
    csrBox.hidden = generating();
    genBox.hidden = !generating();
    submit.textContent = generating() ? 'Generate PKCS#12' : 'Issue certificate';
  });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(msg);
    const gen = generating();
    const errs = {
      'p-name': /^[A-Za-z0-9._@-]{1,64}$/.test(name.value.trim()) ? '' : 'Use 1–64 letters, digits, . _ - @.',
      'p-mfr': role.value !== 'manufacturer' || MFR_RE.test(mfr.value.trim()) ? '' : 'A manufacturer principal needs its manufacturer ID.',
      'p-csr': gen || csr.files[0] ? '' : 'Choose the principal\'s CSR file.',
      'p-p12pw': !gen || p12pw.value.length >= 8 ? '' : 'At least 8 characters.',
      'p-p12pw2': !gen || p12pw2.value === p12pw.value ? '' : 'The two passwords differ.',
    };
    for (const [id, m] of Object.entries(errs)) setFieldError(id, m);
    if (Object.values(errs).some(Boolean)) return;
    submit.disabled = true;
    try {
      const body = { name: name.value.trim(), role: role.value };
      if (gen) Object.assign(body, { generate: true, p12_password: p12pw.value });
      else body.csr = (await csr.files[0].text()).trim();
      if (role.value === 'manufacturer') body.manufacturer_id = mfr.value.trim();
      const r = await post('/api/v1/principals', body);
      p12pw.value = '';
      p12pw2.value = '';
      const p12 = r.p12 ? new Blob([b64ToBytes(r.p12)], { type: 'application/x-pkcs12' }) : null;
      msg.append(alertBox('ok', `Principal ${r.name} created`, p12
        ? 'Download the PKCS#12 now: it holds the only copy of the key. Give the password over a separate channel.'
        : 'Download its certificate and chain and hand them over with its key.'),
        h('div', { class: 'actions left' },
          p12 ? h('button', { type: 'button', class: 'btn', id: 'dl-p12', onclick: () => download(`${r.name}.p12`, p12) }, 'PKCS#12') : null,
          h('button', { type: 'button', class: 'btn btn-secondary', onclick: () => download(`${r.name}.crt`, r.certificate, 'application/x-pem-file') }, 'Certificate'),
          h('button', { type: 'button', class: 'btn btn-secondary', onclick: () => download(`${r.name}-chain.pem`, r.chain, 'application/x-pem-file') }, 'Chain')));
    } catch (e) {
      msg.append(alertBox('error', e.title, e.detail));
    } finally {
      submit.disabled = false;
    }
  });
  const table = h('div', { class: 'table-wrap' }, h('table', { class: 'responsive' },
    h('thead', {}, h('tr', {}, ['Name', 'Role', 'Manufacturer', 'Status', 'Certificate until', ''].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, list.map((p) => h('tr', {},
      h('td', { 'data-label': 'Name' }, p.name), h('td', { 'data-label': 'Role' }, p.role),
      h('td', { 'data-label': 'Manufacturer' }, p.manufacturer_id || '—'),
      h('td', { 'data-label': 'Status' }, badge(p.certificate_revoked ? 'revoked' : p.status)),
      h('td', { 'data-label': 'Until' }, fmtTime(p.not_after)),
      h('td', {}, p.status === 'active' ? h('button', { type: 'button', class: 'btn btn-danger btn-sm',
        onclick: () => confirmDialog({ title: `Disable ${p.name}?`, okLabel: 'Disable',
          body: h('p', {}, 'Its client certificate stops working at once.'),
          onConfirm: async () => { await post(`/api/v1/principals/${encodeURIComponent(p.name)}/disable`, {}); toast(`${p.name} disabled`); refresh(); } }) },
      'Disable') : null,
      p.certificate_revoked ? null : h('button', { type: 'button', class: 'btn btn-danger btn-sm', 'data-revoke': p.name,
        onclick: () => revokePrincipal(p, refresh) }, 'Revoke certificate')))))));
  return h('div', {}, h('h1', {}, 'Principals'), h('section', { class: 'panel' }, table), h('section', { class: 'panel' }, form));
}

// Revoke a principal's certificate with an RFC 5280 reason: it stops
// authenticating at once and goes on the Infrastructure CA's CRL.
function revokePrincipal(p, refresh) {
  const sel = h('select', { id: 'principal-revoke-reason', 'aria-required': 'true' },
    h('option', { value: '' }, 'Choose a reason…'), REASONS.map(([v, l]) => h('option', { value: v }, l)));
  const body = h('div', {},
    h('p', {}, 'Revoking the certificate of ', h('strong', { class: 'mono' }, p.name),
      ' (serial ', h('span', { class: 'mono' }, p.certificate_serial || '—'),
      ') is permanent: it stops working at once and is listed on the Infrastructure CA\'s CRL.'),
    h('div', { class: 'field' }, h('label', { for: 'principal-revoke-reason' }, 'Reason (RFC 5280)'), sel));
  sel.addEventListener('change', () => { document.getElementById('confirm-error').textContent = ''; });
  return confirmDialog({ title: `Revoke the certificate of ${p.name}?`, body, okLabel: 'Revoke certificate',
    onConfirm: async () => {
      if (!sel.value) { sel.focus(); throw new Error('Choose a reason for the revocation.'); }
      await post(`/api/v1/principals/${encodeURIComponent(p.name)}/revoke`, { reason: sel.value });
      toast(`Certificate of ${p.name} revoked`);
      refresh();
    } });
}

export async function usersView(me) {
  const list = (await get('/api/v1/portal/users')).users;
  const name = h('input', { maxlength: 64, autocomplete: 'off' });
  const role = h('select', {}, [['manufacturer', 'Manufacturer'], ['admin', 'Administrator']].map(([v, l]) => h('option', { value: v }, l)));
  const mfr = h('input', { maxlength: 32 });
  const pw = h('input', { type: 'password', autocomplete: 'new-password', maxlength: 1024 });
  const msg = h('div');
  const form = h('form', { novalidate: true },
    h('h2', {}, 'New user'),
    h('div', { class: 'row' }, field('u-name', 'User name', name), field('u-role', 'Role', role),
      field('u-mfr', 'Manufacturer ID', mfr, 'manufacturer users only')),
    field('u-pw', 'Initial password', pw, 'at least 10 characters; give it to the user over a separate channel'),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn' }, 'Create user')), msg);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(msg);
    const errs = {
      'u-name': NAME_RE.test(name.value.trim()) ? '' : 'Use 1–64 letters, digits, . _ - @.',
      'u-mfr': role.value !== 'manufacturer' || MFR_RE.test(mfr.value.trim()) ? '' : 'A manufacturer user needs a manufacturer ID.',
      'u-pw': pw.value.length >= 10 ? '' : 'At least 10 characters.',
    };
    for (const [id, m] of Object.entries(errs)) setFieldError(id, m);
    if (Object.values(errs).some(Boolean)) return;
    try {
      const body = { name: name.value.trim(), role: role.value, password: pw.value };
      if (role.value === 'manufacturer') body.manufacturer_id = mfr.value.trim();
      await post('/api/v1/portal/users', body);
      pw.value = '';
      toast(`User ${body.name} created`);
      refresh();
    } catch (e) {
      if (e.status === 409) setFieldError('u-name', e.detail || e.title);
      else msg.append(alertBox('error', e.title, e.detail));
    }
  });
  const resetPw = (u) => {
    const input = h('input', { type: 'password', id: 'reset-pw', autocomplete: 'new-password' });
    return confirmDialog({ title: `New password for ${u.name}`, okLabel: 'Set password', danger: false,
      body: h('div', {}, h('p', {}, 'Their current sessions end.'), h('div', { class: 'field' }, h('label', { for: 'reset-pw' }, 'New password'), input)),
      onConfirm: async () => {
        if (input.value.length < 10) throw new Error('The password needs at least 10 characters.');
        await post(`/api/v1/portal/users/${encodeURIComponent(u.name)}/password`, { password: input.value });
        toast(`Password of ${u.name} reset`);
      } });
  };
  const self = me.user.name;
  const table = h('div', { class: 'table-wrap' }, h('table', { class: 'responsive', id: 'users-table' },
    h('thead', {}, h('tr', {}, ['Name', 'Role', 'Manufacturer', 'Status', 'Created', ''].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, list.map((u) => h('tr', {},
      h('td', { 'data-label': 'Name' }, u.name), h('td', { 'data-label': 'Role' }, u.role),
      h('td', { 'data-label': 'Manufacturer' }, u.manufacturer_id || '—'),
      h('td', { 'data-label': 'Status' }, badge(u.disabled ? 'disabled' : 'active')),
      h('td', { 'data-label': 'Created' }, fmtTime(u.created_at)),
      h('td', {}, h('div', { class: 'actions left' },
        h('button', { type: 'button', class: 'btn btn-secondary btn-sm', onclick: () => resetPw(u) }, 'Reset password'),
        u.name === self ? null : h('button', { type: 'button', class: `btn btn-sm ${u.disabled ? 'btn-secondary' : 'btn-danger'}`,
          onclick: () => confirmDialog({ title: `${u.disabled ? 'Enable' : 'Disable'} ${u.name}?`, okLabel: u.disabled ? 'Enable' : 'Disable',
            danger: !u.disabled, body: h('p', {}, u.disabled ? 'They can sign in again.' : 'They are signed out and cannot sign in.'),
            onConfirm: async () => { await post(`/api/v1/portal/users/${encodeURIComponent(u.name)}/${u.disabled ? 'enable' : 'disable'}`, {}); refresh(); } }) },
        u.disabled ? 'Enable' : 'Disable'))))))));
  return h('div', {}, h('h1', {}, 'Portal users'), h('section', { class: 'panel' }, table), h('section', { class: 'panel' }, form));
}
