// The last resort for PNG text: on a system with no font at all resvg silently drops every <text>, and
// a chart without its numbers is useless. Then each <text> of the SVG is replaced by strokes of this
// small built-in font (straight segments on a 4 x 6 grid, plotter style; lowercase as small
// capitals), so the labels stay readable. Not pretty, and only ever used when no font is found.

/** Glyphs: SVG path data on a grid 4 wide, cap height 6 (y down, 0 the cap line, 6 the baseline). */
const GLYPHS: Record<string, string> = {
  '0': 'M1,0L3,0L4,1L4,5L3,6L1,6L0,5L0,1L1,0M3.5,1L0.5,5',
  '1': 'M1,1L2,0L2,6M1,6L3,6',
  '2': 'M0,1L1,0L3,0L4,1L4,2L0,6L4,6',
  '3': 'M0,0L4,0L2,2.5L3,2.5L4,3.5L4,5L3,6L1,6L0,5',
  '4': 'M3,6L3,0L0,4L4,4',
  '5': 'M4,0L0,0L0,2.5L3,2.5L4,3.5L4,5L3,6L0,6',
  '6': 'M3,0L1,0L0,1L0,5L1,6L3,6L4,5L4,3.5L3,2.5L0,2.5',
  '7': 'M0,0L4,0L1.5,6',
  '8': 'M1,0L3,0L4,1L4,2L3,3L1,3L0,2L0,1L1,0M1,3L0,4L0,5L1,6L3,6L4,5L4,4L3,3',
  '9': 'M4,3.5L1,3.5L0,2.5L0,1L1,0L3,0L4,1L4,5L3,6L1,6',
  A: 'M0,6L2,0L4,6M0.7,4L3.3,4',
  B: 'M0,3L3,3L4,4L4,5L3,6L0,6L0,0L3,0L4,1L4,2L3,3',
  C: 'M4,1L3,0L1,0L0,1L0,5L1,6L3,6L4,5',
  D: 'M0,0L0,6L2.5,6L4,4.5L4,1.5L2.5,0L0,0',
  E: 'M4,0L0,0L0,6L4,6M0,3L3,3',
  F: 'M4,0L0,0L0,6M0,3L3,3',
  G: 'M4,1L3,0L1,0L0,1L0,5L1,6L3,6L4,5L4,3L2,3',
  H: 'M0,0L0,6M4,0L4,6M0,3L4,3',
  I: 'M1,0L3,0M2,0L2,6M1,6L3,6',
  J: 'M1,0L4,0M3,0L3,5L2,6L1,6L0,5',
  K: 'M0,0L0,6M4,0L0,4M1.5,2.5L4,6',
  L: 'M0,0L0,6L4,6',
  M: 'M0,6L0,0L2,3L4,0L4,6',
  N: 'M0,6L0,0L4,6L4,0',
  O: 'M1,0L3,0L4,1L4,5L3,6L1,6L0,5L0,1L1,0',
  P: 'M0,6L0,0L3,0L4,1L4,2L3,3L0,3',
  Q: 'M1,0L3,0L4,1L4,5L3,6L1,6L0,5L0,1L1,0M2.5,4.5L4,6',
  R: 'M0,6L0,0L3,0L4,1L4,2L3,3L0,3M2,3L4,6',
  S: 'M4,1L3,0L1,0L0,1L0,2L1,3L3,3L4,4L4,5L3,6L1,6L0,5',
  T: 'M0,0L4,0M2,0L2,6',
  U: 'M0,0L0,5L1,6L3,6L4,5L4,0',
  V: 'M0,0L2,6L4,0',
  W: 'M0,0L1,6L2,2L3,6L4,0',
  X: 'M0,0L4,6M4,0L0,6',
  Y: 'M0,0L2,3L4,0M2,3L2,6',
  Z: 'M0,0L4,0L0,6L4,6',
  '.': 'M2,5.7L2,6',
  ',': 'M2,5.5L2,6L1.5,7',
  ':': 'M2,2L2,2.3M2,5.7L2,6',
  ';': 'M2,2L2,2.3M2,5.5L2,6L1.5,7',
  '-': 'M1,3.5L3,3.5',
  '+': 'M0.5,3.5L3.5,3.5M2,2L2,5',
  '=': 'M0.5,2.5L3.5,2.5M0.5,4.5L3.5,4.5',
  _: 'M0,6.5L4,6.5',
  '/': 'M4,0L0,6',
  '\\': 'M0,0L4,6',
  '(': 'M3,-0.5L1.8,1L1.8,5L3,6.5',
  ')': 'M1,-0.5L2.2,1L2.2,5L1,6.5',
  '[': 'M3,-0.5L2,-0.5L2,6.5L3,6.5',
  ']': 'M1,-0.5L2,-0.5L2,6.5L1,6.5',
  '{': 'M3,-0.5L2,0L2,2.5L1,3L2,3.5L2,6L3,6.5',
  '}': 'M1,-0.5L2,0L2,2.5L3,3L2,3.5L2,6L1,6.5',
  '<': 'M3.5,1L0.5,3.5L3.5,6',
  '>': 'M0.5,1L3.5,3.5L0.5,6',
  '%': 'M4,0L0,6M0.5,0.5L1,0.5L1,1.5L0.5,1.5L0.5,0.5M3,4.5L3.5,4.5L3.5,5.5L3,5.5L3,4.5',
  "'": 'M2,0L2,1.5',
  '"': 'M1.3,0L1.3,1.5M2.7,0L2.7,1.5',
  '`': 'M1.5,0L2.5,1',
  '!': 'M2,0L2,4M2,5.7L2,6',
  '?': 'M0,1L1,0L3,0L4,1L4,2L2,3.5L2,4.3M2,5.7L2,6',
  '#': 'M1.3,0.5L1,5.5M3,0.5L2.7,5.5M0.3,2L4,2M0,4L3.7,4',
  '&': 'M4,6L0.8,2L0.8,1L1.6,0L2.6,0L3.2,1L3.2,1.6L0,4L0,5L1,6L2.4,6L4,3.5',
  '*': 'M2,1L2,5M0.5,2L3.5,4M3.5,2L0.5,4',
  '@': 'M3,4L3,2L1.5,2L1.2,3.5L2,4L3,4L4,3L4,1L3,0L1,0L0,1L0,5L1,6L4,6',
  '~': 'M0,3.5L1,2.8L3,4.2L4,3.5',
  '^': 'M0.8,2L2,0L3.2,2',
  '|': 'M2,-0.5L2,6.5',
  $: 'M4,1L3,0L1,0L0,1L0,2L1,3L3,3L4,4L4,5L3,6L1,6L0,5M2,-0.7L2,6.7',
  '≠': 'M0.5,2.5L3.5,2.5M0.5,4.5L3.5,4.5M3,1L1,6',
  '—': 'M0,3.5L4,3.5',
  '–': 'M0.5,3.5L3.5,3.5',
  '·': 'M2,3.3L2,3.7',
  '…': 'M0.5,5.7L0.5,6M2,5.7L2,6M3.5,5.7L3.5,6',
};
/** A character the font lacks: a box, so the reader sees that something is there. */
const MISSING = 'M0.5,1L3.5,1L3.5,6L0.5,6L0.5,1';
/** Grid units from one glyph's origin to the next: 4 wide plus 1 of space. */
const ADVANCE = 5;
/** The cap height as a fraction of the font size, as in DejaVu Sans (0.73 em). */
const CAP = 0.72;

