// A client process for test/federated.test.ts: serves the HTTP task's clients named on the command
// line (node federated-child.js 0 1) on loopback, or with `hang`, a client whose fit never answers.

import * as mox from '../src/index.js';
import { httpTaskClient } from './federated-task.js';

const args = process.argv.slice(2);
const clients: mox.federated.Client[] = args.map((a) =>
  a === 'hang'
    ? { fit: () => new Promise<never>(() => undefined), evaluate: () => new Promise<never>(() => undefined) }
    : httpTaskClient(Number(a)),
);
await mox.federated.runClientProcess(clients);
