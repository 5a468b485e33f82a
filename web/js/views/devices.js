// devices.js — the device list (search by serial or DeviceID, filter by
// status, paginate) and the device page (attributes, status, history,
// downloads; revoke / suspend / reinstate for administrators).
import { get, post } from '../api.js';
import { h, clear, badge, fmtTime, field, alertBox, download, pemToDer } from '../dom.js';
import { confirmDialog, toast } from '../ui.js';

const PAGE = 25;

// RFC 5280 CRLReason names a revocation may carry (certificateHold and
// removeFromCRL are suspend and reinstate).
export const REASONS = [
  ['unspecified', 'Unspecified'], ['keyCompromise', 'Key compromise'],
  ['cACompromise', 'CA compromise'], ['affiliationChanged', 'Affiliation changed'],
  ['superseded', 'Superseded'], ['cessationOfOperation', 'Cessation of operation'],
  ['privilegeWithdrawn', 'Privilege withdrawn'], ['aACompromise', 'AA compromise'],
];

// The device record: security context, enrollment time and status
// history (a manufacturer gets only its own devices).
async function fetchDevice(id) {
  try {
    return await get(`/api/v1/devices/${encodeURIComponent(id)}`);
  } catch (e) {
    // Another manufacturer's device and an unknown one look the same (404).
    if (e.status === 404) return null;
    throw e;
  }
}

export async function devicesView(me, q) {
  const text = (q.get('q') || '').trim();
  const status = q.get('status') || '';
  const cursor = q.get('cursor') || '';
  const prev = q.get('prev') || '';
  let rows = [], next = null;
  const params = new URLSearchParams({ limit: String(PAGE) });
  if (status) params.set('status', status);
  if (cursor) params.set('cursor', cursor);
  // q matches the serial or the DeviceID exactly, on the server, within
  // the caller's own devices; the same cursor pages through the matches.
  if (text) params.set('q', text);
  const page = await get(`/api/v1/devices?${params}`);
  rows = page.devices;
  next = page.next_cursor;

  const search = h('input', { type: 'search', name: 'q', value: text, placeholder: 'Serial or DeviceID' });
  const sel = h('select', { name: 'status' }, [['', 'Any status'], ['active', 'Active'], ['suspended', 'Suspended'], ['revoked', 'Revoked']]
    .map(([v, l]) => h('option', { value: v, selected: v === status }, l)));
  const form = h('form', { class: 'toolbar', role: 'search' },
    field('d-q', 'Search', search), field('d-status', 'Status', sel),
    h('button', { type: 'submit', class: 'btn' }, 'Search'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    if (search.value.trim()) p.set('q', search.value.trim());
    if (sel.value) p.set('status', sel.value);
    location.hash = `#/devices${p.toString() ? `?${p}` : ''}`;
  });
  sel.addEventListener('change', () => form.requestSubmit());

  const admin = me.user.role === 'admin';
  const cols = ['DeviceID', 'Serial', 'Model', ...(admin ? ['Manufacturer'] : []), 'Status', 'Enrolled'];
  const table = rows.length === 0
    ? h('p', { class: 'empty', id: 'no-devices' }, text ? `No device matches “${text}”.` : 'No devices yet.')
    : h('div', { class: 'table-wrap' }, h('table', { class: 'responsive', id: 'device-table' },
      h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows.map((d) => h('tr', {},
        h('td', { 'data-label': 'DeviceID', class: 'mono' }, h('a', { href: `#/devices/${d.device_id}` }, d.device_id)),
        h('td', { 'data-label': 'Serial' }, d.serial),
        h('td', { 'data-label': 'Model' }, d.model),
        admin ? h('td', { 'data-label': 'Manufacturer' }, d.manufacturer_id) : null,
        h('td', { 'data-label': 'Status' }, badge(d.status)),
        h('td', { 'data-label': 'Enrolled' }, fmtTime(d.created_at)))))));
  const pageLink = (c, label, p) => {
    const u = new URLSearchParams();
    if (text) u.set('q', text);
    if (status) u.set('status', status);
    if (c) u.set('cursor', c);
    if (p) u.set('prev', p);
    return h('a', { class: 'btn btn-secondary btn-sm', href: `#/devices?${u}` }, label);
  };
  const pager = h('div', { class: 'pager' },
    cursor ? pageLink(prev && prev !== '0' ? prev : '', '← First page', '') : h('span'),
    next ? pageLink(next, 'Next page →', cursor || '0') : h('span'));
  return h('div', {}, h('h1', {}, admin ? 'All devices' : 'Devices'),
    h('section', { class: 'panel' }, form, table, pager));
}

const EVENTS = { issued: 'Certificate issued', suspended: 'Suspended', reinstated: 'Reinstated', revoked: 'Revoked' };
const REASON_LABELS = Object.fromEntries([...REASONS, ['certificateHold', 'Certificate hold']]);
const reasonLabel = (r) => (r ? REASON_LABELS[r] || r : '—');

