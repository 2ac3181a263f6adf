// The worker processes of one data-parallel run, seen from rank 0 (the calling process): forks them,
// sends each its requests, and turns every way a worker can fail into a DistributedError instead of a
// hang. A worker that exits, is killed or raises rejects what was asked of it; one that does not
// answer within the timeout is killed. After any failure every worker is stopped (PyTorch's
// process group likewise tears down on a rank's failure), and the group refuses further requests.

import type { ChildProcess } from 'node:child_process';
import type { Duplex } from 'node:stream';
import { DistributedError, ValueError } from '../errors.js';
import { nodeBuiltin } from '../backend/cpu/wasm/node-builtins.js';
import type { Reply, Request } from './protocol.js';
import { BlobReader, sendSplit } from './channel.js';

const OP = 'dataParallel';
/**
 * How long a worker may take to start and build its replica, at least: under load, importing mox and
 * compiling WebAssembly takes seconds, which a short step timeout (a test's) must not cut.
 */
const START_TIMEOUT_MS = 120_000;
/** The last characters of a worker's stderr that an error message quotes. */
const STDERR_TAIL = 2000;

interface Pending {
  resolve: (r: Reply) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  what: string;
}

/** One worker process: its rank, the child, what it has yet to answer, the tail of its stderr. */
interface Worker {
  rank: number;
  child: ChildProcess;
  /** The socket the typed arrays of the messages travel on (channel.ts), and its reading end. */
  data: Duplex;
  reader: BlobReader;
  pending: Map<number, Pending>;
  stderr: string;
}

/** A request without its id (the group numbers them). */
type Unnumbered<R> = R extends Request ? Omit<R, 'id'> : never;

/** Node's flags without the test runner's, which would make a worker a test run of its own. */
const workerExecArgv = (): string[] => process.execArgv.filter((a) => !a.startsWith('--test'));

/** The workers of ranks 1 to world - 1, with requests that settle or fail, never hang. */
export class ProcessGroup {
  private readonly workers: Worker[] = [];
  /** Each worker's hello, sent once it listens. */
  private readonly started: Promise<Reply>[] = [];
  private nextId = 1;
  private failure: DistributedError | null = null;
  private closing = false;

