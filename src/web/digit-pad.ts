// The canvas a visitor draws a digit on: white strokes on black (MNIST's polarity) with a round pen,
// from pointer events (mouse, pen and touch alike), or mouse and touch events in a browser without
// them. The keyboard can draw too (arrow keys move a pen, space lifts or lowers it) so the pad is
// usable without a pointer. After each stroke `onStroke` gets the drawing as an MNIST image.

import { toMnistImage } from './mnist-image.js';

/** A drawing surface on a <canvas>. */
export class DigitPad {
  private readonly ctx: CanvasRenderingContext2D;
  private last: [number, number] | null = null;
  private drawing = false;
  /** The keyboard pen: its position, and whether it is down. */
  private pen: { x: number; y: number; down: boolean };
  /** True once anything was drawn since the last clear. */
  dirty = false;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly onStroke: (image: Float32Array) => void,
  ) {
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    if (!ctx) throw new Error('this browser gives no 2D canvas');
    this.ctx = ctx;
    this.pen = { x: canvas.width / 2, y: canvas.height / 2, down: false };
    this.clear();
    const at = (clientX: number, clientY: number): [number, number] => {
      const r = canvas.getBoundingClientRect();
      return [((clientX - r.left) / r.width) * canvas.width, ((clientY - r.top) / r.height) * canvas.height];
    };
    if (typeof PointerEvent !== 'undefined') {
      canvas.addEventListener('pointerdown', (e) => {
        canvas.setPointerCapture(e.pointerId);
        this.start(at(e.clientX, e.clientY));
        e.preventDefault();
      });
      canvas.addEventListener('pointermove', (e) => {
        if (this.drawing) this.move(at(e.clientX, e.clientY));
      });
      const end = () => this.end();
      canvas.addEventListener('pointerup', end);
      canvas.addEventListener('pointercancel', end);
    } else {
      canvas.addEventListener('mousedown', (e) => this.start(at(e.clientX, e.clientY)));
      canvas.addEventListener('mousemove', (e) => {
        if (this.drawing) this.move(at(e.clientX, e.clientY));
      });
      window.addEventListener('mouseup', () => this.end());
      const touch = (e: TouchEvent) => at(e.touches[0]!.clientX, e.touches[0]!.clientY);
      const onTouch = (e: TouchEvent, go: (p: [number, number]) => void) => {
        go(touch(e));
        e.preventDefault(); // no scrolling while drawing
      };
      canvas.addEventListener('touchstart', (e) => onTouch(e, (p) => this.start(p)), { passive: false });
      canvas.addEventListener('touchmove', (e) => onTouch(e, (p) => this.move(p)), { passive: false });
      canvas.addEventListener('touchend', () => this.end());
    }
    canvas.addEventListener('keydown', (e) => this.key(e));
  }

  /** Blanks the canvas. */
  clear(): void {
    this.ctx.fillStyle = '#000';
    this.ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    this.dirty = false;
  }

  /** The drawing as an MNIST image (784 values in [0, 1]). */
  image(): Float32Array {
    const { width: w, height: h } = this.canvas;
    const rgba = this.ctx.getImageData(0, 0, w, h).data;
    const ink = new Float32Array(w * h);
    for (let i = 0; i < w * h; i++) ink[i] = rgba[i * 4]! / 255;
    return toMnistImage(ink, w, h);
  }

  private start(p: [number, number]): void {
    this.drawing = true;
    this.last = p;
    this.line(p, p);
  }

  private move(p: [number, number]): void {
    if (this.last) this.line(this.last, p);
    this.last = p;
  }

  private end(): void {
    if (!this.drawing) return;
    this.drawing = false;
    this.last = null;
    this.onStroke(this.image());
  }

  private line(a: [number, number], b: [number, number]): void {
    const c = this.ctx;
    c.strokeStyle = '#fff';
    c.lineWidth = this.canvas.width / 14; // about MNIST's stroke: 2 of its 28 pixels
    c.lineCap = 'round';
    c.lineJoin = 'round';
    c.beginPath();
    c.moveTo(a[0], a[1]);
    c.lineTo(b[0], b[1]);
    c.stroke();
    this.dirty = true;
  }

  /** Arrow keys move the pen (drawing while it is down), space or Enter lifts and lowers it. */
  private key(e: KeyboardEvent): void {
    const step = this.canvas.width / 28;
    const d: Record<string, [number, number]> = { ArrowUp: [0, -step], ArrowDown: [0, step], ArrowLeft: [-step, 0], ArrowRight: [step, 0] };
    const p = this.pen;
    if (e.key === ' ' || e.key === 'Enter') {
      p.down = !p.down;
      if (p.down) this.line([p.x, p.y], [p.x, p.y]);
      else this.onStroke(this.image());
    } else if (d[e.key]) {
      const [dx, dy] = d[e.key]!;
      const next = { x: Math.max(0, Math.min(this.canvas.width, p.x + dx)), y: Math.max(0, Math.min(this.canvas.height, p.y + dy)) };
      if (p.down) this.line([p.x, p.y], [next.x, next.y]);
      p.x = next.x;
      p.y = next.y;
    } else return;
    e.preventDefault();
  }
}
