// npm_check.cjs — used by scripts/setup.sh. Two questions about an npm lock
// file, answered with the running node (any version from 12 on):
//   node npm_check.cjs engines LOCK...  exit 1, naming the package, when the
//       running node does not satisfy a package's engines.node (ranges of
//       the forms ">=X[.Y[.Z]]", "^X[.Y[.Z]]", "X.Y.Z", joined by "||");
//   node npm_check.cjs current DIR       exit 1 when DIR/node_modules does not
//       hold exactly the versions DIR/package-lock.json pins.
'use strict';
const fs = require('fs');
const path = require('path');

function parse(v) {
  const m = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(String(v).trim());
  return m ? [Number(m[1]), Number(m[2] || 0), Number(m[3] || 0)] : null;
}

function cmp(a, b) {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}

// One comparator set; null when it is a form this script does not read.
function satisfiesOne(have, range) {
  const parts = range.trim().split(/\s+/);
  for (const p of parts) {
    let m;
    if ((m = /^>=\s*(.+)$/.exec(p))) {
      const w = parse(m[1]); if (!w) return null;
      if (cmp(have, w) < 0) return false;
    } else if ((m = /^\^(.+)$/.exec(p))) {
      const w = parse(m[1]); if (!w) return null;
      if (have[0] !== w[0] || cmp(have, w) < 0) return false;
    } else if ((m = /^<\s*(.+)$/.exec(p))) {
      const w = parse(m[1]); if (!w) return null;
      if (cmp(have, w) >= 0) return false;
    } else {
      const w = parse(p); if (!w) return null;
      if (cmp(have, w) !== 0) return false;
    }
  }
  return true;
}

function satisfies(have, range) {
  let unknown = false;
  for (const alt of String(range).split('||')) {
    const r = satisfiesOne(have, alt);
    if (r === true) return true;
    if (r === null) unknown = true;
  }
  return unknown ? null : false;
}

function checkEngines(locks) {
  const have = parse(process.version);
  let bad = 0;
  for (const lock of locks) {
    const pk = JSON.parse(fs.readFileSync(lock, 'utf8')).packages || {};
    for (const [where, meta] of Object.entries(pk)) {
      const want = meta.engines && meta.engines.node;
      if (!want) continue;
      const name = where.replace(/^.*node_modules\//, '') || '(root)';
      const ok = satisfies(have, want);
      if (ok === false) {
        console.error(`${lock}: ${name}@${meta.version} needs node ${want}; this node is ${process.version}`);
        bad = 1;
      } else if (ok === null) {
        console.error(`${lock}: ${name}@${meta.version}: cannot read engines.node "${want}"`);
        bad = 1;
      }
    }
  }
  return bad;
}

function checkCurrent(dir) {
  const pk = JSON.parse(fs.readFileSync(path.join(dir, 'package-lock.json'), 'utf8')).packages || {};
  for (const [where, meta] of Object.entries(pk)) {
    if (!where) continue;
    let got;
    try {
      got = JSON.parse(fs.readFileSync(path.join(dir, where, 'package.json'), 'utf8')).version;
    } catch (e) {
      got = null;
    }
    if (got !== meta.version) {
      console.error(`${dir}/${where}: have ${got || 'nothing'}, lock pins ${meta.version}`);
      return 1;
    }
  }
  return 0;
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'engines' && args.length) process.exit(checkEngines(args));
if (cmd === 'current' && args.length === 1) process.exit(checkCurrent(args[0]));
console.error('usage: npm_check.cjs engines LOCK... | current DIR');
process.exit(2);