function props(pairs) {
  return h('dl', { class: 'props' }, pairs.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

export async function deviceView(me, id) {
  const d = await fetchDevice(id);
  if (!d) {
    return h('div', {}, h('h1', {}, 'Device not found'),
      alertBox('error', 'No device with this DeviceID', `${id} is not one of ${me.user.role === 'manufacturer' ? 'your' : 'the registry\'s'} devices.`),
      h('a', { href: '#/devices' }, 'Back to devices'));
  }
  const st = d.status || {};
  const actions = h('div', { class: 'actions left' },
    h('button', { type: 'button', class: 'btn btn-secondary', id: 'dl-pem',
      onclick: () => download(`${d.device_id}.pem`, d.certificate, 'application/x-pem-file') }, 'Certificate (PEM)'),
    h('button', { type: 'button', class: 'btn btn-secondary', id: 'dl-der',
      onclick: () => download(`${d.device_id}.der`, new Blob([pemToDer(d.certificate)], { type: 'application/pkix-cert' })) }, 'Certificate (DER)'),
    h('button', { type: 'button', class: 'btn btn-secondary', id: 'dl-chain',
      onclick: () => download(`${d.device_id}-chain.pem`, d.chain, 'application/pem-certificate-chain') }, 'Chain (PEM)'));

  const adminBox = me.user.role === 'admin' ? adminActions(d) : null;
  const history = Array.isArray(d.history) && d.history.length
    ? h('div', { class: 'table-wrap' }, h('table', { class: 'responsive', id: 'history-table' },
      h('thead', {}, h('tr', {}, ['When', 'Event', 'Reason', 'By'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, d.history.map((e) => h('tr', {}, h('td', { 'data-label': 'When' }, fmtTime(e.at)),
        h('td', { 'data-label': 'Event' }, EVENTS[e.event] || e.action),
        h('td', { 'data-label': 'Reason' }, reasonLabel(e.reason)),
        h('td', { 'data-label': 'By' }, e.actor))))))
    : h('p', { class: 'empty' }, 'No status changes recorded.');

  return h('div', {},
    h('p', {}, h('a', { href: '#/devices' }, '← Devices')),
    h('h1', {}, 'Device ', h('span', { class: 'mono' }, d.device_id), ' ', h('span', { id: 'device-status' }, badge(st.state || 'unknown'))),
    st.state && st.state !== 'active'
      ? alertBox(st.state === 'revoked' ? 'error' : 'error', st.state === 'revoked' ? 'Revoked' : 'Suspended',
        `${st.reason ? `Reason: ${st.reason}. ` : ''}${st.since ? `Since ${fmtTime(st.since)}.` : ''}`)
      : null,
    h('div', { class: 'cols' },
      h('section', { class: 'panel', 'aria-labelledby': 'attrs-title' }, h('h2', { id: 'attrs-title' }, 'Attributes'),
        props([['Serial', d.serial], ['Model', d.model], ['Hardware version', d.hardware_version || '—'],
          ['Enrolled', h('span', { id: 'enrolled-at' }, fmtTime(d.enrolled_at))],
          ['Manufacturer', d.manufacturer ? `${d.manufacturer.name} (${d.manufacturer.id})` : '—'],
          ['Certificate URL', h('span', { class: 'mono' }, d.certificate_url)]])),
      h('section', { class: 'panel', 'aria-labelledby': 'cert-title' }, h('h2', { id: 'cert-title' }, 'Certificate'),
        props([['Serial', h('span', { class: 'mono', id: 'cert-serial' }, d.certificate_serial)], ['Key', d.key_type],
          ['Valid from', fmtTime(d.not_before)], ['Valid until', fmtTime(d.not_after)],
          ['SHA-256', h('span', { class: 'mono' }, d.certificate_sha256)]]), actions)),
    h('section', { class: 'panel', 'aria-labelledby': 'hist-title' }, h('h2', { id: 'hist-title' }, 'Status history'), history),
    adminBox);
}

function adminActions(d) {
  const state = d.status && d.status.state;
  const act = async (what, body) => {
    await post(`/api/v1/devices/${encodeURIComponent(d.device_id)}/${what}`, body);
    toast(`Device ${d.device_id}: ${what} done`);
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  };
  const revoke = () => {
    const sel = h('select', { id: 'revoke-reason', 'aria-required': 'true' },
      h('option', { value: '' }, 'Choose a reason…'), REASONS.map(([v, l]) => h('option', { value: v }, l)));
    const body = h('div', {},
      h('p', {}, 'Revoking ', h('strong', { class: 'mono' }, d.device_id), ' (serial ', d.serial, ') is permanent: the certificate goes on the CRL and networks will refuse the device.'),
      h('div', { class: 'field' }, h('label', { for: 'revoke-reason' }, 'Reason (RFC 5280)'), sel));
    sel.addEventListener('change', () => { document.getElementById('confirm-error').textContent = ''; });
    return confirmDialog({ title: 'Revoke this device?', body, okLabel: 'Revoke device',
      onConfirm: async () => {
        if (!sel.value) { sel.focus(); throw new Error('Choose a reason for the revocation.'); }
        await act('revoke', { reason: sel.value });
      } });
  };
  const simple = (what, title, text) => () => confirmDialog({ title, body: h('p', {}, text), okLabel: title.replace('?', ''),
    danger: what === 'suspend', onConfirm: () => act(what, {}) });
  return h('section', { class: 'panel', 'aria-labelledby': 'admin-title' }, h('h2', { id: 'admin-title' }, 'Administration'),
    state === 'revoked' ? h('p', {}, 'This device is revoked; nothing more can be done with its certificate.') :
      h('div', { class: 'actions left' },
        state === 'active' ? h('button', { type: 'button', class: 'btn btn-warn', id: 'suspend',
          onclick: simple('suspend', 'Suspend device?', 'The certificate is put on hold (certificateHold) until reinstated.') }, 'Suspend') : null,
        state === 'suspended' ? h('button', { type: 'button', class: 'btn btn-secondary', id: 'reinstate',
          onclick: simple('reinstate', 'Reinstate device?', 'The hold is lifted and the device may attach again.') }, 'Reinstate') : null,
        h('button', { type: 'button', class: 'btn btn-danger', id: 'revoke', onclick: revoke }, 'Revoke…')));
}
