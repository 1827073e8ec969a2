// Rate charts in SVG, drawn here (no library): one small area chart per
// series of /ui/api/rates, with its latest value and its peak in text for
// screen readers and for people who do not read charts.

const NS = 'http://www.w3.org/2000/svg';
const W = 300, H = 80;

function svg(name, attrs) {
  const el = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

export function human(v, unit) {
  const units = unit === 'B/s' ? ['B/s', 'KiB/s', 'MiB/s', 'GiB/s'] : [unit];
  let i = 0;
  while (unit === 'B/s' && v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  const digits = v >= 100 || v === 0 ? 0 : v >= 10 ? 1 : 2;
  return v.toFixed(digits) + ' ' + units[i];
}

function draw(fig, s) {
  const pts = s.points;
  const peak = Math.max(...pts, 0);
  const last = pts.length ? pts[pts.length - 1] : 0;
  const top = peak > 0 ? peak * 1.1 : 1;
  fig.replaceChildren();
  const cap = document.createElement('figcaption');
  const name = document.createElement('span');
  name.className = 'chart-name';
  name.textContent = s.name;
  const val = document.createElement('span');
  val.className = 'chart-value';
  val.textContent = human(last, s.unit);
  cap.append(name, ' ', val);
  const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'chart', preserveAspectRatio: 'none' });
  const title = svg('title', {});
  title.textContent = `${s.name}: now ${human(last, s.unit)}, peak ${human(peak, s.unit)} over the last ${pts.length} samples`;
  chart.append(title);
  chart.append(svg('line', { x1: 0, y1: H - 0.5, x2: W, y2: H - 0.5, class: 'axis' }));
  if (pts.length > 1) {
    const step = W / (pts.length - 1);
    const xy = pts.map((v, i) => `${(i * step).toFixed(1)},${(H - (v / top) * (H - 4)).toFixed(1)}`);
    chart.append(svg('polygon', { points: `0,${H} ${xy.join(' ')} ${W},${H}`, class: 'area' }));
    chart.append(svg('polyline', { points: xy.join(' '), class: 'line' }));
  }
  const peakText = document.createElement('small');
  peakText.className = 'muted';
  peakText.textContent = `peak ${human(peak, s.unit)}`;
  fig.append(cap, chart, peakText);
}

export function startCharts(root) {
  const box = root.querySelector('[data-rates]');
  if (!box) return;
  const url = box.dataset.rates;
  const every = Math.max(1000, Number(box.dataset.every) || 2000);
  const figs = new Map();
  const tick = async () => {
    if (document.hidden) return;
    let data;
    try {
      const resp = await fetch(url, { credentials: 'same-origin', headers: { 'Accept': 'application/json' } });
      if (!resp.ok) return;
      data = await resp.json();
    } catch {
      return;
    }
    if (figs.size === 0 && data.series.length) box.replaceChildren();
    for (const s of data.series) {
      let fig = figs.get(s.name);
      if (!fig) {
        fig = document.createElement('figure');
        fig.className = 'card chart-card';
        figs.set(s.name, fig);
        box.append(fig);
      }
      draw(fig, s);
    }
  };
  tick();
  setInterval(tick, every);
}
