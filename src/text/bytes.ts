// Bytes and strings for byte-level tokenizers: GPT-2's bytes_to_unicode table, UTF-8 encoding of a
// JavaScript string into a reusable buffer (lone surrogates become U+FFFD, as TextEncoder does), and
// decoding bytes back to text with U+FFFD replacement like Python's bytes.decode('utf-8', errors='replace').

/**
 * GPT-2's bytes_to_unicode: the printable bytes '!'..'~', '¡'..'¬', '®'..'ÿ' map to themselves and the
 * other 68 bytes to U+0100.. in byte order, so every byte has a visible, non-space character.
 * BYTE_ORDER lists the bytes in the order GPT-2's encoder.json gives them ids 0..255.
 */
export const BYTE_ORDER: readonly number[] = (() => {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const printable = new Set(bs);
  for (let b = 0; b < 256; b++) if (!printable.has(b)) bs.push(b);
  return bs;
})();

/** byte -> its character's code point. */
export const BYTE_TO_CODE: Uint16Array = (() => {
  const t = new Uint16Array(256);
  let n = 0;
  for (let i = 0; i < 256; i++) {
    const b = BYTE_ORDER[i]!;
    t[b] = i < 188 ? b : 256 + n++;
  }
  return t;
})();

/** byte -> its one-character string. */
export const BYTE_TO_CHAR: readonly string[] = Array.from(BYTE_TO_CODE, (c) => String.fromCharCode(c));

/** code point -> byte, or -1 for characters outside the table. */
const CODE_TO_BYTE: Int16Array = (() => {
  const t = new Int16Array(324).fill(-1);
  for (let b = 0; b < 256; b++) t[BYTE_TO_CODE[b]!] = b;
  return t;
})();

/** The byte a table character stands for, or -1. */
export function charCodeToByte(code: number): number {
  return code < CODE_TO_BYTE.length ? CODE_TO_BYTE[code]! : -1;
}

/**
 * The bytes a token string in the byte-level alphabet stands for ('Ġthe' -> 0x20 't' 'h' 'e'), or null
 * when a character is outside the table (an added token such as a non-ASCII special).
 */
export function tokenStringToBytes(token: string): Uint8Array | null {
  const out = new Uint8Array(token.length);
  for (let i = 0; i < token.length; i++) {
    const b = charCodeToByte(token.charCodeAt(i));
    if (b < 0) return null;
    out[i] = b;
  }
  return out;
}

/** The byte-level string for some bytes (the inverse of tokenStringToBytes). */
export function bytesToTokenString(bytes: ArrayLike<number>): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += BYTE_TO_CHAR[bytes[i]!]!;
  return s;
}

/**
 * Writes the UTF-8 bytes of s into out (grown as needed) and returns [buffer, length]. A lone surrogate
 * is written as U+FFFD (EF BF BD), the same as TextEncoder, so the result is deterministic.
 */
export function utf8Into(s: string, out: Uint8Array<ArrayBuffer>): [Uint8Array<ArrayBuffer>, number] {
  if (out.length < s.length * 3) out = new Uint8Array(Math.max(s.length * 3, out.length * 2));
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      out[n++] = c;
      continue;
    }
    if (c < 0x800) {
      out[n++] = 0xc0 | (c >> 6);
      out[n++] = 0x80 | (c & 63);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
        out[n++] = 0xf0 | (c >> 18);
        out[n++] = 0x80 | ((c >> 12) & 63);
        out[n++] = 0x80 | ((c >> 6) & 63);
        out[n++] = 0x80 | (c & 63);
        continue;
      }
      c = 0xfffd;
    }
    out[n++] = 0xe0 | (c >> 12);
    out[n++] = 0x80 | ((c >> 6) & 63);
    out[n++] = 0x80 | (c & 63);
  }
  return [out, n];
}

// ignoreBOM: keep a leading U+FEFF (TextDecoder drops it by default; Python does not).
const DECODER = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/** UTF-8 bytes to text; each maximal invalid subsequence becomes one U+FFFD, as in Python's errors='replace'. */
export function decodeUtf8(bytes: Uint8Array): string {
  return DECODER.decode(bytes);
}

/** The string with each lone surrogate replaced by U+FFFD: what encoding then decoding gives back. */
export function wellFormed(s: string): string {
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}
