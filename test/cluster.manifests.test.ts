// Manifests in, pods and podVM sizes out: sizes against hand-computed values
// (quantities, RuntimeClass overhead, limits versus requests, init
// containers, Kata's defaults), the Kubernetes requests beside them, every
// kind read (Pod, List, Deployment, RuntimeClass, PriorityClass, JSON), what
// is ignored warned about once per field, and malformed manifests refused with
// ERR_MANIFEST naming the object, the field and the line.
import { describe, expect, it } from "vitest";
import { HypermemError } from "../src/errors.js";
import { parseManifests, type ManifestSet } from "../src/cluster/manifests.js";
import { podRequests, podVmSize } from "../src/cluster/podvm.js";

const MI = 2 ** 20;
const GI = 2 ** 30;
const KATA_FC = `apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: { name: kata-fc }
handler: kata-fc
overhead:
  podFixed: { memory: "120Mi", cpu: "250m" }
`;

const parse = (...texts: string[]): ManifestSet => parseManifests(texts.map((text, i) => ({ file: `m${i}.yaml`, text })));

function pod(spec: string, extra = ""): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
${spec.split("\n").map((l) => `  ${l}`).join("\n")}
${extra}`;
}

function thrown(fn: () => unknown): HypermemError {
  try {
    fn();
  } catch (err) {
    if (err instanceof HypermemError) return err;
    throw err;
  }
  throw new Error("did not throw");
}

describe("podVM sizing", () => {
  it("Kubernetes' pod-overhead example: limits 500m/100Mi + 1500m/100Mi + kata-fc 250m/120Mi = 320 MiB, 2250m, 3 vCPUs", () => {
    const set = parse(KATA_FC, pod(`runtimeClassName: kata-fc
containers:
  - name: busybox-ctr
    image: busybox:1.28
    resources:
      limits: { cpu: 500m, memory: 100Mi }
  - name: nginx-ctr
    image: nginx
    resources:
      limits: { cpu: 1500m, memory: 100Mi }`));
    const t = set.pods[0].template;
    expect(podVmSize(t)).toEqual({
      memoryBytes: 320 * MI, milliCpu: 2250, vcpus: 3, overheadMemoryBytes: 120 * MI, overheadMilliCpu: 250, workingSetBytes: 320 * MI,
    });
    // Requests default to the limits: Kubernetes accounts the same 320 MiB and 2250m.
    expect(podRequests(t)).toEqual({ memoryBytes: 320 * MI, milliCpu: 2250, scoreMemoryBytes: 320 * MI, scoreMilliCpu: 2250 });
  });

  it("a limit sizes the podVM even when a request is smaller; a request counts where there is no limit", () => {
    const set = parse(KATA_FC, pod(`runtimeClassName: kata-fc
containers:
  - name: app
    resources:
      requests: { memory: 256Mi, cpu: 250m }
      limits: { memory: 1Gi, cpu: "1" }
  - name: sidecar
    resources:
      requests: { memory: 64Mi, cpu: 0.1 }`));
    const t = set.pods[0].template;
    // podVM: 1Gi (limit) + 64Mi (request, no limit) + 120Mi; 1000m + 100m + 250m → 2 vCPUs.
    expect(podVmSize(t)).toMatchObject({ memoryBytes: GI + 64 * MI + 120 * MI, milliCpu: 1350, vcpus: 2 });
    // The guest touches the requests and its overhead: 256 + 64 + 120 MiB.
    expect(podVmSize(t).workingSetBytes).toBe(440 * MI);
    // Kubernetes: 256Mi + 64Mi + 120Mi, 250m + 100m + 250m.
    expect(podRequests(t)).toMatchObject({ memoryBytes: 440 * MI, milliCpu: 600 });
  });

  it("init containers: the larger of Σ app and the largest init container, then the overhead", () => {
    const set = parse(KATA_FC, pod(`runtimeClassName: kata-fc
initContainers:
  - name: fetch
    resources: { requests: { memory: 1Gi, cpu: 500m } }
  - name: migrate
    resources: { limits: { memory: 300Mi, cpu: "2" } }
