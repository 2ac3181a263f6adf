// Charts as PNG files, for a README or a slide: resvg (a Rust SVG renderer, prebuilt for Node) draws the
// SVG that vega wrote, at 2x zoom so the text stays sharp on high-density screens.
//
// Fonts. resvg has no fontconfig: it scans the system's font folders and maps `sans-serif` to Arial by
// default. When a family is missing it falls back to some font it did load, so text renders as long as
// the system has any font at all; with none it silently draws no text. So: DejaVu Sans (what the charts
// ask for first) is looked up where Linux distributions and macOS put it and made the sans-serif and
// default family; MOX_REPORT_FONT=/path/font.ttf adds a font of the user's choice; and a one-word probe
// renders at first use: if it draws no ink, no font is usable, and the text is drawn as strokes of a
// small built-in font instead (stroke-font.ts; writeReport warns). The HTML needs none of this: browsers
// bring their fonts.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ResvgRenderOptions } from '@resvg/resvg-js';
import { strokeText } from './stroke-font.js';

/** Where DejaVu Sans lives on Debian/Ubuntu, Fedora, Arch, Alpine, Homebrew and a user's own fonts. */
const DEJAVU_PATHS = [
  '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf',
  '/usr/share/fonts/TTF/DejaVuSans.ttf',
  '/usr/share/fonts/ttf-dejavu/DejaVuSans.ttf',
  '/usr/local/share/fonts/DejaVuSans.ttf',
  '/opt/homebrew/share/fonts/DejaVuSans.ttf',
  path.join(os.homedir(), 'Library/Fonts/DejaVuSans.ttf'),
  path.join(os.homedir(), '.local/share/fonts/DejaVuSans.ttf'),
  path.join(os.homedir(), '.fonts/DejaVuSans.ttf'),
];

/** The fonts PNGs are drawn with: resvg's font options, the family chosen, and whether text renders. */
export interface PngFonts {
  /** resvg's font options: the font files to load, the system fonts, the default families. */
  font: NonNullable<ResvgRenderOptions['font']>;
  /** 'DejaVu Sans', the MOX_REPORT_FONT file, or null: resvg's own pick among the system fonts. */
  family: string | null;
  /** False when the probe drew no text: the system has no font resvg can use. */
  textRenders: boolean;
}

let cached: PngFonts | undefined;

/**
 * Whether resvg draws text with these font options: renders a word in black on white and looks for
 * ink. False means no font it can use (resvg then silently drops every <text>).
 */
export async function textRenders(font: NonNullable<ResvgRenderOptions['font']>): Promise<boolean> {
  const { Resvg } = await import('@resvg/resvg-js');
  const probe =
    '<svg xmlns="http://www.w3.org/2000/svg" width="60" height="20"><rect width="60" height="20" fill="white"/>' +
    '<text x="2" y="15" font-family="DejaVu Sans, sans-serif" font-size="14">Loss</text></svg>';
  const pixels = new Resvg(probe, { font, logLevel: 'off' }).render().pixels;
  for (let i = 0; i < pixels.length; i += 4) if (pixels[i]! < 200) return true;
  return false;
}

/** Chooses the fonts (once per process) and probes that text renders with them. */
export async function pngFonts(): Promise<PngFonts> {
  if (cached) return cached;
  const files: string[] = [];
  let family: string | null = null;
  const own = process.env['MOX_REPORT_FONT'];
  if (own && fs.existsSync(own)) {
    files.push(own);
    family = path.basename(own);
  }
  const dejavu = DEJAVU_PATHS.find((p) => fs.existsSync(p));
  if (dejavu) files.push(dejavu);
  const font: PngFonts['font'] = { loadSystemFonts: true, fontFiles: files };
  if (dejavu) {
    family ??= 'DejaVu Sans';
    Object.assign(font, { defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' });
  }
  cached = { font, family, textRenders: await textRenders(font) };
  return cached;
}

/** An SVG drawn as PNG bytes at `zoom` times its size, on white. */
export async function svgToPng(svg: string, zoom = 2): Promise<Uint8Array> {
  const { Resvg } = await import('@resvg/resvg-js');
  const { font, textRenders: ok } = await pngFonts();
  const r = new Resvg(ok ? svg : strokeText(svg), { font, fitTo: { mode: 'zoom', value: zoom }, background: 'white', logLevel: 'off' });
  return new Uint8Array(r.render().asPng());
}
