// portal.test.mjs — the portal in a real browser: playwright-core drives
// Debian's /usr/bin/chromium against a ca-server started here on
// 127.0.0.1:0, then stopped. Run by ctest (PROVCA_BIN, PROVCA_TEST_OUT).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const BIN = process.env.PROVCA_BIN;
const OUT = process.env.PROVCA_TEST_OUT || path.join(os.tmpdir(), 'provca-browser-out');
const CA = path.join(BIN || '', 'ca-server');
const PW = { alice: 'alice-secret-pw', bob: 'bob-secret-pw1', root: 'root-secret-pw' };

let tmp, data, server, base, browser, deviceId, certSerial;

function run(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

function startServer() {
  return new Promise((resolve, reject) => {
    server = spawn(CA, ['serve', '--data', data, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '', errBuf = '';
    const timer = setTimeout(() => reject(new Error(`ca-server did not start: ${errBuf}`)), 30000);
    server.stdout.on('data', (d) => {
      buf += d;
      const m = buf.match(/listening on (https:\/\/127\.0\.0\.1:\d+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    server.stderr.on('data', (d) => { errBuf += d; });
    server.on('exit', (code) => { clearTimeout(timer); reject(new Error(`ca-server exited ${code}: ${errBuf}`)); });
  });
}

async function newPage() {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 860 }, acceptDownloads: true });
  const page = await ctx.newPage();
  page.setDefaultTimeout(20000);
  return { ctx, page };
}

async function signIn(page, name, password) {
  await page.goto(`${base}/#/`);
  await page.fill('#signin-name', name);
  await page.fill('#signin-password', password);
  await page.click('form.signin button[type=submit]');
}

before(async () => {
  assert.ok(BIN && fs.existsSync(CA), 'PROVCA_BIN must name the folder holding ca-server');
  fs.mkdirSync(OUT, { recursive: true });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'provca-browser-'));
  data = path.join(tmp, 'data');
  run(CA, ['init', '--example-oids', '--data', data, '--plain-keys', '--hostname', 'localhost']);
  run(CA, ['manufacturer', 'add', '--data', data, '--id', 'acme', '--name', 'Acme Devices']);
  run(CA, ['manufacturer', 'add', '--data', data, '--id', 'globex', '--name', 'Globex']);
  for (const [name, role, mfr] of [['alice', 'manufacturer', 'acme'], ['bob', 'manufacturer', 'globex'], ['root', 'admin', null]]) {
    const f = path.join(tmp, `${name}.pw`);
    fs.writeFileSync(f, `${PW[name]}\n`, { mode: 0o600 });
    const out = run(CA, ['user', 'add', '--data', data, '--name', name, '--role', role,
      ...(mfr ? ['--manufacturer-id', mfr] : []), '--password-file', f]);
    assert.match(out, new RegExp(`user ${name} added`));
  }
  run(CA, ['principal', 'add', '--data', data, '--role', 'operator', '--name', 'op1', '--out', path.join(tmp, 'op')]);
  base = await startServer();
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    // playwright gives every launch a fresh, temporary user-data dir.
  });
});

