// Finding a GPU: the browser's navigator.gpu, or in Node the npm package `webgpu` (Google's Dawn).
//
// Dawn aborts the process when the object returned by its create() is garbage collected while a
// device made from it lives, so that object is held here, in a module variable, for the life of the
// process.

import { DeviceError } from '../../errors.js';

/** Options of initDevice('webgpu'): Dawn instance options, feature level and power preference. */
export interface WebGPUOptions {
  /**
   * Dawn's instance options (Node only), e.g. ['backend=opengles'] to run on OpenGL ES (llvmpipe).
   * Defaults to the space-separated list in $MOX_WEBGPU_OPTIONS, else none.
   */
  dawnOptions?: string[];
  /** 'compatibility' asks for WebGPU's compatibility feature level (needed on OpenGL ES). $MOX_WEBGPU_FEATURE_LEVEL. */
  featureLevel?: 'core' | 'compatibility';
  /** Which GPU to ask for where there are several (WebGPU's powerPreference). */
  powerPreference?: 'low-power' | 'high-performance';
}

// Held for the life of the process: see the note at the top.
let dawnGpu: GPU | null = null;

async function gpuEntryPoint(dawnOptions: string[]): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  if (dawnGpu) return dawnGpu;
  let mod: { create: (opts: string[]) => GPU; globals: Record<string, unknown> };
  try {
    // A variable specifier keeps bundlers for the browser from pulling the Node addon in.
    const name = 'webgpu';
    mod = (await import(name)) as typeof mod;
  } catch (e) {
    throw new DeviceError(
      'webgpu',
      `no WebGPU here: navigator.gpu is missing and the npm package 'webgpu' could not be loaded (${(e as Error).message})`,
    );
  }
  // Dawn's classes (GPUBufferUsage, ...) as globals, for code written against the browser API.
  for (const [k, v] of Object.entries(mod.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  dawnGpu = mod.create(dawnOptions);
  return dawnGpu;
}

const env = (k: string): string | undefined => (typeof process !== 'undefined' ? process.env[k] : undefined);

/** Requests an adapter and a device with the adapter's largest buffer and workgroup limits. */
export async function requestGpuDevice(opts: WebGPUOptions = {}): Promise<{ device: GPUDevice; adapterInfo: string }> {
  const dawnOptions = opts.dawnOptions ?? (env('MOX_WEBGPU_OPTIONS') ?? '').split(/\s+/).filter(Boolean);
  const featureLevel = opts.featureLevel ?? (env('MOX_WEBGPU_FEATURE_LEVEL') as 'core' | 'compatibility' | undefined);
  const gpu = await gpuEntryPoint(dawnOptions);
  const adapter = await gpu.requestAdapter({
    powerPreference: opts.powerPreference ?? 'high-performance',
    ...(featureLevel ? { featureLevel } : {}),
  } as GPURequestAdapterOptions);
  if (!adapter) {
    throw new DeviceError(
      'webgpu',
      "no WebGPU adapter was found (no GPU driver; on Linux without a GPU install Mesa's lavapipe, package mesa-vulkan-drivers from bookworm-backports)",
    );
  }
  const l = adapter.limits;
  const requiredLimits: Record<string, number> = {
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxBufferSize: l.maxBufferSize,
    maxStorageBuffersPerShaderStage: Math.min(l.maxStorageBuffersPerShaderStage, 10),
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY,
  };
  const device = await adapter.requestDevice({ requiredLimits });
  const info = (adapter as { info?: GPUAdapterInfo }).info;
  const adapterInfo = [info?.vendor, info?.architecture, info?.device, info?.description].filter(Boolean).join(' ') || 'unknown adapter';
  return { device, adapterInfo };
}
