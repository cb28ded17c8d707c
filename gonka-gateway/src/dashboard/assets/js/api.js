// Calls to the gateway's admin listener: the admin token as a Bearer header, asked once (when
// an API answers 401) and kept in sessionStorage; 404 means "not served by this gateway" and
// resolves to null so that a tab shows its empty state.

const TOKEN_KEY = 'gonka-admin-token';

/** An API answer other than 2xx/404, with the message of the body's `error`. */
export class ApiError extends Error {
  constructor(status, message) {
    super(`HTTP ${status}: ${message}`);
    this.status = status;
  }
}

let pendingLogin = null;

/** Resolves once the user submitted a token in the login dialog (one dialog for all callers). */
function askToken(wrong) {
  if (pendingLogin) return pendingLogin;
  const dialog = document.getElementById('login');
  const form = document.getElementById('login-form');
  const input = document.getElementById('login-token');
  const error = document.getElementById('login-error');
  error.textContent = wrong ? 'That token was refused; try again.' : '';
  pendingLogin = new Promise((resolve) => {
    const done = (event) => {
      event.preventDefault();
      const token = input.value.trim();
      if (!token) return;
      sessionStorage.setItem(TOKEN_KEY, token);
      input.value = '';
      form.removeEventListener('submit', done);
      dialog.close();
      pendingLogin = null;
      resolve();
    };
    form.addEventListener('submit', done);
    // Escape would close the dialog without a token: keep it open.
    dialog.oncancel = (e) => e.preventDefault();
    if (!dialog.open) dialog.showModal();
    input.focus();
  });
  return pendingLogin;
}

function errorMessage(data, text) {
  if (data && typeof data.error === 'string') return data.error;
  if (data && data.error && typeof data.error.message === 'string') return data.error.message;
  return text || 'no body';
}

/**
 * `fetch(path)` on the admin listener with the token; `body` (an object) is sent as JSON.
 * Resolves to the parsed JSON (null on 404 or an empty body); throws ApiError otherwise.
 * A 401 opens the token dialog and retries (at most 5 times per call).
 */
export async function api(path, { method = 'GET', body } = {}) {
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const headers = new Headers({ Accept: 'application/json' });
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.set('Authorization', `Bearer ${token}`);
    const init = { method, headers, cache: 'no-store' };
    if (body !== undefined) {
      headers.set('Content-Type', 'application/json');
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    if (res.status === 401) {
      await askToken(Boolean(token));
      continue;
    }
    if (res.status === 404 && method === 'GET') return null;
    const text = await res.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!res.ok) throw new ApiError(res.status, errorMessage(data, text));
    return data;
  }
  throw new ApiError(401, 'the admin token was refused');
}

/** Forgets the stored token (the next call asks again). */
export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/**
 * GET `path` for a part of the page that another module of the gateway serves: `{data}`, or
 * `{data: null, note}` when this gateway does not serve it (404) or has it switched off (503,
 * e.g. `--traces off`); `what` names the part in the note.
 */
export async function optional(path, what) {
  try {
    const data = await api(path);
    if (data !== null) return { data, note: null };
    return { data: null, note: `${what} (${path.split('?')[0]}) is not served by this gateway.` };
  } catch (e) {
    if (e instanceof ApiError && e.status === 503) return { data: null, note: `${what}: ${e.message}` };
    throw e;
  }
}
