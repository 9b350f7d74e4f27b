// Stake share per peer over the epochs the page has seen, as an SVG of one
// line per peer. Drawn by hand: a few polylines need no chart library.

/** One observation: a finished epoch and each peer's share of stake. */
export interface Observation {
  epoch: number;
  shares: Map<number, number>;
}

const WIDTH = 1100;
const HEIGHT = 240;
const PAD = { left: 48, right: 12, top: 10, bottom: 28 };
const SVG = "http://www.w3.org/2000/svg";

/** Ten colours told apart at a glance (Tableau 10), then hues. */
const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

/** A colour per uid. */
export function colour(uid: number): string {
  return PALETTE[uid] ?? `hsl(${(uid * 137.508) % 360} 65% 42%)`;
}

function element<K extends keyof SVGElementTagNameMap>(
  name: K,
  attributes: Record<string, string | number>,
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  return node;
}

/** Draws `observations` into `host`, replacing what was there. */
export function drawChart(host: HTMLElement, observations: Observation[]): void {
  host.replaceChildren();
  const uids = [...new Set(observations.flatMap((o) => [...o.shares.keys()]))].sort((a, b) => a - b);
  const svg = element("svg", { width: WIDTH, height: HEIGHT, viewBox: `0 0 ${WIDTH} ${HEIGHT}` });
  const first = observations[0]?.epoch ?? 0;
  const last = observations.at(-1)?.epoch ?? 0;
  const top = Math.max(0.05, ...observations.flatMap((o) => [...o.shares.values()]));
  const x = (epoch: number) =>
    PAD.left + (last === first ? 0.5 : (epoch - first) / (last - first)) * (WIDTH - PAD.left - PAD.right);
  const y = (share: number) => HEIGHT - PAD.bottom - (share / top) * (HEIGHT - PAD.top - PAD.bottom);
  for (const tick of [0, top / 2, top]) {
    svg.append(element("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(tick), y2: y(tick), stroke: "#e4e7ec" }));
    const label = element("text", { x: PAD.left - 6, y: y(tick) + 4, "text-anchor": "end", "font-size": 11, fill: "#5a6475" });
    label.textContent = `${(tick * 100).toFixed(0)}%`;
    svg.append(label);
  }
  const ends = first === last ? [[first, "middle"]] : [[first, "start"], [last, "end"]];
  for (const [epoch, anchor] of ends as [number, string][]) {
    const label = element("text", { x: x(epoch), y: HEIGHT - 8, "text-anchor": anchor, "font-size": 11, fill: "#5a6475" });
    label.textContent = `epoch ${epoch}`;
    svg.append(label);
  }
  for (const uid of uids) {
    const points = observations
      .filter((o) => o.shares.has(uid))
      .map((o) => [x(o.epoch), y(o.shares.get(uid) ?? 0)] as const);
    const series = element("g", { class: "series", "data-uid": uid });
    series.append(
      element("polyline", {
        points: points.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`).join(" "),
        fill: "none",
        stroke: colour(uid),
        "stroke-width": 2,
      }),
    );
    for (const [px, py] of points) series.append(element("circle", { cx: px, cy: py, r: 2.5, fill: colour(uid) }));
    svg.append(series);
  }
  const legend = document.createElement("div");
  legend.className = "legend";
  for (const uid of uids) {
    const entry = document.createElement("span");
    entry.style.setProperty("--colour", colour(uid));
    entry.textContent = `uid ${uid}`;
    legend.append(entry);
  }
  host.append(svg, legend);
}
