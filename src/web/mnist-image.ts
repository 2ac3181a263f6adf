// A drawing made into an MNIST image the way MNIST's digits were made (LeCun et al.): the stroke's
// bounding box scaled to fit a 20x20 box (aspect ratio kept, anti-aliased by averaging), then placed
// in a 28x28 image so that its centre of mass sits at the centre. A model trained on MNIST sees a
// drawn digit as it saw the training set; without this a small digit in a corner is read as noise.
// No DOM here: the page passes the canvas's pixels, and Node tests call it directly.

/** MNIST's image side. */
export const MNIST_SIDE = 28;
/** The box the digit's bounding box is scaled into. */
const FIT = 20;

/**
 * The 28x28 MNIST image (784 values in [0, 1], row-major) of a w x h grayscale drawing (ink in [0, 1],
 * row-major). An empty drawing gives all zeros.
 */
export function toMnistImage(ink: ArrayLike<number>, w: number, h: number): Float32Array {
  if (ink.length !== w * h) throw new RangeError(`toMnistImage: ${ink.length} pixels for a ${w}x${h} drawing`);
  const out = new Float32Array(MNIST_SIDE * MNIST_SIDE);
  let x0 = w;
  let y0 = h;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      if (ink[y * w + x]! > 0.05) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
  if (x1 < 0) return out;
  const bw = x1 - x0 + 1;
  const bh = y1 - y0 + 1;
  const scale = FIT / Math.max(bw, bh);
  const tw = Math.max(1, Math.round(bw * scale));
  const th = Math.max(1, Math.round(bh * scale));
  // box filter: each source pixel adds to the target pixel it falls in; the sum over the area it
  // covers, divided by that area, is the target's ink (a thin vertical "1" keeps its full darkness)
  const sum = new Float32Array(tw * th);
  const count = new Float32Array(tw * th);
  for (let y = y0; y <= y1; y++) {
    const ty = Math.min(th - 1, Math.floor((y - y0) * scale));
    for (let x = x0; x <= x1; x++) {
      const tx = Math.min(tw - 1, Math.floor((x - x0) * scale));
      sum[ty * tw + tx]! += ink[y * w + x]!;
      count[ty * tw + tx]! += 1;
    }
  }
  let mass = 0;
  let cx = 0;
  let cy = 0;
  for (let i = 0; i < tw * th; i++) {
    const v = count[i]! > 0 ? Math.min(1, sum[i]! / count[i]!) : 0;
    sum[i] = v;
    mass += v;
    cx += v * (i % tw);
    cy += v * Math.floor(i / tw);
  }
  // the centre of mass of pixel centres (i + 0.5) goes to the image's centre, 14
  const half = MNIST_SIDE / 2;
  const clamp = (v: number, hi: number) => Math.max(0, Math.min(hi, v));
  const ox = clamp(Math.round(half - (cx / mass + 0.5)), MNIST_SIDE - tw);
  const oy = clamp(Math.round(half - (cy / mass + 0.5)), MNIST_SIDE - th);
  for (let y = 0; y < th; y++) for (let x = 0; x < tw; x++) out[(y + oy) * MNIST_SIDE + x + ox] = sum[y * tw + x]!;
  return out;
}