after(async () => {
  if (browser) await browser.close();
  if (server && server.exitCode === null) {
    server.removeAllListeners('exit');
    server.kill('SIGTERM');
    await new Promise((r) => { server.once('exit', r); setTimeout(r, 5000); });
  }
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('every portal response carries the security headers', async () => {
  const { ctx, page } = await newPage();
  const res = await page.goto(`${base}/`);
  const hd = res.headers();
  assert.match(hd['content-security-policy'], /script-src 'self'/);
  assert.match(hd['content-security-policy'], /frame-ancestors 'none'/);
  assert.doesNotMatch(hd['content-security-policy'], /unsafe-inline/);
  assert.equal(hd['x-content-type-options'], 'nosniff');
  assert.equal(hd['referrer-policy'], 'no-referrer');
  assert.equal(hd['x-frame-options'], 'DENY');
  await ctx.close();
});

test('wrong password refused, then sign-in works and sign-out ends the session', async () => {
  const { ctx, page } = await newPage();
  await signIn(page, 'alice', 'not-the-password');
  await page.waitForSelector('#signin-msg .alert-error');
  assert.match(await page.textContent('#signin-msg'), /Wrong user name or password/);
  assert.equal((await ctx.cookies()).length, 0);

  await page.fill('#signin-password', PW.alice);
  await page.click('form.signin button[type=submit]');
  await page.waitForSelector('h1:text("Dashboard")');
  const cookie = (await ctx.cookies()).find((c) => c.name === '__Host-provca_session');
  assert.ok(cookie, 'session cookie set');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.secure, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.match(await page.textContent('#who-name'), /alice.*manufacturer acme/);

  await page.click('#signout');
  await page.waitForSelector('#signin-name');
  // The old cookie no longer opens a session on the server.
  const r = await ctx.request.get(`${base}/api/v1/portal/me`, { headers: { Cookie: `${cookie.name}=${cookie.value}` } });
  assert.equal(r.status(), 401);
  await ctx.close();
});

test('a manufacturer enrolls an openssl CSR and the downloaded certificate verifies', async () => {
  const key = path.join(tmp, 'dev.key'), csr = path.join(tmp, 'dev.csr');
  run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', key, '-out', csr, '-subj', '/CN=browser-test-device']);
  const { ctx, page } = await newPage();
  await signIn(page, 'alice', PW.alice);
  await page.waitForSelector('h1:text("Dashboard")');
  await page.waitForTimeout(300);
  await page.screenshot({ path: path.join(OUT, 'dashboard.png'), fullPage: true });

  await page.click('#nav a[href="#/enroll"]');
  await page.waitForSelector('#e-serial');
  // Field errors first: nothing filled in.
  await page.click('#single-title ~ .actions button, form[aria-labelledby=single-title] button[type=submit]');
  assert.match(await page.textContent('#e-serial-error'), /Enter the serial number/);
  await page.setInputFiles('#e-file', csr);
  await page.waitForFunction(() => document.getElementById('e-pem').value.includes('CERTIFICATE REQUEST'));
  await page.fill('#e-serial', 'SN-BROWSER-0001');
  await page.fill('#e-model', 'Sensor X1');
  await page.fill('#e-hw', 'rev B');
  await page.screenshot({ path: path.join(OUT, 'enroll.png'), fullPage: true });
  await page.click('form[aria-labelledby=single-title] button[type=submit]');
  await page.waitForSelector('#enrolled-link');
  deviceId = (await page.textContent('#enrolled-link')).trim();
  assert.match(deviceId, /^[A-Za-z0-9._-]{1,64}$/);

  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#dl-cert')]);
  const certPath = path.join(tmp, 'dev.pem');
  await dl.saveAs(certPath);
  const [dl2] = await Promise.all([page.waitForEvent('download'), page.click('#dl-chain')]);
  const chainPath = path.join(tmp, 'chain.pem');
  await dl2.saveAs(chainPath);
  const v = run('openssl', ['verify', '-CAfile', chainPath, certPath]);
  assert.equal(v.trim(), `${certPath}: OK`);
  const subj = run('openssl', ['x509', '-in', certPath, '-noout', '-subject', '-serial']);
  assert.match(subj, /serialNumber\s*=\s*SN-BROWSER-0001/);
  certSerial = subj.match(/serial=([0-9A-F]+)/)[1];
  await ctx.close();
});

test('manufacturer B never sees A\'s device (list, search, direct URL, API)', async () => {
  const { ctx, page } = await newPage();
  await signIn(page, 'bob', PW.bob);
  await page.waitForSelector('h1:text("Dashboard")');
  await page.goto(`${base}/#/devices`);
  await page.waitForSelector('#no-devices');
  assert.equal(await page.locator(`text=${deviceId}`).count(), 0);
  await page.goto(`${base}/#/devices?q=${deviceId}`);
  await page.waitForSelector('#no-devices');
  await page.goto(`${base}/#/devices?q=SN-BROWSER-0001`);
  await page.waitForSelector('#no-devices');
  await page.goto(`${base}/#/devices/${deviceId}`);
  await page.waitForSelector('h1:text("Device not found")');
  const r = await ctx.request.get(`${base}/api/v1/devices?manufacturer=acme`);
  assert.equal(r.status(), 403);
  await ctx.close();
});

test('the manufacturer\'s device page shows attributes, enrollment date, history and downloads', async () => {
  const { ctx, page } = await newPage();
  await signIn(page, 'alice', PW.alice);
  await page.waitForSelector('h1:text("Dashboard")');
  await page.goto(`${base}/#/devices/${deviceId}`);
  await page.waitForSelector('#history-table');
  assert.match(await page.textContent('main h1'), new RegExp(deviceId));
  assert.match(await page.textContent('#attrs-title + dl'), /SN-BROWSER-0001/);
  assert.match(await page.textContent('#enrolled-at'), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$/);
  const rows = await page.$$eval('#history-table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.equal(rows.length, 1);
  assert.deepEqual(rows[0].slice(1), ['Certificate issued', '—', 'portal:alice']);
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#dl-der')]);
  const derPath = path.join(tmp, 'dev-page.der');
  await dl.saveAs(derPath);
  const subj = run('openssl', ['x509', '-inform', 'DER', '-in', derPath, '-noout', '-serial']);
  assert.equal(subj.trim(), `serial=${certSerial}`);
  await ctx.close();
});

test('an admin revokes: device page, operator lookup and CRL all say revoked', async () => {
  const { ctx, page } = await newPage();
  await signIn(page, 'root', PW.root);
  await page.waitForSelector('h1:text("Dashboard")');
  await page.goto(`${base}/#/devices/${deviceId}`);
  await page.waitForSelector('#revoke');
  await page.click('#revoke');
  await page.waitForSelector('#confirm[open]');
  await page.click('#confirm-ok'); // no reason yet: refused in the dialog
  assert.match(await page.textContent('#confirm-error'), /Choose a reason/);
  await page.selectOption('#revoke-reason', 'keyCompromise');
  await page.screenshot({ path: path.join(OUT, 'revoke-dialog.png') });
  await page.click('#confirm-ok');
  await page.waitForSelector('#device-status .badge.revoked');

  const op = path.join(tmp, 'op');
  const root = path.join(data, 'root-ca.crt');
  const json = run('curl', ['-sS', '--fail', '--cacert', root, '--cert', path.join(op, 'op1.crt'), '--key', path.join(op, 'op1.key'),
    '-H', 'Accept: application/json', '--resolve', `localhost:${new URL(base).port}:127.0.0.1`,
    `https://localhost:${new URL(base).port}/devices/${deviceId}`]);
  const ctxDoc = JSON.parse(json);
  assert.equal(ctxDoc.status.state, 'revoked');
  assert.equal(ctxDoc.status.reason, 'keyCompromise');

  const crl = await ctx.request.get(`${base}/crl/device.crl`);
  assert.equal(crl.status(), 200);
  const crlPath = path.join(tmp, 'device.crl');
  fs.writeFileSync(crlPath, await crl.body());
  const text = run('openssl', ['crl', '-inform', 'DER', '-in', crlPath, '-noout', '-text']);
  assert.match(text, new RegExp(`Serial Number: ${certSerial}`));
  assert.match(text, /Key Compromise/);
  await ctx.close();

  // The manufacturer's page now lists the revocation, its reason and who.
  const m = await newPage();
  await signIn(m.page, 'alice', PW.alice);
  await m.page.waitForSelector('h1:text("Dashboard")');
  await m.page.goto(`${base}/#/devices/${deviceId}`);
  await m.page.waitForSelector('#history-table');
  const rows = await m.page.$$eval('#history-table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.deepEqual(rows.map((r) => r.slice(1)),
    [['Certificate issued', '—', 'portal:alice'], ['Revoked', 'Key compromise', 'portal:root']]);
  assert.equal(await m.page.textContent('#device-status .badge'), 'revoked');
  await m.ctx.close();
});

test('an admin generates a principal and downloads its PKCS#12, which openssl opens', async () => {
  const { ctx, page } = await newPage();
  await signIn(page, 'root', PW.root);
  await page.waitForSelector('h1:text("Dashboard")');
  await page.goto(`${base}/#/principals`);
  await page.waitForSelector('#p-name');
  await page.fill('#p-name', 'factory-line-7');
  await page.selectOption('#p-role', 'manufacturer');
  await page.fill('#p-mfr', 'acme');
  await page.check('#p-mode-generate');
  assert.equal(await page.isVisible('#p-csr'), false);
  await page.fill('#p-p12pw', 'p12-secret-pw');
  await page.fill('#p-p12pw2', 'not-the-same');
  await page.click('form button[type=submit]:text("Generate PKCS#12")');
  assert.match(await page.textContent('#p-p12pw2-error'), /differ/);
  await page.fill('#p-p12pw2', 'p12-secret-pw');
  await page.click('form button[type=submit]:text("Generate PKCS#12")');
  await page.waitForSelector('#dl-p12');
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#dl-p12')]);
  assert.equal(dl.suggestedFilename(), 'factory-line-7.p12');
  const p12 = path.join(tmp, 'factory-line-7.p12');
  await dl.saveAs(p12);
  const pass = path.join(tmp, 'p12.pass');
  fs.writeFileSync(pass, 'p12-secret-pw\n', { mode: 0o600 });
  const certs = run('openssl', ['pkcs12', '-in', p12, '-passin', `file:${pass}`, '-nokeys', '-clcerts']);
  assert.match(run('openssl', ['x509', '-noout', '-subject'], { input: certs, stdio: ['pipe', 'pipe', 'pipe'] }), /CN\s*=\s*factory-line-7/);
  const key = run('openssl', ['pkcs12', '-in', p12, '-passin', `file:${pass}`, '-nocerts', '-nodes']);
  assert.match(key, /BEGIN PRIVATE KEY/);
  // The bundle really is the principal's client identity.
  const leaf = path.join(tmp, 'fl7.pem'), leafKey = path.join(tmp, 'fl7.key');
  fs.writeFileSync(leaf, certs);
  fs.writeFileSync(leafKey, key, { mode: 0o600 });
  const port = new URL(base).port;
  const list = run('curl', ['-sS', '--fail', '--cacert', path.join(data, 'root-ca.crt'), '--cert', leaf, '--key', leafKey,
    '--resolve', `localhost:${port}:127.0.0.1`, `https://localhost:${port}/api/v1/devices`]);
  assert.ok(JSON.parse(list).devices.some((d) => d.device_id === deviceId));
  const principals = await (await ctx.request.get(`${base}/api/v1/principals`)).json();
  const p = principals.principals.find((x) => x.name === 'factory-line-7');
  assert.equal(p.manufacturer_id, 'acme');
  await ctx.close();
});

test('an admin revokes a principal\'s certificate: it stops authenticating and is on the infra CRL', async () => {
  const dir = path.join(tmp, 'op-rv');
  run(CA, ['principal', 'add', '--data', data, '--role', 'operator', '--name', 'op-rv', '--out', dir]);
  const port = new URL(base).port;
  const root = path.join(data, 'root-ca.crt');
  const asOp = ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', root, '--cert', path.join(dir, 'op-rv.crt'),
    '--key', path.join(dir, 'op-rv.key'), '--resolve', `localhost:${port}:127.0.0.1`,
    `https://localhost:${port}/devices/${deviceId}`];
  assert.equal(run('curl', asOp), '200');
  const serial = run('openssl', ['x509', '-in', path.join(dir, 'op-rv.crt'), '-noout', '-serial']).trim().split('=')[1];

  const { ctx, page } = await newPage();
  await signIn(page, 'root', PW.root);
  await page.waitForSelector('h1:text("Dashboard")');
  await page.goto(`${base}/#/principals`);
  await page.click('button[data-revoke="op-rv"]');
  await page.waitForSelector('#confirm[open]');
  await page.click('#confirm-ok'); // no reason yet: refused in the dialog
  assert.match(await page.textContent('#confirm-error'), /Choose a reason/);
  assert.equal(run('curl', asOp), '200');
  await page.selectOption('#principal-revoke-reason', 'keyCompromise');
  await page.click('#confirm-ok');
  // The page re-renders: the row says revoked and offers no second revoke.
  await page.waitForFunction(() => [...document.querySelectorAll('table tbody tr')]
    .some((tr) => tr.cells[0].textContent === 'op-rv' && tr.cells[3].textContent === 'revoked'));
  assert.equal(await page.locator('button[data-revoke="op-rv"]').count(), 0);

  assert.equal(run('curl', asOp), '401');
  const crl = await ctx.request.get(`${base}/crl/infra-ca.crl`);
  assert.equal(crl.status(), 200);
  const crlPath = path.join(tmp, 'infra.crl');
  fs.writeFileSync(crlPath, await crl.body());
  const text = run('openssl', ['crl', '-inform', 'DER', '-in', crlPath, '-noout', '-text']);
  assert.match(text, /Issuer: .*Infrastructure CA/);
  assert.match(text, new RegExp(`Serial Number: ${serial}`));
  assert.match(text, /Key Compromise/);
  await ctx.close();
});

test('a manufacturer enrolls a batch of CSR files + CSV: per-item results, a results CSV, idempotent repeat', async () => {
  const files = [];
  for (const n of ['b1', 'b2']) {
    const csr = path.join(tmp, `${n}.csr`);
    run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', path.join(tmp, `${n}.key`), '-out', csr, '-subj', `/CN=${n}`]);
    files.push(csr);
  }
  const bad = path.join(tmp, 'b3.csr');
  fs.writeFileSync(bad, '-----BEGIN CERTIFICATE REQUEST-----\nTm90IGEgQ1NS\n-----END CERTIFICATE REQUEST-----\n');
  files.push(bad);
  const csv = path.join(tmp, 'batch.csv');
  fs.writeFileSync(csv, 'file,serial,model,hardware_version\nb1.csr,SN-B1,Meter 2,rev A\n' +
    'b2.csr,SN-B2,Meter 2,\nb3.csr,SN-B3,Meter 2,\nb4.csr,SN-B4,Meter 2,\n');
  const { ctx, page } = await newPage();
  await signIn(page, 'alice', PW.alice);
  await page.waitForSelector('h1:text("Dashboard")');
  await page.goto(`${base}/#/enroll`);
  await page.waitForSelector('#b-csrs');
  // CSR files without the CSV: a field error, nothing sent.
  let posted = 0;
  page.on('request', (r) => { if (r.url().endsWith('/api/v1/devices/batch')) posted += 1; });
  await page.setInputFiles('#b-csrs', files);
  await page.click('form[aria-labelledby=batch-title] button[type=submit]');
  assert.match(await page.textContent('#b-csv-error'), /Choose the CSV/);
  assert.equal(posted, 0);
  await page.setInputFiles('#b-csv', csv);
  await page.click('form[aria-labelledby=batch-title] button[type=submit]');
  await page.waitForSelector('#batch-results');
  await page.screenshot({ path: path.join(OUT, 'batch.png'), fullPage: true });
  const rows = await page.$$eval('#batch-results tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.deepEqual(rows.map((r) => [r[1], r[2]]),
    [['SN-B1', 'created'], ['SN-B2', 'created'], ['SN-B3', 'failed'], ['SN-B4', 'failed']]);
  assert.match(rows[2][4], /CSR|request/i);
  assert.match(rows[3][4], /no CSR file named b4\.csr/);
  assert.match(await page.textContent('form[aria-labelledby=batch-title] .alert'), /2 of 4 enrolled/);
  assert.equal(posted, 1);
  // The results file names the DeviceIDs the server gave.
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('button:text("Download results (CSV)")')]);
  const out = path.join(tmp, 'results.csv');
  await dl.saveAs(out);
  const lines = fs.readFileSync(out, 'utf8').trim().split(/\r?\n/);
  assert.equal(lines[0], 'index,serial,result,device_id,detail');
  const ids = lines.slice(1, 3).map((l) => l.split(',')[3]);
  assert.deepEqual(ids, [rows[0][3], rows[1][3]]);
  for (const [i, id] of ids.entries()) {
    const r = await ctx.request.get(`${base}/api/v1/devices/${id}`);
    assert.equal(r.status(), 200);
    assert.equal((await r.json()).serial, `SN-B${i + 1}`);
  }
  // The same batch again: the two devices exist already (idempotent).
  await page.click('form[aria-labelledby=batch-title] button[type=submit]');
  await page.waitForFunction(() => document.querySelectorAll('#batch-results tbody tr td:nth-child(3)')[0]?.textContent === 'existing');
  const again = await page.$$eval('#batch-results tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.deepEqual(again.slice(0, 2).map((r) => [r[2], r[3]]), [['existing', ids[0]], ['existing', ids[1]]]);
  await ctx.close();
});

test('an admin manages portal users: create, disable ends the session, enable, reset password', async () => {
  const { ctx, page } = await newPage();
  await signIn(page, 'root', PW.root);
  await page.waitForSelector('h1:text("Dashboard")');
  await page.goto(`${base}/#/users`);
  await page.waitForSelector('#u-name');
  await page.fill('#u-name', 'dave');
  await page.selectOption('#u-role', 'manufacturer');
  await page.fill('#u-mfr', 'acme');
  await page.fill('#u-pw', 'short');
  await page.click('button:text("Create user")');
  assert.match(await page.textContent('#u-pw-error'), /At least 10/);
  await page.fill('#u-pw', 'dave-secret-pw');
  await page.click('button:text("Create user")');
  await page.waitForSelector('#users-table td:text("dave")');
  const row = async () => page.$$eval('#users-table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent))
    .find((r) => r[0] === 'dave'));
  assert.deepEqual((await row()).slice(1, 4), ['manufacturer', 'acme', 'active']);
  // The same name again: the server's 409 shows on the name field.
  await page.fill('#u-name', 'dave');
  await page.selectOption('#u-role', 'manufacturer');
  await page.fill('#u-mfr', 'acme');
  await page.fill('#u-pw', 'another-secret-pw');
  await page.click('button:text("Create user")');
  await page.waitForFunction(() => document.getElementById('u-name-error').textContent !== '');
  assert.match(await page.textContent('#u-name-error'), /dave|exists|taken/i);

  const c = await newPage();
  await signIn(c.page, 'dave', 'dave-secret-pw');
  await c.page.waitForSelector('h1:text("Dashboard")');
  assert.equal((await c.ctx.request.get(`${base}/api/v1/portal/me`)).status(), 200);

  const daveRow = page.locator('#users-table tbody tr', { hasText: 'dave' });
  await daveRow.locator('button:text("Disable")').click();
  await page.waitForSelector('#confirm[open]');
  await page.click('#confirm-ok');
  await page.waitForFunction(() => [...document.querySelectorAll('#users-table tbody tr')]
    .some((tr) => tr.cells[0].textContent === 'dave' && tr.cells[3].textContent === 'disabled'));
  // Her session ends at once, and she cannot sign in again.
  assert.equal((await c.ctx.request.get(`${base}/api/v1/portal/me`)).status(), 401);
  await c.ctx.close();
  const c2 = await newPage();
  await signIn(c2.page, 'dave', 'dave-secret-pw');
  await c2.page.waitForSelector('#signin-msg .alert-error');

  await daveRow.locator('button:text("Enable")').click();
  await page.waitForSelector('#confirm[open]');
  await page.click('#confirm-ok');
  await page.waitForFunction(() => [...document.querySelectorAll('#users-table tbody tr')]
    .some((tr) => tr.cells[0].textContent === 'dave' && tr.cells[3].textContent === 'active'));
  await daveRow.locator('button:text("Reset password")').click();
  await page.waitForSelector('#reset-pw');
  await page.fill('#reset-pw', 'dave-new-password');
  await page.click('#confirm-ok');
  await page.waitForSelector('#confirm', { state: 'hidden' });

  await c2.page.fill('#signin-password', 'dave-secret-pw');
  await c2.page.click('form.signin button[type=submit]');
  await c2.page.waitForFunction(() => /Wrong user name or password/.test(document.getElementById('signin-msg').textContent));
  await c2.page.fill('#signin-password', 'dave-new-password');
  await c2.page.click('form.signin button[type=submit]');
  await c2.page.waitForSelector('h1:text("Dashboard")');
  await c2.ctx.close();
  await ctx.close();
});

test('the audit page filters by time range on the server', async () => {
  const { ctx, page } = await newPage();
  await signIn(page, 'root', PW.root);
  await page.waitForSelector('h1:text("Dashboard")');
  const seen = [];
  page.on('request', (r) => { if (r.url().includes('/api/v1/audit')) seen.push(new URL(r.url()).searchParams); });
  await page.goto(`${base}/#/audit?since=2000-01-01T00:00&until=2000-01-02T00:00`);
  await page.waitForSelector('main h1:text("Audit log")');
  await page.waitForSelector('text=No entries match.');
  const q = seen.at(-1);
  assert.equal(q.get('since'), '2000-01-01T00:00:00Z');
  assert.equal(q.get('until'), '2000-01-02T00:00:59Z');
  await page.goto(`${base}/#/audit?target=${deviceId}&since=2000-01-01T00:00`);
  await page.waitForSelector('#audit-table');
  const actions = await page.$$eval('#audit-table tbody tr td:nth-child(3)', (tds) => tds.map((td) => td.textContent));
  assert.deepEqual(actions, ['device.issue', 'device.revoke']);
  await ctx.close();
});

test('a state-changing session request without the CSRF token is refused', async () => {
  const { ctx, page } = await newPage();
  await signIn(page, 'root', PW.root);
  await page.waitForSelector('h1:text("Dashboard")');
  const me = await (await ctx.request.get(`${base}/api/v1/portal/me`)).json();
  assert.match(me.csrf, /^[0-9a-f]{64}$/);
  const body = { name: 'carol', role: 'admin', password: 'carol-secret-pw' };
  let r = await ctx.request.post(`${base}/api/v1/portal/users`, { data: body });
  assert.equal(r.status(), 403);
  assert.match((await r.json()).type, /csrf-token-invalid$/);
  r = await ctx.request.post(`${base}/api/v1/portal/users`, { data: body, headers: { 'X-CSRF-Token': '0'.repeat(64) } });
  assert.equal(r.status(), 403);
  r = await ctx.request.post(`${base}/api/v1/portal/users`, { data: body, headers: { 'X-CSRF-Token': me.csrf } });
  assert.equal(r.status(), 201);
  assert.equal((await r.json()).name, 'carol');
  await ctx.close();
});

test('a session past its expiry is refused', async () => {
  const { ctx, page } = await newPage();
  await signIn(page, 'alice', PW.alice);
  await page.waitForSelector('h1:text("Dashboard")');
  // Age every session past its absolute expiry, as time would.
  run('sqlite3', [path.join(data, 'registry.db'), 'PRAGMA busy_timeout=5000; UPDATE portal_sessions SET absolute_expiry = 1;']);
  const r = await ctx.request.get(`${base}/api/v1/portal/me`);
  assert.equal(r.status(), 401);
  await page.reload();
  await page.waitForSelector('#signin-name');
  await ctx.close();
});

test('pages fit a 390 px wide screen', async () => {
  const { ctx, page } = await newPage();
  await page.setViewportSize({ width: 390, height: 844 });
  await signIn(page, 'alice', PW.alice);
  await page.waitForSelector('h1:text("Dashboard")');
  for (const h of ['#/', '#/enroll', '#/devices']) {
    await page.goto(`${base}/${h}`);
    await page.waitForSelector('main h1');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${h} overflows by ${overflow}px`);
  }
  await page.screenshot({ path: path.join(OUT, 'devices-390.png'), fullPage: true });
  await ctx.close();
});
