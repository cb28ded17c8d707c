// Entry point: tab switching (the tab is kept in the URL's #fragment), and the live loop that
// refreshes the visible tab every few seconds while the page is visible.

import { ApiError } from './api.js';
import * as overview from './tabs/overview.js';
import * as models from './tabs/models.js';
import * as traces from './tabs/traces.js';
import * as trends from './tabs/trends.js';
import * as usage from './tabs/usage.js';
import * as poc from './tabs/poc.js';
import * as nodes from './tabs/nodes.js';

const TABS = { overview, models, traces, trends, usage, poc, nodes };
const REFRESH_MS = 3000;

let current = 'overview';
let timer = null;
let generation = 0;

function setLive(ok, text) {
  document.getElementById('live-dot').className = `dot ${ok ? 'ok' : 'bad'}`;
  document.getElementById('live-text').textContent = text;
}

function showBanner(message) {
  const banner = document.getElementById('banner');
  banner.textContent = message || '';
  banner.classList.toggle('hidden', !message);
}

/** Refreshes the current tab now, then again every REFRESH_MS (one refresh at a time). */
async function refresh() {
  clearTimeout(timer);
  const mine = ++generation;
  const tab = current;
  try {
    await TABS[tab].refresh();
    if (mine !== generation) return;
    setLive(true, `live · ${new Date().toLocaleTimeString([], { hour12: false })}`);
    showBanner('');
    // Tests (and curious readers) see when a tab last rendered fresh data.
    document.getElementById(`tab-${tab}`).dataset.updated = String(Date.now());
  } catch (e) {
    if (mine !== generation) return;
    setLive(false, 'not updating');
    showBanner(e instanceof ApiError ? e.message : `Cannot reach the gateway: ${e.message}`);
  }
  if (mine === generation && !document.hidden) {
    timer = setTimeout(refresh, REFRESH_MS);
  }
}

function select(tab) {
  if (!TABS[tab]) tab = 'overview';
  current = tab;
  for (const button of document.querySelectorAll('#tabs button')) {
    button.classList.toggle('active', button.dataset.tab === tab);
    button.setAttribute('aria-selected', String(button.dataset.tab === tab));
  }
  for (const name of Object.keys(TABS)) {
    document.getElementById(`tab-${name}`).classList.toggle('hidden', name !== tab);
  }
  if (location.hash !== `#${tab}`) history.replaceState(null, '', `#${tab}`);
  refresh();
}

function init() {
  for (const [name, tab] of Object.entries(TABS)) {
    if (tab.init) tab.init({ refresh: () => (current === name ? refresh() : undefined) });
  }
  for (const button of document.querySelectorAll('#tabs button')) {
    button.addEventListener('click', () => select(button.dataset.tab));
  }
  window.addEventListener('hashchange', () => select(location.hash.slice(1)));
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) refresh();
  });
  select(location.hash.slice(1) || 'overview');
}

init();