/** A lowercase letter as its capital drawn at x-height (small capitals): y 0..6 mapped to 2..6. */
function smallCap(d: string): string {
  return d.replace(/(-?[\d.]+),(-?[\d.]+)/g, (_m, x: string, y: string) => `${x},${+(2 + (Number(y) * 4) / 6).toFixed(3)}`);
}

/** The path data of a string in grid units, and its width in grid units. */
export function strokePath(text: string): { d: string; width: number } {
  let d = '';
  let i = 0;
  for (const ch of text) {
    let g = GLYPHS[ch];
    if (g === undefined && ch !== ch.toUpperCase() && GLYPHS[ch.toUpperCase()] !== undefined) g = smallCap(GLYPHS[ch.toUpperCase()]!);
    if (g === undefined && ch.trim() !== '') g = MISSING;
    if (g !== undefined) {
      const dx = i * ADVANCE;
      d += g.replace(/(-?[\d.]+),(-?[\d.]+)/g, (_m, x: string, y: string) => `${+(Number(x) + dx).toFixed(3)},${y}`);
    }
    i++;
  }
  return { d, width: Math.max(0, i * ADVANCE - 1) };
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
const decode = (s: string): string =>
  s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) =>
    e[0] === '#' ? String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : Number(e.slice(1))) : (ENTITIES[e] ?? m),
  );
const attr = (attrs: string, name: string): string | undefined => new RegExp(`\\b${name}="([^"]*)"`).exec(attrs)?.[1];

/**
 * Replaces every <text> of an SVG (as vega writes them: a transform to the baseline origin,
 * text-anchor, font-size, font-weight, fill, x/y at most) by a stroked <path> of the built-in font.
 */
export function strokeText(svg: string): string {
  return svg.replace(/<text\b([^>]*)>([\s\S]*?)<\/text>/g, (_m, attrs: string, body: string) => {
    const text = decode(body.replace(/<[^>]+>/g, ''));
    const size = Number.parseFloat(attr(attrs, 'font-size') ?? '11') || 11;
    const scale = (size * CAP) / 6;
    const { d, width } = strokePath(text);
    const anchor = attr(attrs, 'text-anchor') ?? 'start';
    const dx = anchor === 'middle' ? -width / 2 : anchor === 'end' ? -width : 0;
    const x = Number.parseFloat(attr(attrs, 'x') ?? '0') || 0;
    const y = Number.parseFloat(attr(attrs, 'y') ?? '0') || 0;
    const bold = /bold|[6-9]00/.test(attr(attrs, 'font-weight') ?? '');
    const transform = `${attr(attrs, 'transform') ?? ''} translate(${x},${y}) scale(${scale.toFixed(4)}) translate(${dx},-6)`.trim();
    const opacity = attr(attrs, 'opacity');
    return (
      `<path transform="${transform}" d="${d || 'M0,0'}" fill="none" stroke="${attr(attrs, 'fill') ?? '#000'}" ` +
      `stroke-width="${((bold ? 1.9 : 1.3) * 0.6).toFixed(2)}" stroke-linecap="round" stroke-linejoin="round"${opacity ? ` opacity="${opacity}"` : ''}/>`
    );
  });
}
