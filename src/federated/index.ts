// mox.federated: federated averaging (McMahan et al. 2017) in Flower's shape. Clients (Client,
// ModelClient) train the global weights on their own data; a Strategy (FedAvg) samples them, averages
// their weights by examples and tests the result; runFederated runs the rounds. The HTTP transport
// (serveClient, HttpClient) is in serve/federated-client.ts, a floor up; see docs/federated.md.

export { type Client, type Config, type EvaluateRes, type FitRes, type Metrics, ModelClient, type ModelClientOptions } from './client.js';
export {
  type Evaluation,
  type EvaluateResult,
  type Failure,
  FedAvg,
  type FedAvgOptions,
  type FitResult,
  type Instruction,
  type Strategy,
  evaluateOn,
  sampleClients,
  weightedMetrics,
} from './strategy.js';
export { type FederatedHistory, type RoundRecord, type RunFederatedOptions, clientId, runFederated } from './run.js';
export { type Weights, type WeightedWeights, addDelta, checkWeights, cloneWeights, disposeWeights, weightedAverage } from './weights.js';
