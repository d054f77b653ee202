/** `host:port` (or `[v6]:port`) of a Redis node, as ioredis takes it. */
export function hostPort(node: string): { host: string; port: number } {
  const at = node.lastIndexOf(':');
  return { host: node.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(node.slice(at + 1)) };
}
