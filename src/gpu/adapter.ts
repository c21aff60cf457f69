/** What kernels choose by adapter: whether it is a CPU rasteriser standing in for a GPU. */

/**
 * True on a software adapter (SwiftShader, llvmpipe): invocations run on CPU threads, so
 * barriers cost a fiber switch each and a dispatch's workgroups share a few cores. Reads
 * GPUDevice.adapterInfo where the runtime has it (false where it does not).
 */
export function isSoftwareAdapter(device: GPUDevice): boolean {
  return isSoftwareAdapterInfo((device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo);
}

/** The same test on a GPUAdapterInfo (GPUAdapter.info, before any device exists). */
export function isSoftwareAdapterInfo(info: GPUAdapterInfo | undefined): boolean {
  const text = info ? `${info.vendor} ${info.architecture} ${info.device} ${info.description}` : '';
  return /swiftshader|llvmpipe|software/i.test(text);
}
