// A small SVG line chart the page redraws as training goes: one or more series over the step, axes
// with a few ticks, a legend. Drawn by hand (a few dozen lines) rather than with a charting library,
// so the page stays one small bundle with nothing fetched from elsewhere.

const SVG = 'http://www.w3.org/2000/svg';

/** One line of the chart. */
export interface Series {
  name: string;
  color: string;
  points: [number, number][];
}

/** Three or so round tick values covering [lo, hi]. */
function ticks(lo: number, hi: number): number[] {
  const span = hi - lo || 1;
  const step = 10 ** Math.floor(Math.log10(span / 3));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => span / s <= 5) ?? step * 10;
  const out: number[] = [];
  for (let v = Math.ceil(lo / nice) * nice; v <= hi + 1e-9; v += nice) out.push(Number(v.toPrecision(6)));
  return out;
}

/** A line chart in an <svg> element (its viewBox is set here; CSS sizes it). */
export class LineChart {
  readonly series: Series[];
  private readonly width = 320;
  private readonly height = 160;

  constructor(
    private readonly svg: SVGSVGElement,
    series: Omit<Series, 'points'>[],
    private readonly yRange?: [number, number],
  ) {
    this.series = series.map((s) => ({ ...s, points: [] }));
    svg.setAttribute('viewBox', `0 0 ${this.width} ${this.height}`);
    this.render();
  }

  /** Adds a point to the series of that name and redraws. */
  add(name: string, x: number, y: number): void {
    this.series.find((s) => s.name === name)?.points.push([x, y]);
    this.render();
  }

  /** Empties every series. */
  clear(): void {
    for (const s of this.series) s.points.length = 0;
    this.render();
  }

  private el(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    this.svg.appendChild(e);
    return e;
  }

  private render(): void {
    this.svg.replaceChildren();
    const pts = this.series.flatMap((s) => s.points);
    const left = 36;
    const right = this.width - 8;
    const top = 18;
    const bottom = this.height - 20;
    const xMax = Math.max(1, ...pts.map((p) => p[0]));
    const [yLo, yHi] = this.yRange ?? [Math.min(0, ...pts.map((p) => p[1])), Math.max(1e-6, ...pts.map((p) => p[1]))];
    const sx = (x: number) => left + (x / xMax) * (right - left);
    const sy = (y: number) => bottom - ((y - yLo) / (yHi - yLo || 1)) * (bottom - top);
    for (const t of ticks(yLo, yHi)) {
      this.el('line', { x1: left, x2: right, y1: sy(t), y2: sy(t), class: 'grid' });
      this.el('text', { x: left - 4, y: sy(t) + 3, 'text-anchor': 'end', class: 'tick' }, String(t));
    }
    for (const t of ticks(0, xMax)) this.el('text', { x: sx(t), y: bottom + 13, 'text-anchor': 'middle', class: 'tick' }, String(t));
    this.el('line', { x1: left, x2: right, y1: bottom, y2: bottom, class: 'axis' });
    let lx = left;
    for (const s of this.series) {
      if (s.points.length > 0)
        this.el('polyline', {
          points: s.points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' '),
          fill: 'none',
          stroke: s.color,
          'stroke-width': 1.5,
        });
      const last = s.points[s.points.length - 1];
      const label = `${s.name}${last ? ` ${last[1].toFixed(3)}` : ''}`;
      this.el('rect', { x: lx, y: 4, width: 8, height: 8, fill: s.color });
      this.el('text', { x: lx + 11, y: 12, class: 'legend' }, label);
      lx += 12 + label.length * 5.6;
    }
  }
}
