// dashboard.js — devices by status and enrollments per day (Chart.js).
import { get } from '../api.js';
import { h } from '../dom.js';

const DAYS = 30;
const MAX_PAGES = 20; // 20 000 devices; beyond that the counts say "at least"

async function allDevices() {
  const out = [];
  let cursor = null, pages = 0, truncated = false;
  do {
    const q = new URLSearchParams({ limit: '1000' });
    if (cursor) q.set('cursor', cursor);
    const page = await get(`/api/v1/devices?${q}`);
    out.push(...page.devices);
    cursor = page.next_cursor;
    pages++;
    if (cursor && pages >= MAX_PAGES) { truncated = true; break; }
  } while (cursor);
  return { devices: out, truncated };
}

function dayKey(d) { return d.toISOString().slice(0, 10); }

export async function dashboardView(me) {
  const { devices, truncated } = await allDevices();
  const counts = { active: 0, suspended: 0, revoked: 0 };
  for (const d of devices) counts[d.status] = (counts[d.status] || 0) + 1;

  const today = new Date();
  const labels = [];
  const perDay = new Map();
  for (let i = DAYS - 1; i >= 0; i--) {
    const d = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - i));
    labels.push(dayKey(d));
    perDay.set(dayKey(d), 0);
  }
  for (const d of devices) {
    const k = (d.created_at || '').slice(0, 10);
    if (perDay.has(k)) perDay.set(k, perDay.get(k) + 1);
  }
  const total = devices.length;
  const prefix = truncated ? 'at least ' : '';
  const title = me.user.role === 'manufacturer' ? `Devices of ${me.user.manufacturer_id}` : 'All devices';

  const canvas = h('canvas', { id: 'enroll-chart', role: 'img',
    'aria-label': `Enrollments per day over the last ${DAYS} days` });
  const table = h('table', { class: 'visually-hidden-table' },
    h('caption', {}, 'Enrollments per day'),
    h('tbody', {}, labels.filter((l) => perDay.get(l) > 0).map((l) => h('tr', {}, h('th', {}, l), h('td', {}, perDay.get(l))))));
  table.hidden = true;

  const node = h('div', {},
    h('h1', {}, 'Dashboard'),
    h('p', { class: 'sub' }, title),
    h('div', { class: 'grid' },
      stat('total', 'Devices', `${prefix}${total}`, '#/devices'),
      stat('active', 'Active', counts.active, '#/devices?status=active'),
      stat('suspended', 'Suspended', counts.suspended, '#/devices?status=suspended'),
      stat('revoked', 'Revoked', counts.revoked, '#/devices?status=revoked')),
    h('section', { class: 'panel', 'aria-labelledby': 'chart-title' },
      h('h2', { id: 'chart-title' }, `Enrollments per day, last ${DAYS} days`),
      h('div', { class: 'chart-box' }, canvas), table),
    me.user.role === 'manufacturer'
      ? h('div', { class: 'actions left' }, h('a', { class: 'btn', href: '#/enroll' }, 'Enroll devices'),
        h('a', { class: 'btn btn-secondary', href: '#/devices' }, 'Browse devices'))
      : null);

  // Chart.js is loaded by index.html from /vendor (copied from npm at build).
  requestAnimationFrame(() => {
    if (!window.Chart) {
      canvas.replaceWith(h('p', { class: 'empty' }, 'Chart library missing: run scripts/setup.sh to install the portal\'s build files.'));
      table.hidden = false;
      return;
    }
    new window.Chart(canvas, {
      type: 'bar',
      data: { labels: labels.map((l) => l.slice(5)), datasets: [{ label: 'Devices enrolled', data: labels.map((l) => perDay.get(l)),
        backgroundColor: '#0f4c81', borderRadius: 4, maxBarThickness: 28 }] },
      options: { responsive: true, maintainAspectRatio: false, animation: false,
        plugins: { legend: { display: false } },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } }, x: { grid: { display: false } } } },
    });
  });
  return node;
}

function stat(cls, label, n, href) {
  return h('a', { class: `panel stat ${cls}`, href, style: null },
    h('span', { class: 'n' }, n), h('span', { class: 'l' }, label));
}
