import { loadCapability } from "./helpers";

describe("HelloPeprStoreResources capability", () => {
  it("is named hello-pepr-store-resources and limited to its namespace", async () => {
    const { capability } = await loadCapability();

    expect(capability.name).toBe("hello-pepr-store-resources");
    expect(capability.namespaces).toEqual(["hello-pepr-store-resources"]);
    expect(capability.description).toBe(
      "Writes four keys to the Pepr Store when the ConfigMap observe is created, so they can be inspected in the PeprStore resource.",
    );
    expect(capability.hasSchedule).toBe(false);
  });

  it("has exactly one binding: a watch on created ConfigMaps named observe", async () => {
    const { capability } = await loadCapability();

    // PEPR_MODE=build (test/unit/env.ts) records admission and watch bindings alike, so a
    // Mutate or Validate in the capability would show up here as a second binding.
    expect(capability.bindings).toHaveLength(1);
    const [binding] = capability.bindings;

    expect(binding.model.name).toBe("V1ConfigMap");
    expect(binding.kind).toEqual({ group: "", version: "v1", kind: "ConfigMap" });
    expect(binding.event).toBe("CREATE");
    expect(binding.filters).toEqual({
      name: "observe",
      namespaces: [],
      regexNamespaces: [],
      regexName: "",
      labels: {},
      annotations: {},
      deletionTimestamp: false,
    });
    expect(binding.isWatch).toBe(true);
    expect(binding.isMutate).toBeUndefined();
    expect(binding.isValidate).toBeUndefined();
    expect(binding.isQueue).toBeUndefined();
    expect(binding.isFinalize).toBeUndefined();
    expect(binding.alias).toBeUndefined();
    expect(typeof binding.watchCallback).toBe("function");
    expect(binding.mutateCallback).toBeUndefined();
    expect(binding.validateCallback).toBeUndefined();
  });

  it("logs the watch registration the way the watcher will at start-up", async () => {
    const { logs } = await loadCapability();

    const registration = logs.map(({ level, prefix, msg }) => ({ level, prefix, msg }));
    expect(registration).toEqual([
      {
        level: 30,
        prefix: "hello-pepr-store-resources: V1ConfigMap",
        msg: "Watch Action configured for CREATE",
      },
      {
        level: 30,
        prefix: "hello-pepr-store-resources: V1ConfigMap",
        msg: '{"name":"observe"}',
      },
    ]);
  });
});
