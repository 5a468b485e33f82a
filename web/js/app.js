// app.js — the portal shell: who is signed in, the navigation for their
// role, and a hash router that hands each page to its view module.
import { get, post, setCsrf } from './api.js';
import { h, clear, alertBox, field, setFieldError } from './dom.js';
import { dashboardView } from './views/dashboard.js';
import { enrollView } from './views/enroll.js';
import { devicesView, deviceView } from './views/devices.js';
import { auditView, principalsView, usersView } from './views/admin.js';

const main = document.getElementById('main');
const state = { me: null };

const NAV = {
  manufacturer: [['#/', 'Dashboard'], ['#/enroll', 'Enroll'], ['#/devices', 'Devices']],
  admin: [['#/', 'Dashboard'], ['#/devices', 'Devices'], ['#/audit', 'Audit log'],
    ['#/principals', 'Principals'], ['#/users', 'Users']],
};

function renderChrome() {
  const bar = document.getElementById('topbar');
  const nav = clear(document.getElementById('nav'));
  if (!state.me) { bar.hidden = true; return; }
  bar.hidden = false;
  const u = state.me.user;
  for (const [href, label] of NAV[u.role] || []) nav.append(h('a', { href }, label));
  const who = clear(document.getElementById('who-name'));
  who.append(u.name, h('span', { class: 'role' },
    u.role === 'manufacturer' ? `manufacturer ${u.manufacturer_id}` : 'administrator'));
  markNav();
}

function markNav() {
  const cur = location.hash.split('?')[0] || '#/';
  for (const a of document.querySelectorAll('#nav a')) {
    const href = a.getAttribute('href');
    const on = href === cur || (href !== '#/' && cur.startsWith(href));
    if (on) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
}

function signinView() {
  const name = h('input', { name: 'username', autocomplete: 'username', required: true, maxlength: 64 });
  const pw = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true, maxlength: 1024 });
  const msg = h('div', { id: 'signin-msg' });
  const btn = h('button', { type: 'submit', class: 'btn' }, 'Sign in');
  const form = h('form', { class: 'panel signin', novalidate: true, 'aria-labelledby': 'signin-title' },
    h('div', { class: 'brand-big' }, h('img', { src: '/img/logo.svg', alt: '' }),
      h('div', {}, h('strong', { id: 'signin-title' }, 'ProvCA portal'),
        h('span', {}, 'Device enrollment and certificate administration'))),
    msg,
    field('signin-name', 'User name', name),
    field('signin-password', 'Password', pw),
    btn);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(msg);
    setFieldError('signin-name', name.value.trim() ? '' : 'Enter your user name.');
    setFieldError('signin-password', pw.value ? '' : 'Enter your password.');
    if (!name.value.trim() || !pw.value) return;
    btn.disabled = true;
    try {
      const me = await post('/api/v1/portal/login', { name: name.value.trim(), password: pw.value }, { quiet401: true });
      pw.value = '';
      setSession(me);
      location.hash = '#/';
      route();
    } catch (e) {
      msg.append(alertBox('error', e.title, e.detail));
      pw.value = '';
      pw.focus();
    } finally {
      btn.disabled = false;
    }
  });
  return form;
}

function setSession(me) {
  state.me = me;
  setCsrf(me && me.csrf);
  renderChrome();
}

const routes = [
  [/^#\/?$/, () => dashboardView(state.me)],
  [/^#\/enroll$/, () => enrollView(state.me)],
  [/^#\/devices$/, (m, q) => devicesView(state.me, q)],
  [/^#\/devices\/([A-Za-z0-9._-]{1,64})$/, (m) => deviceView(state.me, m[1])],
  [/^#\/audit$/, (m, q) => auditView(state.me, q), 'admin'],
  [/^#\/principals$/, () => principalsView(state.me), 'admin'],
  [/^#\/users$/, () => usersView(state.me), 'admin'],
];

async function route() {
  const [path, qs] = (location.hash || '#/').split('?');
  if (!state.me) {
    try {
      setSession(await get('/api/v1/portal/me', { quiet401: true }));
    } catch {
      setSession(null);
    }
  }
  clear(main);
  if (!state.me) {
    main.append(signinView());
    document.getElementById('signin-name').focus();
    return;
  }
  markNav();
  for (const [re, view, role] of routes) {
    const m = path.match(re);
    if (!m) continue;
    if (role && state.me.user.role !== role) break;
    main.append(h('p', { class: 'loading' }, 'Loading…'));
    try {
      const node = await view(m, new URLSearchParams(qs || ''));
      clear(main).append(node);
    } catch (e) {
      clear(main).append(alertBox('error', e.title || 'Something went wrong', e.detail || String(e.message || e)));
    }
    main.focus({ preventScroll: true });
    return;
  }
  main.append(h('h1', {}, 'Page not found'), h('p', {}, h('a', { href: '#/' }, 'Back to the dashboard')));
}

document.getElementById('signout').addEventListener('click', async () => {
  try { await post('/api/v1/portal/logout'); } catch { /* the session may be gone already */ }
  setSession(null);
  location.hash = '#/';
  route();
});
window.addEventListener('provca:signedout', () => {
  if (state.me) { setSession(null); route(); }
});
window.addEventListener('hashchange', route);
route();
