// Python-style formatting for extraRepr(), so a mox model prints like its PyTorch twin:
// `eps=1e-05`, `bias=True`, `kernel_size=(3, 3)`.

/** A number as Python's repr prints it (exponent form below 1e-4, with two exponent digits). */
export function pyNum(v: number): string {
  if (v !== 0 && Math.abs(v) < 1e-4) {
    const [m, e] = v.toExponential().split('e') as [string, string];
    const sign = e.startsWith('-') ? '-' : '+';
    return `${m}e${sign}${e.replace(/^[-+]/, '').padStart(2, '0')}`;
  }
  return String(v);
}

export const pyBool = (b: boolean): string => (b ? 'True' : 'False');

/** A number or pair as Python prints a tuple: `(3, 3)`. */
export function pyTuple(v: number | readonly number[]): string {
  const xs = typeof v === 'number' ? [v, v] : v;
  return xs.length === 1 ? `(${xs[0]},)` : `(${xs.join(', ')})`;
}

/** A number, a pair as a tuple, or null as None. */
export function pyValue(v: number | readonly (number | null)[] | null | undefined): string {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'number') return pyNum(v);
  return v.length === 1 ? `(${v[0] ?? 'None'},)` : `(${v.map((x) => (x === null ? 'None' : String(x))).join(', ')})`;
}

/** [a, a] from a number, or a copy of a pair. */
export function toPair(v: number | readonly [number, number]): [number, number] {
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}
