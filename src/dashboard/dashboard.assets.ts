import { createHash } from 'node:crypto'

// The dashboard's whole stylesheet and script, served by Foyer itself under a content hash (so
// they can be cached for good) and allowed by CSP as 'self': no inline style or script runs,
// even if markup were ever injected. Every page works without the script; it only adds
// copy buttons, switching instance on select, checking metadata JSON while it is typed, and
// the email template preview following what is typed.
const CSS = `
*,*::before,*::after{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
[hidden]{display:none!important}
body{margin:0;background:#f6f8fa;color:#1f2328;font:.9375rem/1.5 system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif}
a{color:#0550ae}
:focus-visible{outline:3px solid #0969da;outline-offset:2px}
.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.top{display:flex;flex-wrap:wrap;align-items:center;gap:.75rem 1rem;padding:.6rem 1.25rem;background:#24292f;color:#fff}
.top a{color:#fff}
.brand{font-weight:700;font-size:1.05rem;text-decoration:none;margin-right:.5rem}
.top form{display:flex;gap:.4rem;align-items:center;margin:0}
.top select{max-width:16rem;color:#1f2328;padding:.3rem .5rem}
.top .spacer{flex:1}
.top .who{color:#d0d7de;overflow-wrap:anywhere}
.shell{display:flex;gap:1.5rem;max-width:80rem;margin:0 auto;padding:1.25rem}
.shell>nav{flex:0 0 11rem}
.shell>nav ul{list-style:none;margin:0;padding:0}
.shell>nav a{display:block;padding:.4rem .75rem;border-radius:6px;color:#1f2328;text-decoration:none}
.shell>nav a:hover{background:#eaeef2}
.shell>nav a[aria-current=page]{background:#ddf4ff;color:#0550ae;font-weight:600}
.shell>main{flex:1;min-width:0}
.card{background:#fff;border:1px solid #d0d7de;border-radius:10px;padding:1.25rem;margin:0 0 1.25rem}
.narrow{max-width:26rem;margin:3rem auto}
h1{margin:0 0 1rem;font-size:1.5rem;line-height:1.25}
h2{margin:0 0 .75rem;font-size:1.125rem}
p{margin:0 0 1rem;overflow-wrap:anywhere}
label{display:block;margin:0 0 .25rem;font-weight:600}
.field{margin:0 0 1rem}
.hint{display:block;margin:0 0 .25rem;color:#57606a;font-size:.85rem;font-weight:400}
input,select,textarea{font:inherit;color:inherit;background:#fff;border:1px solid #8c959f;border-radius:6px;padding:.45rem .6rem}
.field input,.field textarea,.field select{display:block;width:100%}
textarea{min-height:5rem;resize:vertical;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.875rem}
input[aria-invalid=true],textarea[aria-invalid=true]{border-color:#cf222e}
input[type=checkbox]{width:auto;display:inline;margin:0 .4rem 0 0}
.check{display:flex;align-items:center;font-weight:400}
.row{display:flex;gap:1rem;flex-wrap:wrap}.row>.field{flex:1;min-width:12rem}
button,.button{display:inline-block;padding:.45rem .9rem;font:inherit;font-weight:600;color:#fff;background:#0550ae;border:1px solid transparent;border-radius:6px;cursor:pointer;text-decoration:none;line-height:1.4}
button:hover,.button:hover{background:#033d8b}
button.secondary,.button.secondary{color:#0550ae;background:#fff;border-color:#0550ae}
button.danger{background:#cf222e}button.danger:hover{background:#a40e26}
button.small,.button.small{padding:.2rem .55rem;font-size:.8125rem}
button.link{padding:0;background:none;border:0;color:inherit;text-decoration:underline;font-weight:400}
.error,.notice{margin:0 0 1rem;padding:.75rem 1rem;border-radius:6px}
.error{color:#82071e;background:#ffebe9;border:1px solid #ff818266}
.notice{color:#0a3069;background:#ddf4ff;border:1px solid #54aeff66}
.error p,.notice p{margin:0}
.secret{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;width:100%}
.tabs{display:flex;flex-wrap:wrap;gap:.25rem;margin:0 0 1rem;padding:0;list-style:none;border-bottom:1px solid #d0d7de}
.tabs a{display:block;padding:.45rem .8rem;color:#57606a;text-decoration:none;border-bottom:2px solid transparent}
.tabs a[aria-current=page]{color:#1f2328;font-weight:600;border-bottom-color:#fd8c73}
.toolbar{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;margin:0 0 1rem}
.toolbar input[type=search]{flex:1;min-width:12rem}
table{width:100%;border-collapse:collapse;background:#fff}
th,td{padding:.5rem .6rem;border-bottom:1px solid #d8dee4;text-align:left;vertical-align:top}
th{font-size:.8125rem;color:#57606a;font-weight:600;white-space:nowrap}
th a{color:inherit}
td.email{overflow-wrap:anywhere;max-width:22rem}
td.actions{white-space:nowrap}
td.actions>*{display:inline-block;vertical-align:middle;margin:0 .4rem .25rem 0}
td.actions details[open]{display:block}
summary{cursor:pointer}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.8125rem;overflow-wrap:anywhere}
.muted{color:#57606a}
.status{display:inline-block;padding:0 .5rem;border-radius:2rem;font-size:.8125rem;font-weight:600;border:1px solid}
.status-pending{color:#9a6700;background:#fff8c5;border-color:#d4a72c66}
.status-accepted,.status-active{color:#1a7f37;background:#dafbe1;border-color:#4ac26b66}
.status-revoked,.status-ended,.status-removed{color:#57606a;background:#eaeef2;border-color:#afb8c166}
.status-expired,.status-failed{color:#82071e;background:#ffebe9;border-color:#ff818266}
.status-sent{color:#1a7f37;background:#dafbe1;border-color:#4ac26b66}
.status-queued,.status-skipped{color:#57606a;background:#eaeef2;border-color:#afb8c166}
.link-box{display:flex;gap:.4rem;margin:.4rem 0 0}
.link-box input{flex:1;min-width:16rem}
.pager{display:flex;gap:1rem;align-items:center;margin:1rem 0 0}
.empty{padding:2rem;text-align:center;color:#57606a}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1rem;margin:0}
dl.facts dt{font-weight:600;color:#57606a}dl.facts dd{margin:0;overflow-wrap:anywhere}
pre{margin:0;padding:.6rem;background:#f6f8fa;border-radius:6px;overflow:auto;font-size:.8125rem}
.table-wrap{overflow-x:auto}
.js-status{font-size:.85rem;margin:.25rem 0 0;color:#57606a}
.js-status.bad{color:#cf222e}
h3{margin:1rem 0 .5rem;font-size:1rem}
/* What a role cannot do is not offered (the server refuses it regardless): a viewer changes nothing, and only owners handle keys. */
.read-only main form[method=post],.read-only main details:has(>form[method=post]),body:not(.owner) main form[action*="/settings/keys/"],body:not(.owner) main details:has(>form[action*="/settings/keys/"]),body:not(.owner) main form[action$="/signing-key/rotate"],body:not(.owner) main form[action$="/account/require-totp"]{display:none}
@media (max-width:48rem){.shell{display:block;padding:.75rem}.shell>nav ul{display:flex;gap:.25rem;margin:0 0 1rem}}
`.trim()

