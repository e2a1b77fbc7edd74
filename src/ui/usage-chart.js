// A stacked bar chart of figures per day, drawn by uPlot (loaded by usage.js: the global `uPlot`), with a legend
// of its own: the period's totals, or the figures of the day under the pointer. uPlot's legend is a wide table that
// would push a phone's page sideways; this one wraps. Colours come from the page's stylesheet (light or dark).

/** Told apart in both themes and by most colour-blind eyes (after Okabe and Ito); the last one is "others". */
export const PALETTE = ["#3b8fd9", "#e69f00", "#2fa37a", "#cc79a7", "#8c6bd6", "#c7a21f", "#4fb3c8", "#d55e00", "#8a949e"];

const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
const dayName = (t) => new Date(t * 1000).toLocaleDateString(undefined, { weekday: "short", day: "numeric", month: "short" });

/**
 * Draws into `host` (emptied first). `days`: [{t: seconds at the day's start}]; `groups`: [{name, values}] from the
 * bottom of the stack up, one value per day; `line`: an optional {name, values} drawn over the bars (dashed);
 * `format(v)`: a figure in words; `right(v)`: the right axis' words for a left-axis figure (a price), or none.
 */
export function stackedBars(host, { days, groups, line, format, right, label }) {
  const uPlot = globalThis.uPlot;
  host.replaceChildren();
  const when = element("p", "when");
  const plot = element("div", "chart");
  plot.setAttribute("role", "img");
  const legend = element("ul", "legend");
  host.append(when, plot, legend);

  // A stack is each group's running total, drawn top first: each bar below paints over the lower part of the one above.
  const sums = [];
  let run = days.map(() => 0);
  for (const g of groups) sums.push((run = run.map((v, i) => v + (g.values[i] ?? 0))));
  const bars = uPlot.paths.bars({ size: [0.7, 40], align: 0 });
  const series = [{}];
  const data = [days.map((d) => d.t)];
  for (let i = groups.length - 1; i >= 0; i--) {
    series.push({
      label: groups[i].name,
      fill: PALETTE[i % PALETTE.length],
      stroke: PALETTE[i % PALETTE.length],
      width: 0,
      paths: bars,
      points: { show: false },
    });
    data.push(sums[i]);
  }
  if (line) {
    series.push({ label: line.name, stroke: css("--accent"), width: 2, dash: [6, 4], points: { show: true, size: 5, fill: css("--accent") } });
    data.push(line.values);
  }
  const axis = { stroke: css("--muted"), grid: { stroke: css("--line"), width: 1 }, ticks: { stroke: css("--line"), width: 1 } };
  const axes = [
    { ...axis, grid: { show: false } },
    { ...axis, size: fit, values: (_u, splits) => splits.map(format) },
  ];
  if (right) axes.push({ ...axis, side: 1, size: fit, grid: { show: false }, values: (_u, splits) => splits.map(right) });

  const rows = [
    ...groups.map((g, i) => ({ ...g, color: PALETTE[i % PALETTE.length] })),
    ...(line ? [{ ...line, color: css("--accent"), line: true }] : []),
  ];
  // Colours set as properties, not in markup: the page's CSP allows no inline style attribute.
  const values = rows.map((r) => {
    const swatch = element("span", r.line ? "swatch line" : "swatch");
    swatch.style.background = r.color;
    const value = element("span", "value");
    const item = element("li", "");
    item.dataset.name = r.name;
    item.append(swatch, element("span", "name", r.name), value);
    legend.append(item);
    return value;
  });
  const total = (values) => values.reduce((a, v) => a + (v ?? 0), 0);
  const showDay = (idx) => {
    rows.forEach((r, i) => (values[i].textContent = format(idx == null ? total(r.values) : (r.values[idx] ?? 0))));
    when.textContent = idx == null ? `${label}, last ${days.length} days` : `${label} on ${dayName(days[idx].t)}`;
  };
  showDay(null);
  plot.setAttribute(
    "aria-label",
    `${label}, per day, for ${days.length} days: ${rows.map((r) => `${r.name} ${format(total(r.values))}`).join(", ")}`,
  );

  const height = () => (plot.clientWidth < 480 ? 220 : 260);
  const options = {
    width: plot.clientWidth || 300,
    height: height(),
    legend: { show: false },
    cursor: { drag: { x: false, y: false }, points: { show: false } },
    scales: {
      // Half a day each side, so the first and last bars are whole.
      x: { time: true, range: (_u, min, max) => [min - 43_200, max + 43_200] },
      y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.08 : 1] },
    },
    axes,
    series,
    hooks: { setCursor: [(u) => showDay(u.cursor.idx)] },
  };
  const chart = new uPlot(options, data, plot);
  // The chart follows its box: a rotated phone or a narrower window redraws it, never wider than the page.
  const resize = new ResizeObserver(() => {
    if (plot.clientWidth > 0 && plot.clientWidth !== chart.width) chart.setSize({ width: plot.clientWidth, height: height() });
  });
  resize.observe(plot);
  return {
    destroy() {
      resize.disconnect();
      chart.destroy();
    },
  };
}

/** An axis as wide as its longest label (uPlot's fixed default cuts "12.50 kWh"). */
function fit(_u, values) {
  const longest = (values ?? []).reduce((a, v) => Math.max(a, String(v).length), 3);
  return Math.ceil(longest * 7.5) + 14;
}

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}
