// Windows-1252 ("cp1252", the Latin-1 superset older English corpora such as rt-polarity are saved
// in). Node 20's TextDecoder('windows-1252') decodes it as ISO-8859-1, so 0x80-0x9F come out as C1
// control characters (0x97 as U+0097 instead of an em dash); this table is the WHATWG Encoding
// Standard's, where the five bytes Windows leaves unassigned (0x81, 0x8D, 0x8F, 0x90, 0x9D) map to
// the control character of the same number, so every byte decodes to something and nothing is lost.

const HIGH_C1 = [
  0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008d, 0x017d, 0x008f, 0x0090,
  0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178,
];

/** The code point of each byte 0x00-0xFF in Windows-1252. */
export const WINDOWS_1252: Uint16Array = (() => {
  const t = new Uint16Array(256);
  for (let b = 0; b < 256; b++) t[b] = b >= 0x80 && b < 0xa0 ? HIGH_C1[b - 0x80]! : b;
  return t;
})();

/** Decodes Windows-1252 bytes (every code point is in the BMP, so one UTF-16 unit per byte). */
export function decodeWindows1252(bytes: Uint8Array): string {
  const CHUNK = 8192; // String.fromCharCode's argument count stays well under the engine's limit
  const units = new Uint16Array(Math.min(bytes.length, CHUNK));
  let out = '';
  for (let at = 0; at < bytes.length; at += CHUNK) {
    const n = Math.min(CHUNK, bytes.length - at);
    for (let i = 0; i < n; i++) units[i] = WINDOWS_1252[bytes[at + i]!]!;
    out += String.fromCharCode(...units.subarray(0, n));
  }
  return out;
}