  /**
   * Forks world - 1 workers running `entry` (a module URL). Each gets the environment torchrun gives
   * a rank: RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE.
   */
  constructor(
    entry: URL,
    readonly world: number,
    private readonly timeoutMs: number,
  ) {
    // through getBuiltinModule: fit, which may start a group, is also in the browser bundle
    const cp = nodeBuiltin('node:child_process');
    const url = nodeBuiltin('node:url');
    if (!cp || !url) throw new ValueError(OP, 'data-parallel training needs Node.js (child processes)');
    for (let rank = 1; rank < world; rank++) {
      const rankEnv = { RANK: String(rank), LOCAL_RANK: String(rank), WORLD_SIZE: String(world), LOCAL_WORLD_SIZE: String(world) };
      const child = cp.fork(url.fileURLToPath(entry), [], {
        serialization: 'advanced',
        env: { ...process.env, ...rankEnv },
        execArgv: workerExecArgv(),
        // fd 4: the socket for the messages' typed arrays (channel.ts)
        stdio: ['ignore', 'inherit', 'pipe', 'ipc', 'pipe'],
      });
      const data = child.stdio[4] as Duplex;
      // an idle worker never keeps rank 0 alive (a pending request's timer does); it exits with rank 0
      child.unref();
      for (const h of [child.channel, child.stderr, data] as ({ unref?: () => void } | null | undefined)[]) h?.unref?.();
      const w: Worker = { rank, child, data, reader: new BlobReader(data), pending: new Map(), stderr: '' };
      data.on('error', () => {}); // a worker that dies closes its end: its exit event says so
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (s: string) => {
        process.stderr.write(s);
        w.stderr = (w.stderr + s).slice(-STDERR_TAIL);
      });
      child.on('message', (head: unknown) => {
        w.reader.receive<Reply>(head).then((m) => this.answer(w, m));
      });
      child.on('error', (e) => this.fail(w.rank, 'exit', `worker ${rank} failed: ${e.message}`));
      child.on('exit', (code, signal) => {
        if (this.closing) return;
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        const tail = w.stderr.trim() ? `; its stderr ends: ${w.stderr.trim().slice(-500)}` : '';
        this.fail(w.rank, 'exit', `worker ${rank} ${how}${tail}`);
      });
      this.workers.push(w);
      // a worker says hello (id 0) once it listens: a message sent before that would be lost
      this.started.push(this.expect(w, 0, 'its start-up', Math.max(timeoutMs, START_TIMEOUT_MS)));
    }
  }

  /** Resolves when every worker has started and listens (a DistributedError if one fails first). */
  async ready(): Promise<void> {
    await Promise.all(this.started);
  }

  private expect(w: Worker, id: number, what: string, ms = this.timeoutMs): Promise<Reply> {
    const p = new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(w.rank, 'timeout', `worker ${w.rank} did not answer ${what} within ${ms} ms`);
      }, ms);
      w.pending.set(id, { resolve, reject, timer, what });
    });
    // handled here so that a failure before anyone awaits it is no unhandled rejection; awaiting it still throws
    p.catch(() => {});
    return p;
  }

  /** Sends `req` to the worker of `rank` and resolves with its answer (a DistributedError on any failure). */
  request(rank: number, req: Unnumbered<Request>, what: string): Promise<Reply> {
    // the returned promise is already handled (see expect): await it, or its failure goes unseen
    const w = this.workers[rank - 1];
    if (!w) throw new DistributedError(OP, `no worker of rank ${rank} (world ${this.world})`, rank, 'error');
    if (this.failure) {
      const failed = Promise.reject(this.failure);
      failed.catch(() => {});
      return failed;
    }
    const id = this.nextId++;
    // building the replica (init) may take as long as starting
    const p = this.expect(w, id, what, req.type === 'init' ? Math.max(this.timeoutMs, START_TIMEOUT_MS) : this.timeoutMs);
    const send = (m: unknown) =>
      w.child.send(m as Request, (e) => {
        if (e) this.fail(w.rank, 'exit', `worker ${rank}: sending ${what} failed: ${e.message}`);
      });
    sendSplit({ ...req, id }, send, w.data);
    return p;
  }

  private answer(w: Worker, m: Reply): void {
    const p = w.pending.get(m.id);
    if (!p) return;
    w.pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.type === 'error') {
      this.fail(w.rank, 'error', `worker ${w.rank} raised in ${p.what}: ${m.name}: ${m.message}`);
      p.reject(this.failure!);
    } else {
      p.resolve(m);
    }
  }

  /** Records the first failure, rejects everything pending on every worker, and stops them all. */
  /** Ends the group for a failure of `rank` (also one rank 0 found, a drifted replica); returns the error to throw. */
  abort(rank: number, reason: DistributedError['reason'], message: string): DistributedError {
    this.fail(rank, reason, message);
    return this.failure!;
  }

  private fail(rank: number, reason: DistributedError['reason'], message: string): void {
    if (!this.failure) this.failure = new DistributedError(OP, message, rank, reason);
    const err = this.failure;
    for (const x of this.workers) {
      for (const p of x.pending.values()) {
        clearTimeout(p.timer);
        p.reject(err);
      }
      x.pending.clear();
    }
    this.stop();
  }

  private stop(): void {
    this.closing = true;
    for (const x of this.workers) {
      if (x.child.exitCode === null && x.child.signalCode === null) x.child.kill('SIGKILL');
    }
  }

  /** The first failure, if any (the group is then closed). */
  get failed(): DistributedError | null {
    return this.failure;
  }

  /** Stops every worker and waits until they have exited. */
  async close(): Promise<void> {
    this.closing = true;
    const exits = this.workers.map(
      (x) =>
        new Promise<void>((resolve) => {
          if (x.child.exitCode !== null || x.child.signalCode !== null) resolve();
          else x.child.once('exit', () => resolve());
        }),
    );
    for (const x of this.workers) {
      for (const p of x.pending.values()) clearTimeout(p.timer);
      // held again while it ends (an unref'd child would let the event loop end first)
      x.child.ref();
      // a worker leaves when its channel closes; SIGKILL for one busy in a step
      if (x.child.connected) x.child.disconnect();
      x.data.destroy();
      if (x.child.exitCode === null && x.child.signalCode === null) x.child.kill('SIGKILL');
    }
    await Promise.all(exits);
  }
}