const JS = `
'use strict';
document.querySelectorAll('form[data-autosubmit] select').forEach(function (select) {
  select.addEventListener('change', function () { select.form.submit(); });
  var button = select.form.querySelector('button');
  if (button) button.hidden = true;
});
document.querySelectorAll('button[data-copy]').forEach(function (button) {
  if (!navigator.clipboard) return;
  button.hidden = false;
  button.addEventListener('click', function () {
    var input = document.getElementById(button.getAttribute('data-copy'));
    if (!input) return;
    navigator.clipboard.writeText(input.value).then(function () {
      button.textContent = 'Copied';
      setTimeout(function () { button.textContent = 'Copy'; }, 1500);
    }, function () { input.select(); });
  });
});
document.querySelectorAll('textarea[data-json-object]').forEach(function (area) {
  var status = document.getElementById(area.id + '-status');
  function check() {
    var text = area.value.trim(), message = '';
    if (text) {
      try {
        var value = JSON.parse(text);
        if (value === null || typeof value !== 'object' || Array.isArray(value)) message = 'Public metadata must be a JSON object, such as {"plan": "pro"}.';
      } catch (e) { message = 'Not valid JSON: ' + e.message; }
    }
    area.setCustomValidity(message);
    area.setAttribute('aria-invalid', message ? 'true' : 'false');
    if (status) { status.textContent = message || (text ? 'Valid JSON object.' : ''); status.classList.toggle('bad', !!message); }
  }
  area.addEventListener('input', check);
  check();
});
document.querySelectorAll('form[data-live-preview]').forEach(function (form) {
  var url = form.getAttribute('data-live-preview');
  var body = document.getElementById('preview-body'), status = document.getElementById('preview-status');
  var subject = document.getElementById('preview-subject'), frame = document.getElementById('preview-html'), text = document.getElementById('preview-text');
  if (!url || !body || !status || !subject || !frame || !text || !window.fetch) return;
  var hint = form.querySelector('[data-live-hint]');
  if (hint) hint.hidden = false;
  var timer = null, latest = 0, shown = null;
  function say(message, bad) { status.textContent = message; status.classList.toggle('bad', !!bad); }
  function refresh() {
    var mine = ++latest;
    fetch(url, { method: 'POST', credentials: 'same-origin', headers: { accept: 'application/json' }, body: new URLSearchParams(new FormData(form)) })
      .then(function (res) { return res.json(); })
      .then(function (data) {
        if (mine !== latest) return;
        if (data.error) { body.hidden = true; say('No preview: ' + data.error.message, true); return; }
        // Shown before the frame loads: a frame laid out while hidden stays blank in Chromium.
        body.hidden = false;
        subject.textContent = data.subject;
        if (data.html !== shown) { shown = data.html; frame.srcdoc = '<base target="_blank">' + data.html; }
        text.textContent = data.text;
        say('Your changes, not saved yet, rendered with sample data.', false);
      }, function () {
        if (mine === latest) say('The preview could not be updated (reload the page, or use the Preview button).', true);
      });
  }
  form.addEventListener('input', function () { clearTimeout(timer); timer = setTimeout(refresh, 250); });
});
`.trim()

const digest = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 12)

export const ASSETS = {
  css: { path: `/dashboard/assets/dashboard-${digest(CSS)}.css`, type: 'text/css; charset=utf-8', body: CSS },
  js: { path: `/dashboard/assets/dashboard-${digest(JS)}.js`, type: 'text/javascript; charset=utf-8', body: JS },
} as const

/** Only Foyer's own stylesheet and script; forms post only here; never framed. */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "style-src 'self'",
  "script-src 'self'",
  "img-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ')