containers:
  - name: a
    resources: { requests: { memory: 512Mi, cpu: "1" } }
  - name: b
    resources: { requests: { memory: 256Mi, cpu: 200m } }`));
    const t = set.pods[0].template;
    // memory max(768Mi, 1Gi) + 120Mi; CPU max(1200m, 2000m) + 250m.
    expect(podVmSize(t)).toMatchObject({ memoryBytes: GI + 120 * MI, milliCpu: 2250, vcpus: 3 });
    expect(podRequests(t)).toMatchObject({ memoryBytes: GI + 120 * MI, milliCpu: 2250 });
  });

  it("a pod whose containers state nothing gets Kata's defaults (2 GiB, 1 vCPU); Kubernetes scores it at 200 MiB and 100m", () => {
    const set = parse(pod(`containers:
  - name: a
    image: x`));
    const t = set.pods[0].template;
    expect(podVmSize(t)).toEqual({ memoryBytes: 2 * GI, milliCpu: 1000, vcpus: 1, overheadMemoryBytes: 0, overheadMilliCpu: 0, workingSetBytes: 0 });
    expect(podVmSize(t, { memoryBytes: 64 * MI, milliCpu: 500 })).toMatchObject({ memoryBytes: 64 * MI, milliCpu: 500, vcpus: 1 });
    expect(podRequests(t)).toEqual({ memoryBytes: 0, milliCpu: 0, scoreMemoryBytes: 200 * MI, scoreMilliCpu: 100 });
  });

  it("an explicit zero request is not replaced by the scoring default", () => {
    const t = parse(pod(`containers:
  - name: a
    resources: { requests: { memory: "0", cpu: "0" } }`)).pods[0].template;
    expect(podRequests(t)).toMatchObject({ scoreMemoryBytes: 0, scoreMilliCpu: 0 });
  });
});

describe("manifest kinds", () => {
  it("a Deployment becomes replicas NAME-0.. sharing one template; a List's items are read in place", () => {
    const set = parse(`apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: shop }
spec:
  replicas: 3
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers: [{ name: c, resources: { limits: { memory: 1Gi } } }]
---
apiVersion: v1
kind: List
items:
  - { apiVersion: v1, kind: Pod, metadata: { name: a }, spec: { containers: [{ name: c }] } }
  - { apiVersion: v1, kind: Pod, metadata: { name: b, namespace: shop }, spec: { containers: [{ name: c }] } }
`);
    expect(set.pods.map((p) => p.key)).toEqual(["shop/web-0", "shop/web-1", "shop/web-2", "default/a", "shop/b"]);
    expect(set.pods[0].template).toBe(set.pods[2].template);
    expect(set.pods[1].owner).toBe("Deployment shop/web");
    expect(set.pods[1].template.labels).toEqual({ app: "web" });
    expect(set.pods[3].owner).toBeNull();
  });

  it("JSON manifests read like YAML", () => {
    const set = parse(JSON.stringify({
      apiVersion: "v1", kind: "Pod", metadata: { name: "j", labels: { tier: "x" } },
      spec: { containers: [{ name: "c", resources: { requests: { memory: "1Gi", cpu: 2 } } }] },
    }));
    expect(podVmSize(set.pods[0].template)).toMatchObject({ memoryBytes: GI, milliCpu: 2000, vcpus: 2 });
  });

  it("priorities: a PriorityClass by name, the globalDefault for the rest, spec.priority alone", () => {
    const set = parse(`apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: { name: high }
value: 1000
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: { name: base }
value: 10
globalDefault: true
---
${pod("priorityClassName: high\ncontainers: [{ name: c }]").replace("name: p", "name: a")}
---
${pod("containers: [{ name: c }]").replace("name: p", "name: b")}
---
${pod("priority: 7\ncontainers: [{ name: c }]").replace("name: p", "name: c")}`);
    expect(set.pods.map((p) => p.template.priority)).toEqual([1000, 10, 7]);
  });

  it("a RuntimeClass in another file serves the pods that name it", () => {
    const set = parse(pod("runtimeClassName: kata-fc\ncontainers: [{ name: c, resources: { limits: { memory: 1Gi } } }]"), KATA_FC);
    expect(podVmSize(set.pods[0].template).memoryBytes).toBe(GI + 120 * MI);
  });

  it("affinity terms: namespaces default to the pod's, namespaceSelector {} means every namespace", () => {
    const set = parse(`apiVersion: v1
kind: Pod
metadata: { name: p, namespace: team }
spec:
  containers: [{ name: c }]
  affinity:
    podAntiAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        - { labelSelector: { matchLabels: { app: x } }, topologyKey: kubernetes.io/hostname }
        - { labelSelector: { matchExpressions: [{ key: app, operator: In, values: [y] }] }, topologyKey: zone, namespaceSelector: {} }
        - { topologyKey: zone, namespaces: [a, b] }
