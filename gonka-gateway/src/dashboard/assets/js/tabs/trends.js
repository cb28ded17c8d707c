// Trends: requests/s, TTFT, latency percentiles and tokens/s over time, drawn with uPlot
// (vendored under assets/vendor/uplot).

import { optional } from '../api.js';
import { empty, h, mount } from '../dom.js';

const CHARTS = [
  {
    id: 'requests',
    title: 'Requests per second',
    series: [
      { label: 'requests/s', key: 'requests_per_second', stroke: '#2f7de1' },
      { label: 'errors/s', key: (b, secs) => (b.errors == null ? null : b.errors / secs), stroke: '#d9534f' },
    ],
  },
  {
    id: 'ttft',
    title: 'Time to first token (p50, ms)',
    series: [{ label: 'TTFT p50', key: 'ttft_p50_ms', stroke: '#8e44ad' }],
  },
  {
    id: 'latency',
    title: 'Latency (ms)',
    series: [
      { label: 'p50', key: 'latency_p50_ms', stroke: '#27ae60' },
      { label: 'p95', key: 'latency_p95_ms', stroke: '#e67e22' },
      { label: 'p99', key: 'latency_p99_ms', stroke: '#c0392b' },
    ],
  },
  {
    id: 'tokens',
    title: 'Tokens per second',
    series: [{ label: 'tokens/s', key: 'tokens_per_second', stroke: '#16a085' }],
  },
];

const plots = new Map();
let requestRefresh = () => {};

function bucketSeconds(minutes) {
  // About 60 points per chart, whatever the window.
  return Math.max(10, Math.round((minutes * 60) / 60));
}

function columns(buckets, chart, secs) {
  const xs = buckets.map((b) => b.t_ms / 1000);
  const ys = chart.series.map((s) => buckets.map((b) => {
    const v = typeof s.key === 'function' ? s.key(b, secs) : b[s.key];
    return v == null ? null : v;
  }));
  return [xs, ...ys];
}

function width(container) {
  return Math.max(280, Math.floor(container.clientWidth || 600) - 24);
}

function draw(buckets, secs) {
  const container = document.getElementById('trend-charts');
  for (const chart of CHARTS) {
    const data = columns(buckets, chart, secs);
    const existing = plots.get(chart.id);
    if (existing && existing.root.isConnected) {
      existing.setData(data);
      continue;
    }
    const box = h('figure', { class: 'chart', 'data-chart': chart.id }, h('figcaption', {}, chart.title));
    container.append(box);
    const plot = new window.uPlot({
      width: width(box),
      height: 200,
      // Points too: a bucket alone between empty ones (a fresh gateway) still shows.
      series: [{}, ...chart.series.map((s) => ({
        label: s.label, stroke: s.stroke, width: 2, spanGaps: true, points: { show: true, size: 4 },
      }))],
      axes: [{}, { size: 60 }],
      scales: { x: { time: true } },
    }, data, box);
    plots.set(chart.id, plot);
  }
}

/** Hooks the window selector up, and keeps the charts as wide as their boxes. */
export function init({ refresh: again }) {
  requestRefresh = again;
  document.getElementById('trend-filters').addEventListener('change', () => requestRefresh());
  window.addEventListener('resize', () => {
    for (const plot of plots.values()) {
      plot.setSize({ width: width(plot.root.parentElement), height: 200 });
    }
  });
}

/** Redraws the tab from the gateway's current data. */
export async function refresh() {
  const minutes = Number(document.getElementById('trend-filters').elements.minutes.value) || 60;
  const secs = bucketSeconds(minutes);
  const { data, note } = await optional(`/dashboard/api/trends?minutes=${minutes}&bucket_seconds=${secs}`, 'Trends');
  const container = document.getElementById('trend-charts');
  const buckets = (data && data.buckets) || [];
  if (data === null || buckets.length === 0) {
    plots.clear();
    mount(container, empty(data === null ? note : 'No requests in this window yet.'));
    return;
  }
  if (plots.size === 0) mount(container);
  if (typeof window.uPlot !== 'function') throw new Error('the chart library did not load');
  draw(buckets, secs);
}
