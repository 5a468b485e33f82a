// ui.js — the toast and the confirmation dialog every page shares.
import { clear } from './dom.js';

export function toast(msg) {
  const t = document.getElementById('toast');
  t.textContent = msg;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 4000);
}

// Ask before doing something that cannot be undone. body is a node (form
// fields allowed); onConfirm runs with the dialog still open and may throw
// an error whose message is shown in the dialog. Resolves true when done.
export function confirmDialog({ title, body, okLabel = 'Confirm', danger = true, onConfirm }) {
  const dlg = document.getElementById('confirm');
  const form = document.getElementById('confirm-form');
  const ok = document.getElementById('confirm-ok');
  const cancel = document.getElementById('confirm-cancel');
  const err = document.getElementById('confirm-error');
  document.getElementById('confirm-title').textContent = title;
  clear(document.getElementById('confirm-body')).append(body);
  err.textContent = '';
  ok.textContent = okLabel;
  ok.className = `btn ${danger ? 'btn-danger' : ''}`;
  return new Promise((resolve) => {
    const done = (v) => {
      form.removeEventListener('submit', submit);
      cancel.removeEventListener('click', close);
      dlg.removeEventListener('cancel', close);
      if (dlg.open) dlg.close();
      resolve(v);
    };
    const close = (ev) => { if (ev) ev.preventDefault(); done(false); };
    const submit = async (ev) => {
      ev.preventDefault();
      ok.disabled = true;
      err.textContent = '';
      try {
        await onConfirm();
        done(true);
      } catch (e) {
        err.textContent = e.message || String(e);
      } finally {
        ok.disabled = false;
      }
    };
    form.addEventListener('submit', submit);
    cancel.addEventListener('click', close);
    dlg.addEventListener('cancel', close);
    dlg.showModal();
    cancel.focus();
  });
}
