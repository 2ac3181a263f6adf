// Downloading a file with a sha256 check. The body streams into a temporary file next to the
// destination, hashed on the way; only a file whose hash matches is renamed into place, so an
// interrupted or corrupted download never leaves a file that looks complete.

import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { DataError } from '../errors.js';

/** Options of download: expected sha256, idle timeout and verbosity. */
export interface DownloadOptions {
  /** Expected sha256 (hex); the download fails and nothing is kept when it differs. null or undefined: no check. */
  sha256?: string | null;
  /** Abort when no bytes arrive for this long (default 30 s). */
  idleTimeoutMs?: number;
  /** Print what is being downloaded to stderr (default false). */
  verbose?: boolean;
}

/** What download saved: where, how many bytes, and their sha256. */
export interface DownloadResult {
  /** Where the file was saved. */
  path: string;
  /** Its size in bytes. */
  bytes: number;
  /** Its sha256, hex. */
  sha256: string;
}

/** Why a fetch failed, in the words of the system call (e.g. `getaddrinfo ENOTFOUND example.org`). */
export function describeFetchError(e: unknown): string {
  let err = e as { message?: string; cause?: unknown; code?: string; errors?: unknown[]; name?: string };
  if (err?.name === 'AbortError' || err?.name === 'TimeoutError') return 'timed out';
  while (err?.cause) err = err.cause as typeof err;
  if (err && Array.isArray(err.errors) && err.errors.length > 0) err = err.errors[0] as typeof err;
  return err?.message || err?.code || String(e);
}

/** Downloads `url` to `dest` (creating its folder), checking its sha256; throws a DataError naming the URL. */
export async function downloadFile(url: string, dest: string, opts: DownloadOptions = {}): Promise<DownloadResult> {
  const idleMs = opts.idleTimeoutMs ?? 30_000;
  const controller = new AbortController();
  let timer = setTimeout(() => controller.abort(), idleMs);
  const touch = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(), idleMs);
  };
  const tmp = `${dest}.${process.pid}-${randomBytes(4).toString('hex')}.part`;
  let bytes = 0;
  const hash = createHash('sha256');
  try {
    if (opts.verbose) process.stderr.write(`mox: downloading ${url}\n`);
    let res: Response;
    try {
      res = await fetch(url, { signal: controller.signal, redirect: 'follow' });
    } catch (e) {
      throw new DataError('download', `${url}: ${describeFetchError(e)}`);
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel().catch(() => undefined);
      throw new DataError('download', `${url}: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
    }
    mkdirSync(dirname(dest), { recursive: true });
    const fh = await open(tmp, 'w');
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        touch();
        hash.update(chunk);
        await fh.write(chunk);
        bytes += chunk.length;
      }
    } catch (e) {
      throw new DataError('download', `${url}: the transfer failed after ${bytes} bytes (${describeFetchError(e)})`);
    } finally {
      await fh.close();
    }
    const digest = hash.digest('hex');
    if (opts.sha256 && digest !== opts.sha256.toLowerCase()) {
      throw new DataError(
        'download',
        `${url}: sha256 mismatch: expected ${opts.sha256.toLowerCase()}, got ${digest} (${bytes} bytes); the file was not kept`,
      );
    }
    renameSync(tmp, dest);
    if (opts.verbose) process.stderr.write(`mox: saved ${dest} (${bytes} bytes)\n`);
    return { path: dest, bytes, sha256: digest };
  } finally {
    clearTimeout(timer);
    rmSync(tmp, { force: true });
  }
}

/** The sha256 (hex) of a file on disk. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}
