// Usage: requests, tokens and errors per API key (its non-secret id) and app tag.

import { optional } from '../api.js';
import { empty, h, mount, num, table } from '../dom.js';

/** Redraws the tab from the gateway's current data. */
export async function refresh() {
  const { data, note } = await optional('/dashboard/api/usage', 'Usage');
  const keys = (data && data.keys) || [];
  const total = (field) => keys.reduce((sum, k) => sum + (k[field] || 0), 0);
  mount(document.getElementById('usage-table'), data === null
    ? empty(note)
    : keys.length === 0
      ? empty('No requests recorded yet.')
      : table([
        { label: 'API key', value: (k) => k.api_key ?? h('span', { class: 'muted' }, 'no key') },
        { label: 'App tag', value: (k) => k.app_tag ?? h('span', { class: 'muted' }, 'untagged') },
        { label: 'Requests', class: 'num', value: (k) => num(k.requests) },
        { label: 'Prompt tokens', class: 'num', value: (k) => num(k.prompt_tokens) },
        { label: 'Completion tokens', class: 'num', value: (k) => num(k.completion_tokens) },
        { label: 'Errors', class: 'num', value: (k) => num(k.errors) },
        { label: 'Share', class: 'num', value: (k) => num((100 * (k.requests || 0)) / Math.max(1, total('requests')), '%') },
      ], keys, { rowAttrs: (k) => ({ 'data-key': `${k.api_key ?? ''}/${k.app_tag ?? ''}` }) }));
}
