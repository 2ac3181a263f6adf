// mox.federated as one namespace: the algorithm (federated/, on the train floor, which cannot import
// serve/) and its HTTP transport (federated-client.ts, here), re-exported together by index.ts.

export * from '../federated/index.js';
export {
  CLIENTS_READY,
  type ClientProcess,
  type ClientServer,
  type ClientServerOptions,
  HttpClient,
  type HttpClientOptions,
  runClientProcess,
  serveClient,
  spawnClientProcess,
} from './federated-client.js';