`);
    const terms = set.pods[0].template.podAntiAffinity;
    expect(terms.map((t) => t.namespaces)).toEqual([["team"], null, ["a", "b"]]);
    expect(terms[2].selector).toBeNull();
  });
});

describe("what the model ignores is warned about, once per field", () => {
  it("unknown fields, other resources, preferred terms and other kinds; a template's warning counts its replicas", () => {
    const set = parse(`apiVersion: apps/v1
kind: Deployment
metadata: { name: web, annotations: { a: b } }
spec:
  replicas: 4
  strategy: { type: RollingUpdate }
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      tolerations: [{ key: k, operator: Exists }]
      affinity:
        nodeAffinity:
          preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, preference: { matchExpressions: [{ key: a, operator: Exists }] } }]
      containers:
        - name: c
          ports: [{ containerPort: 80 }]
          resources: { limits: { memory: 1Gi, nvidia.com/gpu: 1 } }
---
apiVersion: v1
kind: Service
metadata: { name: web }
`);
    expect(set.pods).toHaveLength(4);
    expect(set.warnings.lines()).toEqual([
      "ignored spec.template.spec.containers[].resources.limits.nvidia.com/gpu of Deployment (not modelled): 4 objects, first Deployment default/web (m0.yaml:18)",
      "ignored spec.template.spec.containers[].ports of Deployment (not modelled): 4 objects, first Deployment default/web (m0.yaml:17)",
      "ignored spec.template.spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution of Deployment (not modelled): 4 objects, first Deployment default/web (m0.yaml:14)",
      "ignored spec.template.spec.tolerations of Deployment (not modelled): 4 objects, first Deployment default/web (m0.yaml:11)",
      "ignored spec.strategy of Deployment (not modelled): 1 object, first Deployment default/web (m0.yaml:6)",
      "ignored metadata.annotations of Deployment (not modelled): 1 object, first Deployment default/web (m0.yaml:3)",
      "ignored kind Service (not modelled): 1 object, first Service (unnamed) (m0.yaml:20)",
    ]);
  });
});

describe("malformed manifests are named: the object, the field, the file and line", () => {
  const cases: Array<[string, string, RegExp]> = [
    ["a bad quantity", pod("containers:\n  - name: c\n    resources: { limits: { memory: 12Qi } }"),
      /^Pod default\/p: spec\.containers\[0\]\.resources\.limits\.memory: "12Qi" is not a Kubernetes quantity .* \(m0\.yaml:8\)$/],
    ["a request above its limit", pod("containers:\n  - name: c\n    resources: { requests: { cpu: \"2\" }, limits: { cpu: 500m } }"),
      /^Pod default\/p: spec\.containers\[0\]\.resources\.requests\.cpu: the request 2 is more than the limit 500m \(m0\.yaml:8\)$/],
    ["a negative memory", pod("containers:\n  - name: c\n    resources: { requests: { memory: -1Gi } }"),
      /spec\.containers\[0\]\.resources\.requests\.memory: -1Gi is negative/],
    ["no containers", pod("containers: []"), /^Pod default\/p: spec\.containers: a pod needs at least one container \(m0\.yaml:6\)$/],
    ["an unknown RuntimeClass", pod("runtimeClassName: gvisor\ncontainers: [{ name: c }]"),
      /^Pod default\/p: spec\.runtimeClassName: no RuntimeClass "gvisor" in the manifests \(add one, with overhead\.podFixed\) \(m0\.yaml:6\)$/],
    ["an unknown PriorityClass", pod("priorityClassName: urgent\ncontainers: [{ name: c }]"), /spec\.priorityClassName: no PriorityClass "urgent"/],
    ["a container without a name", pod("containers: [{ image: x }]"), /spec\.containers\[0\]\.name: is required/],
    ["two containers of one name", pod("containers: [{ name: c }, { name: c }]"), /spec\.containers\[1\]\.name: container name "c" is used twice/],
    ["a bad label value", pod("containers: [{ name: c }]", "  nodeSelector: { zone: \"a b\" }"), /spec\.nodeSelector\.zone: label value "a b"/],
    ["a number as a label value", pod("containers: [{ name: c }]\nnodeSelector: { rack: 7 }"), /spec\.nodeSelector\.rack: must be a string \(quote it: "7"\)/],
    ["an affinity term without topologyKey", pod("containers: [{ name: c }]\naffinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: {} }] } }"),
      /spec\.affinity\.podAffinity\.requiredDuringSchedulingIgnoredDuringExecution\[0\]\.topologyKey: is required/],
    ["an unknown operator", pod("containers: [{ name: c }]\naffinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: a, operator: Like, values: [x] }] }] } } }"),
      /nodeSelectorTerms\[0\]\.matchExpressions\[0\]\.operator: must be one of In, NotIn, Exists, DoesNotExist, Gt, Lt, got "Like"/],
    ["Gt with a word", pod("containers: [{ name: c }]\naffinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: a, operator: Gt, values: [x] }] }] } } }"),
      /Gt takes exactly one integer value/],
    ["no node selector terms", pod("containers: [{ name: c }]\naffinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } } }"),
      /nodeSelectorTerms: must hold at least one term/],
    ["a bad pod name", pod("containers: [{ name: c }]").replace("name: p", "name: Web_1"), /^Pod default\/Web_1: metadata\.name: "Web_1" is not a valid name/],
    ["a missing name", "apiVersion: v1\nkind: Pod\nmetadata: {}\nspec: { containers: [{ name: c }] }\n", /^Pod \(unnamed\): metadata\.name: is required \(m0\.yaml:3\)$/],
    ["the wrong apiVersion", pod("containers: [{ name: c }]").replace("apiVersion: v1", "apiVersion: apps/v1"), /^Pod default\/p: apiVersion: must be v1 for a Pod, got "apps\/v1" \(m0\.yaml:1\)$/],
    ["no kind", "apiVersion: v1\nmetadata: { name: x }\n", /^object \(unnamed\): kind: is required/],
    ["a spec that is a list", "apiVersion: v1\nkind: Pod\nmetadata: { name: x }\nspec: [1]\n", /^Pod default\/x: spec: must be a map, got a list \(m0\.yaml:4\)$/],
    ["negative replicas", "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: d }\nspec: { replicas: -1, template: { spec: { containers: [{ name: c }] } } }\n",
      /^Deployment default\/d: spec\.replicas: must be an integer from 0 to 1000000, got a number \(-1\)/],
    ["a Deployment template's bad quantity names the Deployment", "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: d }\nspec:\n  template:\n    spec:\n      containers: [{ name: c, resources: { limits: { cpu: lots } } }]\n",
      /^Deployment default\/d: spec\.template\.spec\.containers\[0\]\.resources\.limits\.cpu: "lots" is not a Kubernetes quantity .*\(m0\.yaml:7\)$/],
    ["a RuntimeClass with a bad overhead", KATA_FC.replace('"120Mi"', '"lots"'), /^RuntimeClass kata-fc: overhead\.podFixed\.memory: "lots"/],
    ["invalid YAML", "apiVersion: v1\nkind: Pod\nmetadata: { name: [\n", /^m0\.yaml:\d+:\d+: not valid YAML or JSON: /],
  ];
  for (const [what, text, message] of cases) {
    it(what, () => {
      const err = thrown(() => parse(text));
      expect(err.code).toBe("ERR_MANIFEST");
      expect(err.message).toMatch(message);
    });
  }

  it("the details carry the object, the field and the line for programs", () => {
    const err = thrown(() => parse(pod("containers:\n  - name: c\n    resources: { limits: { memory: 12Qi } }")));
    expect(err.details).toEqual({ kind: "Pod", name: "default/p", field: "spec.containers[0].resources.limits.memory", file: "m0.yaml", line: 8 });
  });

  it("a pod defined twice names both places", () => {
    const err = thrown(() => parse(pod("containers: [{ name: c }]"), pod("containers: [{ name: c }]")));
    expect(err.message).toBe("pod default/p is defined twice: a Pod at m0.yaml:6 and a Pod at m1.yaml:6");
  });

  it("a Deployment replica colliding with a Pod is refused", () => {
    const err = thrown(() => parse("apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: w }\nspec: { replicas: 2, template: { spec: { containers: [{ name: c }] } } }\n",
      pod("containers: [{ name: c }]").replace("name: p", "name: w-1")));
    expect(err.message).toMatch(/^pod default\/w-1 is defined twice: Deployment default\/w at m0\.yaml:4 and a Pod at m1\.yaml:6$/);
  });

  it("two globalDefault PriorityClasses are refused", () => {
    const pc = (name: string): string => `apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: { name: ${name} }\nvalue: 1\nglobalDefault: true\n`;
    expect(thrown(() => parse(pc("a"), pc("b"))).message).toMatch(/^PriorityClass b: globalDefault: a second globalDefault PriorityClass \(the first is at m0\.yaml:1\)/);
  });
});
