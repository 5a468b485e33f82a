// api.js — the portal's only way to the server: same-origin fetch of the
// JSON API, with the session's CSRF token on requests that change state,
// and RFC 9457 problems turned into errors a person can read.

let csrf = null;

export function setCsrf(token) { csrf = token || null; }

export class ApiError extends Error {
  constructor(status, problem) {
    const title = (problem && problem.title) || `Request failed (${status})`;
    super(problem && problem.detail ? `${title}: ${problem.detail}` : title);
    this.status = status;
    this.title = title;
    this.detail = (problem && problem.detail) || '';
    this.type = (problem && problem.type) || '';
  }
}

async function problemOf(res) {
  const type = res.headers.get('Content-Type') || '';
  if (type.includes('json')) {
    try { return await res.json(); } catch { /* fall through */ }
  }
  return { title: res.statusText || `HTTP ${res.status}` };
}

// Call the API; returns parsed JSON (or text for non-JSON answers).
export async function api(method, path, body, opts = {}) {
  const headers = { Accept: opts.accept || 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET' && method !== 'HEAD' && csrf) headers['X-CSRF-Token'] = csrf;
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, { title: 'The server cannot be reached', detail: 'check the connection and try again' });
  }
  if (!res.ok) {
    const err = new ApiError(res.status, await problemOf(res));
    if (res.status === 401 && !opts.quiet401) window.dispatchEvent(new CustomEvent('provca:signedout'));
    throw err;
  }
  const ct = res.headers.get('Content-Type') || '';
  if (ct.includes('json')) return res.json();
  return res.text();
}

export const get = (path, opts) => api('GET', path, undefined, opts);
export const post = (path, body, opts) => api('POST', path, body === undefined ? {} : body, opts);
